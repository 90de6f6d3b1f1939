"""The registered runner of ``gan-viz forget``: options, instrument and judge, samples, writing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.layers import check_layer

from .compute import compute_forget
from .plot import plot_forget_samples, plot_removal_curve
from .probe import parse_select
from .result import ForgetConfig, ForgetResult, Judge, ProbeSet
from .summary import _judged, caption, summarize

NAME = "forget"
EVAL_SEED = 1_000_000  # the evaluation samples are seed EVAL_SEED + seed
DEFAULT_SELECT = ("optimized-K with K = a quarter of the layer's filters (causal-K where the instrument is not "
                  "differentiable, top-K with hand boxes alone)")
HINT = ("pass --segmenter FILE.py:FUNC (your segmenter), --boxes with --manifest (hand boxes: the paper's "
        "unmeasured run), or --segmenter rooms to force the rooms parser")


@dataclass(frozen=True)
class Options:
    """``gan-viz forget``'s options (the command's option names; see :func:`run`)."""

    concept: str = "window"
    boxes: str | None = None
    manifest: str | None = None
    parser: str | None = None
    judge: str | None = None
    layer: str | None = None
    samples: int = 150
    select: str | None = None
    fits: int = 5
    random_draws: int = 5
    eval_samples: int = 1000
    causal_samples: int = 200
    opt_steps: int = 600
    replace: str = "zero"
    curve_points: int = 8
    show: int = 10
    paper_rule: bool = True
    batch_size: int = 256
    opt_size: int | None = None


@dataclass(frozen=True)
class Plan:
    """What :func:`prepare` settled before anything is computed or written."""

    layer: str  # dotted, without "G."
    shape: tuple  # (C, h, w)
    cfg: ForgetConfig
    instrument: object  # an Instrument, or None (hand boxes alone)
    reason: str | None  # why there is no instrument
    manifest: object = None  # boxes.Manifest with --boxes
    boxes: object = None  # instruments.Boxes with --boxes: {sample: [(x0, y0, x1, y1), ...]}
    judge: object = None  # the held-out Instrument that measures the removals (None: the selecting one)


def _check_counts(o: Options) -> None:
    for opt in ("samples", "fits", "random_draws", "eval_samples", "causal_samples", "curve_points", "show",
                "batch_size", "opt_steps"):
        v = getattr(o, opt)
        if not isinstance(v, int) or v < 1:
            raise UserError(f"--{opt.replace('_', '-')} {v}: must be at least 1")
    if o.show > o.eval_samples:
        raise UserError(f"--show {o.show} is larger than --eval-samples {o.eval_samples}")
    if (o.boxes is None) != (o.manifest is None):
        raise UserError("--boxes and --manifest go together: the boxes are drawn on the samples the manifest lists")


def _opt_size(size: int | None, image_shape: tuple, inst) -> int | None:
    """``--opt-size`` checked against the samples and the instrument; None where it changes nothing."""
    if size is None:
        return None
    h, w = image_shape[-2:]
    if not isinstance(size, int) or size < 8:
        raise UserError(f"--opt-size {size}: must be an image size of at least 8 pixels")
    if size >= min(h, w):
        return None  # the samples' own size (or a larger one, which would only interpolate): no resize
    from gan_viz.instruments import RoomsParser

    if isinstance(inst, RoomsParser) and size < 32:
        raise UserError(f"--opt-size {size}: the rooms parser reads images of 32 to 128 pixels; use 32 or more")
    return size


def prepare(ctx, o: Options) -> Plan:
    """Validate the options ``o`` of :func:`run` on ``ctx.subject`` and resolve the instrument
    (nothing is computed or written). Raises :class:`UserError` on the first problem."""
    from gan_viz import boxes as bx
    from gan_viz.images import to_uint8
    from gan_viz.instruments import Boxes, absent_reason, require_instrument, resolve_instrument

    _check_counts(o)
    S = ctx.subject
    S.require("G")
    inst = resolve_instrument(S, ctx.segmenter, parser=o.parser, device=ctx.device)
    if inst is None and o.boxes is None:
        require_instrument(S, ctx.segmenter, NAME, parser=o.parser, device=ctx.device, alternatives=HINT)
    if inst is not None and o.concept not in inst.class_names:
        raise UserError(f"--concept {o.concept!r} is not a class of {inst.name}; choose one of "
                        f"{', '.join(inst.class_names)}")
    layer, shape = check_layer(S, o.layer, "G")
    select = o.select
    if select is None:
        kind = "optimized" if inst is not None and inst.differentiable else ("causal" if inst else "top")
        select = f"{kind}-{max(1, shape[0] // 4)}"
    cfg = ForgetConfig(o.concept, parse_select(select, shape[0]), o.fits, o.random_draws, o.replace,
                       ctx.seed, o.batch_size, o.curve_points, o.show, o.opt_steps, o.paper_rule,
                       _opt_size(o.opt_size, S.image_shape, inst))
    if cfg.select.kind in ("causal", "optimized") and inst is None:
        raise UserError(f"--select {cfg.select} measures the filters' effects with an instrument, and there is "
                        f"none ({absent_reason(S, ctx.segmenter)}); use --select top-K or positive, or {HINT}")
    if cfg.select.kind == "optimized" and not inst.differentiable:
        raise UserError(f"--select {cfg.select} needs a differentiable instrument ({inst.name} is not: give its "
                        "'probs'); use --select causal-K")
    judge = _judge(ctx, o, inst)
    if o.boxes is None:
        return Plan(layer, shape, cfg, inst, None, judge=judge)
    man = bx.load_manifest(o.manifest)
    if man.image_size != S.image_shape[-1] or man.z.shape[1] != S.nz:
        raise UserError(f"manifest {o.manifest} holds {man.image_size}px samples with nz={man.z.shape[1]}; "
                        f"this model makes {S.image_shape[-1]}px with nz={S.nz}")
    boxes = Boxes(str(o.boxes), o.concept, bx.match_boxes(bx.read_annotations(o.boxes), man, o.concept))
    n = min(4, len(man.files))
    bx.check_pngs(man, to_uint8(S.images(torch.from_numpy(man.z[:n]), n, ctx.device)))
    reason = None if inst is not None else absent_reason(S, ctx.segmenter)
    return Plan(layer, shape, cfg, inst, reason, man, boxes, judge)


def _judge(ctx, o: Options, inst):
    """The held-out instrument (``--judge``; default: the second rooms parser where the rooms parser
    selects), checked to know the concept; None where there is none (or nothing is measured)."""
    from gan_viz.instruments import held_out_instrument

    if inst is None:
        if o.judge not in (None, "none"):
            raise UserError(f"--judge {o.judge} measures removals, which needs an instrument to select with too; "
                            f"{HINT}")
        return None
    judge = held_out_instrument(ctx.subject, ctx.segmenter, judge=o.judge, device=ctx.device)
    if judge is not None and o.concept not in judge.class_names:
        raise UserError(f"--judge {judge.name} has no class {o.concept!r}; it knows {', '.join(judge.class_names)}")
    return judge


def _probe_sets(plan: Plan, S, gen: torch.Generator, o: Options, device) -> tuple[list, str]:
    """One ProbeSet per fit: annotated samples (shared), or fresh samples boxed by the instrument;
    causal rules also draw samples to measure the filters' effects on."""
    from gan_viz.boxes import parser_boxes

    needs = plan.cfg.select.kind in ("causal", "optimized")
    causal = lambda: S.sample_z(o.causal_samples, gen) if needs else None  # noqa: E731
    if plan.boxes is not None:
        z = torch.from_numpy(plan.manifest.z)
        return [ProbeSet(z, plan.boxes.boxes, causal()) for _ in range(o.fits)], f"annotations {o.boxes}"
    inst = plan.instrument
    cid = inst.class_names.index(o.concept)
    sets = []
    for _ in range(o.fits):
        z = S.sample_z(o.samples, gen)
        seg = inst.segment(S.images(z, o.batch_size, device)).numpy()
        sets.append(ProbeSet(z, parser_boxes(seg, cid), causal()))
    return sets, f"{inst.name} boxes on {o.samples} new samples per fit"


def _arrays(r: ForgetResult, sets: list, seed: int) -> dict:
    C = r.layer_shape[0]
    pad = lambda fs: np.array([np.pad(f, [(0, 0)] * (f.ndim - 1) + [(0, C - f.shape[-1])], constant_values=-1)
                               for f in fs])  # noqa: E731  (fits select different numbers: -1 pads)
    boxes = np.array([(f, i, *b) for f, ps in enumerate(sets) for i, bs in ps.boxes.items() for b in bs],
                     np.float32).reshape(-1, 6)
    out = {"z_eval": r.z_eval, "z_probe": np.stack([ps.z.numpy() for ps in sets]), "layer": np.array(f"G.{r.layer}"),
           "boxes": boxes, "boxes_columns": np.array(["fit", "sample", "x0", "y0", "x1", "y1"]),
           "scores": np.stack([o.scores for o in r.fits]), "filters": pad([o.filters for o in r.fits]),
           "random_filters": pad([o.random_filters for o in r.fits]), "classes": np.array(r.classes),
           "seed": np.array(seed), "representative_fit": np.array(r.rep), "replacement": r.replacement,
           **{f"images_{k}": v for k, v in r.images.items()}}
    if r.before is not None:
        out.update({"fractions_before": r.before.fractions, "presence_before": r.before.presence,
                    "fractions_after": np.stack([o.after.fractions for o in r.fits]),
                    "fractions_random": np.stack([[m.fractions for m in o.random] for o in r.fits]),
                    "curve_k": r.curve_k, "curve": r.curve, "curve_random": r.curve_random,
                    "curve_changed": r.curve_changed, "curve_random_changed": r.curve_random_changed,
                    "scene_changed": np.array([o.after.scene_changed for o in r.fits]),
                    "scene_changed_random": np.array([[m.scene_changed for m in o.random] for o in r.fits])})
    if sets[0].causal_z is not None:
        out["z_causal"] = np.stack([ps.causal_z.numpy() for ps in sets])
    if r.before is not None and r.judges:
        out["judges"] = np.array([n for n, _ in r.judges])
        for j in range(len(r.judges)):  # judge j's reading (in its classes) of the fits' removals
            pick = lambda m: _judged(m, j, r).fractions  # noqa: E731
            out[f"judge{j}_fractions_before"] = pick(r.before)
            out[f"judge{j}_fractions_after"] = np.stack([pick(o.after) for o in r.fits])
            out[f"judge{j}_fractions_random"] = np.stack([[pick(m) for m in o.random] for o in r.fits])
            if all(o.paper is not None for o in r.fits):
                out[f"judge{j}_fractions_paper_rule"] = np.stack([pick(o.paper.after) for o in r.fits])
        if all(o.paper is not None for o in r.fits):
            out["paper_rule_filters"] = pad([o.paper.filters for o in r.fits])
    return out


def _evaluation_record(plan: Plan, o: Options, seed: int) -> dict:
    """How selection and evaluation were kept apart (which z, which instrument)."""
    from gan_viz.instruments import instrument_record

    kind = plan.cfg.select.kind
    chose = {"probe": f"{o.samples} samples per fit boxed by {plan.instrument.name}"}
    if kind in ("causal", "optimized"):
        chose["effects"] = f"{o.causal_samples} further samples per fit, {plan.instrument.name}'s " + (
            "segmentation" if kind == "causal" else "differentiable object probability")
    held = plan.judge is not None
    return {"selected_on": chose, "measured_on": f"{o.eval_samples} fresh samples (z seed {EVAL_SEED + seed}; "
            "no probe or causal sample among them)", "eval_seed": EVAL_SEED + seed,
            "held_out": held, "judge": instrument_record(plan.judge) if held else None,
            "note": (f"removal measured by {plan.judge.name}, an instrument the selection never saw (headline), "
                     f"and by the selecting {plan.instrument.name} beside it" if held else
                     f"removal measured by the selecting {plan.instrument.name} itself: selection and evaluation "
                     "share the instrument (pass --judge FILE.py:FUNC for an independent one)")}


def _judges(plan) -> list | None:
    """The removals' judges: the held-out one first (the headline), then the selecting instrument."""
    if plan.instrument is None:
        return None
    return [Judge(i.name, i.segment, tuple(i.class_names)) for i in (plan.judge, plan.instrument) if i is not None]


def _write(ctx, plan, o: Options, r: ForgetResult, sets: list, source: str) -> dict:
    """Figures (PNG + PDF), summary.json and arrays.npz into ``ctx.out``; returns the summary."""
    from gan_viz.instruments import figure_tag, instrument_record
    from gan_viz.io import save_figure, write_json, write_npz

    S, inst = ctx.subject, plan.instrument
    save_figure(plot_forget_samples(r), ctx.out, "forget_samples")
    if r.before is not None:
        tag = " ".join(t for t in (figure_tag(instrument_record(plan.judge)) if plan.judge else "",
                                   figure_tag(instrument_record(inst, plan.reason))) if t)
        save_figure(plot_removal_curve(r, tag), ctx.out, "removal_curve")
    summary = {"checkpoint": S.where, "checkpoint_step": S.step, "boxes_source": source,
               "instrument": instrument_record(inst, plan.reason), **summarize(r)}
    if inst is not None:
        summary["evaluation"] = _evaluation_record(plan, o, ctx.seed)
    if plan.boxes is not None:
        summary["boxes"] = plan.boxes.describe()
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **_arrays(r, sets, ctx.seed))
    return summary


@register(NAME, needs=("G",), title="Fig. 6: forgetting to draw an object", caption=caption, options=Options)
def run(ctx, o: Options) -> dict:
    """Fig. 6 on ``ctx.subject`` measured by the instrument of ``ctx`` (``ctx.segmenter``): find the
    concept's filters, remove them, measure; writes ``forget_samples`` and ``removal_curve`` (PNG +
    PDF), ``summary.json`` and ``arrays.npz`` into ``ctx.out``; returns the summary.

    Selection and evaluation are apart: the filters are chosen on probe (and causal) samples with
    the instrument of ``ctx``; the removals are measured on ``eval_samples`` fresh z by the held-out
    ``judge`` (default: the second rooms parser, ``parser_b.pt``, where the rooms parser selects),
    the headline, and by the selecting instrument beside it.

    Options (:class:`Options`, the command's option names): concept: a class of the instrument.
    boxes, manifest: hand boxes on ``gan-viz samples`` output (together). parser: rooms parser
    weights. judge: the held-out instrument, "FILE.py:FUNC", "rooms-b" or "none". layer: a G layer
    by address (default: the second-highest conv's block output). samples: probe samples per fit.
    select: positive, top-K, causal-K, optimized-K (default: ``DEFAULT_SELECT``). paper_rule: also
    remove and measure every fit's weight > 0 filters (the paper's rule). The rest as
    ``gan-viz forget --help`` says.

    Raises:
        UserError: bad options, or no instrument and no boxes (exit 2).
    """
    plan = prepare(ctx, o)
    S, inst = ctx.subject, plan.instrument
    _memory.require("--eval-samples", o.eval_samples, 6 * _memory.image_bytes(S.image_shape),
                    "the evaluation samples and their maps")
    gen = torch.Generator().manual_seed(ctx.seed)  # probe (and causal) samples
    # fresh evaluation samples, from a stream of their own: never a probe sample, nor one of the
    # `gan-viz samples --seed S` sheets that hand boxes are drawn on
    z_eval = S.sample_z(o.eval_samples, torch.Generator().manual_seed(EVAL_SEED + ctx.seed))
    sets, source = _probe_sets(plan, S, gen, o, ctx.device)
    if not any(ps.boxes for ps in sets):
        raise UserError(f"{inst.name} finds no {o.concept} on the probe samples; raise --samples or pick a concept "
                        "this model draws")
    classes = inst.class_names if inst is not None else plan.boxes.class_names
    prob = inst.concept_prob(classes.index(o.concept)) if inst is not None and inst.differentiable else None
    r = compute_forget(S, plan.layer, sets, z_eval, inst.segment if inst is not None else None, classes, plan.cfg,
                       ctx.device, prob, _judges(plan))
    return _write(ctx, plan, o, r, sets, source)
