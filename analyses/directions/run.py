"""The registered runner of ``gan-viz directions``: options, instrument and judge, seeds, writing.

Finding samples are z of seed ``FIND_SEED + seed``; the judge reads fresh z of seed
``EVAL_SEED + seed`` (never used to find any direction). The selecting instrument (the rooms parser
for a rooms model, or ``--segmenter``) scores the finding samples; the judge is the held-out
instrument (the second rooms parser, or ``--judge FILE.py:FUNC``); where there is none the selecting
instrument judges, and every summary and figure says so. Without any instrument GANSpace and SeFa
still run and draw their grids, unnamed and unjudged, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.latent_directions import default_walk_t

from .compute import METHODS, SUPERVISED, Settings, compute_directions
from .find import first_weighted_call
from .summary import caption, summarize

NAME = "directions"
FIND_SEED = 2_000_000  # finding samples: seed FIND_SEED + seed
EVAL_SEED = 1_000_000  # judging samples: seed EVAL_SEED + seed
DEFAULT_CONCEPTS = ("window", "bed", "door")
HINT = "pass --segmenter FILE.py:FUNC (your segmenter) or --segmenter rooms to force the rooms parser"


@dataclass(frozen=True)
class Options:
    """``gan-viz directions``'s options (the command's option names; see :func:`run`)."""

    concepts: str | None = None  # comma list; default window,bed,door where known, else every class but the first
    methods: str = ",".join(METHODS)
    n_find: int = 1000
    share: float = 0.2
    val_share: float = 0.2
    exemplars: int | None = None
    svm_c: float = 0.1
    components: int = 6
    layer: str | None = None
    t: float | None = None  # default: 2 standard deviations of z along a unit direction
    steps: int = 5
    random: int = 10  # >= 6; 10 estimate the band's standard deviation well enough for 3 of them
    eval_samples: int = 200
    grid_rows: int = 4
    parser: str | None = None
    judge: str | None = None
    batch_size: int = 256


def _check(o: Options) -> tuple:
    """The methods asked for, checked counts and shares (nothing model-dependent)."""
    methods = tuple(m.strip() for m in str(o.methods).split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UserError(f"--methods {o.methods!r}: choose from {', '.join(METHODS)} (comma-separated)")
    for opt, v, low in (("--n-find", o.n_find, 10), ("--components", o.components, 1), ("--random", o.random, 6),
                        ("--eval-samples", o.eval_samples, 1), ("--grid-rows", o.grid_rows, 1),
                        ("--batch-size", o.batch_size, 1), ("--steps", o.steps, 3), ("--exemplars", o.exemplars or 1, 1)):
        if not isinstance(v, int) or v < low:
            raise UserError(f"{opt} {v}: must be an integer of at least {low}")
    if o.steps % 2 == 0:
        raise UserError(f"--steps {o.steps}: must be odd, so that the walk from -t to +t passes through 0")
    if not 0 < o.share <= 0.5 or not 0 <= o.val_share < 1 or o.svm_c <= 0 or (o.t is not None and o.t <= 0):
        raise UserError("--share must be in (0, 0.5], --val-share in [0, 1), --svm-c and --t positive")
    if o.grid_rows > o.eval_samples:
        raise UserError(f"--grid-rows {o.grid_rows} is larger than --eval-samples {o.eval_samples}")
    return tuple(m for m in METHODS if m in methods)


def _instruments(ctx, o: Options, methods) -> tuple:
    """(selecting instrument or None, judge or None, judge is the selector, note, absent reason)."""
    from gan_viz.instruments import absent_reason, held_out_instrument, resolve_instrument

    S = ctx.subject
    inst = resolve_instrument(S, ctx.segmenter, parser=o.parser, device=ctx.device)
    if inst is None:
        reason = absent_reason(S, ctx.segmenter) or "the rooms parser could not be loaded"
        asked = [m for m in methods if m in SUPERVISED]
        if o.concepts is not None or (asked and o.methods != ",".join(METHODS)) or o.judge not in (None, "none"):
            raise UserError(f"--concepts, --judge and the methods {', '.join(SUPERVISED)} need a concept "
                            f"instrument, and {reason}; {HINT}")
        return None, None, False, f"no instrument: {reason}", reason
    judge = held_out_instrument(S, ctx.segmenter, judge=o.judge, device=ctx.device)
    if judge is None:
        return inst, inst, True, (f"THE JUDGE IS THE SELECTING INSTRUMENT {inst.name}: no independent one (pass "
                                  "--judge FILE.py:FUNC, a second segmenter)"), None
    return inst, judge, False, f"held out: {judge.name} never saw the selection", None


def _concepts(o: Options, inst, judge) -> tuple:
    if inst is None:
        return ()
    classes = inst.class_names
    if o.concepts is None:
        known = tuple(c for c in DEFAULT_CONCEPTS if c in classes)
        wanted = known or tuple(classes[1:])
    else:
        wanted = tuple(c.strip() for c in o.concepts.split(",") if c.strip())
    for c in wanted:
        for who in (inst, judge):
            if c not in who.class_names:
                raise UserError(f"--concepts: {c!r} is not a class of {who.name}; it knows {', '.join(who.class_names)}")
    return wanted


def _layer(S, o: Options, methods) -> str | None:
    """GANSpace's layer: ``--layer`` (checked: a G layer the forward calls) or G's first layer with weights."""
    from gan_viz.layers import calls_of, probe_input, resolve_layer, trace

    if "ganspace" not in methods:
        if o.layer is not None:
            raise UserError("--layer is GANSpace's layer, and --methods leaves ganspace out")
        return None
    if S.G is None:
        raise UserError("GANSpace reads a layer of G, and this model is a generate callable without a module; "
                        "leave ganspace out of --methods")
    G, x = probe_input(S, "G")
    if o.layer is None:
        first = first_weighted_call(G, x)
        if first is None:
            raise UserError("G has no layer with weights to read; name one with --layer (see gan-viz layers)")
        return first.address
    if o.layer.startswith("D."):
        raise UserError(f"--layer {o.layer}: GANSpace reads a G layer (G.NAME, see gan-viz layers)")
    resolve_layer(G, o.layer, "G")
    return calls_of(trace(G, x), G, o.layer, "G").address


def _settings(ctx, o: Options, methods, S) -> Settings:
    t = o.t if o.t is not None else default_walk_t(S.z_dist)
    return Settings(methods=methods, share=o.share, val_share=o.val_share, exemplars=o.exemplars, C=o.svm_c,
                    components=o.components, t=float(t), steps=o.steps, n_random=o.random, grid_rows=o.grid_rows,
                    seed=ctx.seed, batch_size=o.batch_size, device=str(ctx.device))


@register(NAME, needs=("G",), title="Latent directions, four ways, one held-out judge", caption=caption,
          options=Options)
def run(ctx, o: Options) -> dict:
    """Directions in z of ``ctx.subject`` by exemplar means, InterFaceGAN, GANSpace and SeFa, judged on
    fresh z by the held-out judge beside random directions; writes ``effect_<concept>``, ``grid_<method>``,
    ``entanglement``, ``agreement`` (PNG + PDF), ``summary.json`` and ``arrays.npz`` into ``ctx.out``."""
    from gan_viz.instruments import instrument_record
    from gan_viz.memory import image_bytes, require

    S = ctx.subject
    S.require("G") if not S.has_G else None
    methods = _check(o)
    img = image_bytes(S.image_shape)
    require("--n-find", o.n_find, 4 * img, "the finding samples' images")
    require("--eval-samples", o.eval_samples, 4 * img, "the judged images")
    inst, judge, same, note, reason = _instruments(ctx, o, methods)
    concepts = _concepts(o, inst, judge)
    layer = _layer(S, o, methods)
    s = _settings(ctx, o, methods, S)
    find_z = S.sample_z(o.n_find, torch.Generator().manual_seed(FIND_SEED + ctx.seed))
    eval_z = S.sample_z(o.eval_samples, torch.Generator().manual_seed(EVAL_SEED + ctx.seed))
    scores = None
    if inst is not None and any(m in SUPERVISED for m in methods):
        scores = inst.class_fractions(S.images(find_z, o.batch_size, ctx.device), o.batch_size).double().numpy()
    r = compute_directions(S, find_z, scores, inst.class_names if inst else (), concepts, judge, eval_z, s, layer)
    jrec = instrument_record(judge, reason)
    if judge is not None:
        jrec["is_selecting_instrument"] = same
    summary = {"checkpoint": S.where, "seed": ctx.seed, "find_seed": FIND_SEED + ctx.seed,
               "eval_seed": EVAL_SEED + ctx.seed, "random_seed": ctx.seed + 1, "n_find": o.n_find,
               "instrument": instrument_record(inst, reason), "concepts_asked": list(concepts),
               **summarize(r, concepts, jrec, note)}
    if S.z_dist == "uniform":  # G was trained on the cube [-1, 1]^nz; the walks' ends leave it alike for every direction
        ends = r.eval_z[None] + r.alphas[-1] * np.concatenate([r.vectors, r.random_vectors])[:, None]
        summary["z_outside_cube_at_t"] = float((np.abs(ends) > 1).mean())
    _write(ctx, r, summary, concepts, find_z, scores)
    return summary


def _write(ctx, r, summary: dict, concepts, find_z, scores) -> None:
    """Figures (PNG + PDF), summary.json, arrays.npz."""
    from gan_viz.images import to_uint8
    from gan_viz.instruments import figure_tag
    from gan_viz.io import save_figure, write_json, write_npz

    from . import plot as P

    for m in dict.fromkeys(r.methods):
        save_figure(P.plot_grid(r, m), ctx.out, f"grid_{m}")
    if r.slopes is not None:
        tag = figure_tag(summary["judge"]) + (" [JUDGE = SELECTOR]" if summary["judge"].get("is_selecting_instrument")
                                              else "")
        for c in concepts:
            save_figure(P.plot_effect_curves(r, c, tag), ctx.out, f"effect_{c}")
        save_figure(P.plot_entanglement(r, concepts, tag), ctx.out, "entanglement")
        save_figure(P.plot_agreement(summary["concepts"]), ctx.out, "agreement")
    arrays = {k: v.astype(np.float32) for k, v in zip(r.keys, r.vectors)}
    arrays.update({f"random/{i}": v.astype(np.float32) for i, v in enumerate(r.random_vectors)})
    grid = r.grid
    arrays.update({"keys": np.array(r.keys), "alphas": r.alphas, "eval_z": r.eval_z, "find_z": find_z.numpy(),
                   "grid_images": to_uint8(grid.reshape(-1, *grid.shape[3:])).reshape(*grid.shape[:3], *grid.shape[4:],
                                                                                        3)})
    if scores is not None:
        arrays["find_scores"] = scores.astype(np.float32)
    if r.slopes is not None:
        arrays.update({"class_names": np.array(r.class_names), "curves": r.curves, "random_curves": r.random_curves,
                       "slopes": r.slopes, "random_slopes": r.random_slopes, "band": r.band})
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **arrays)
