"""The registered runner of ``gan-viz arithmetic`` (Figs. 7-8): options, sheet, instrument, exemplars, writing.

:func:`run` takes any subject with a generator and a frozen :class:`Options` (the
command's options, see ``gan-viz arithmetic --help``); the sample sheet comes
from ``--samples-seed`` / ``--z`` / ``--manifest``, the instrument from the context
(:mod:`gan_viz.instruments`: the rooms parser for a rooms model, or ``--segmenter``), the
exemplars from sheet indices (``--A`` ... ``--H``) or instrument picks (``--concepts``).
Without an expression, a direction, concepts or indices: the default analogy
``DEFAULT_EXPR`` on ``DEFAULT_CONCEPTS`` (direction ``DEFAULT_DIRECTION``), where the
instrument knows doors and pictures. Without an instrument the arithmetic and the walk
run unmeasured (the summary says why); ``--concepts`` and ``--measure`` are then refused.

Writes ``arithmetic``, ``direction_walk`` and ``direction_measure`` (PNG + PDF),
``summary.json`` and ``arrays.npz`` (the sheet's z and everything that recomputes the
figures of merit).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.io import save_figure, write_json, write_npz

from .analogy import DRAWS, KS, analogy_arrays, analogy_targets, compute_analogy, concept_pools
from .compute import arithmetic_arrays, compute_arithmetic, compute_direction, direction_arrays
from .inputs import ABSENT, NAMES, PRESENT, parse_concepts, parse_expr, parse_indices, pick_matching, sample_sheet, \
    spec_label
from .plot import plot_arithmetic, plot_direction, plot_direction_measure
from .summary import analogy_summary, arithmetic_summary, caption, direction_summary

NAME = "arithmetic"
EVAL_SEED = 1_000_000  # fresh evaluation samples: seed EVAL_SEED + seed (apart from the sheet)
DEFAULT_ALPHAS = "-1,-0.5,0,0.5,1,1.5,2"
SHEET_N, SHEET_N_CONCEPTS = 150, 1000
# The default (no --expr / --direction / --concepts / --A ...): a two-attribute analogy measured on
# both attributes. On the bundled rooms model windows and beds are in 96-97% of the samples (4 of
# 1000 lack both), doors and pictures are the two objects with the largest pools for all three
# concepts (618 / 98 / 34 of a sheet of 1000): Y should show a door and no picture.
DEFAULT_EXPR, DEFAULT_DIRECTION = "A - B + C", "A - B"
DEFAULT_CONCEPTS = "A=door+picture,B=no-door+picture,C=no-door+no-picture"
HINT = ("pass --segmenter FILE.py:FUNC (your segmenter), pick the exemplars by index (--A 12,40,77 ...) "
        "instead of --concepts, or --segmenter rooms to force the rooms parser")


@dataclass(frozen=True)
class Options:
    """The options of one run: ``gan-viz arithmetic``'s option names (the registry builds them from the
    keyword options). Checked by :func:`_check` once the default analogy is filled in (:func:`_defaults`)."""

    expr: str | None = None  # Fig. 7's expression, e.g. "A - B + C" or "2*A - 0.5*B"
    A: str | None = None  # sheet indices of concept A's exemplars, e.g. "12,40,77" or "3-5"; B-H alike
    B: str | None = None
    C: str | None = None
    D: str | None = None
    E: str | None = None
    F: str | None = None
    G: str | None = None
    H: str | None = None
    concepts: str | None = None  # "A=window+bed,B=no-window+bed": exemplars picked by the instrument
    exemplars: int = 3  # per instrument-picked concept
    samples_seed: int = 0  # the sample sheet is gan-viz samples --n N --seed samples_seed ...
    z: str | None = None  # ... or the rows of this z file ...
    manifest: str | None = None  # ... or the z of this samples manifest.json
    samples_n: int | None = None  # None: SHEET_N, SHEET_N_CONCEPTS with concepts (see sheet_n)
    noise: float = 0.25  # uniform noise half-width around Y
    noisy: int = 8  # noisy samples around Y
    direction: str | None = None  # Fig. 8's direction, "A - B"
    direction_exemplars: int | None = None  # per instrument-picked group of the direction (None: exemplars)
    alphas: str = DEFAULT_ALPHAS  # multiples of the direction walked (0 and 1 always added)
    walk_rows: int = 4  # samples walked along the direction
    eval_samples: int = 200  # samples measured along the direction
    controls: int = 3  # random directions of the same norm
    measure: str | None = None  # the instrument class measured (None: the concepts' class, else window)
    min_fraction: float = PRESENT  # an instrument-picked sample has a class from this pixel fraction
    absent_fraction: float = ABSENT  # ... and lacks it below this one
    draws: int = DRAWS  # exemplar draws of the analogy's success
    parser: str | None = None  # the rooms parser's weights (None: the bundled one)
    batch_size: int = 256

    @property
    def sheet_n(self) -> int:
        """Samples on the sheet: ``samples_n``, else SHEET_N_CONCEPTS with concepts, SHEET_N without."""
        return self.samples_n if self.samples_n is not None else (SHEET_N_CONCEPTS if self.concepts else SHEET_N)

    def index_lists(self) -> dict[str, str]:
        """name -> its sheet indices' text, for the concepts given by index (--A ... --H)."""
        return {n: getattr(self, n) for n in NAMES if getattr(self, n) is not None}


@register(NAME, needs=("G",), title="Figs. 7-8: vector arithmetic on z", caption=caption, options=Options)
def run(ctx, o: Options) -> dict:
    """Figs. 7-8 on ``ctx.subject`` with options ``o`` (:class:`Options`, the ``gan-viz arithmetic``
    option names): arithmetic ``o.expr`` on exemplar means and/or the ``o.direction`` walk, measured
    by the instrument of ``ctx`` where there is one; writes ``arithmetic``, ``direction_walk`` and
    ``direction_measure`` (PNG + PDF), ``summary.json`` and ``arrays.npz`` into ``ctx.out``; returns
    the summary.

    Without ``expr``, ``direction``, ``concepts`` and A-H: the default analogy (``DEFAULT_EXPR`` on
    ``DEFAULT_CONCEPTS``, direction ``DEFAULT_DIRECTION``) where the instrument knows its classes.
    Where every concept is picked by the instrument, the analogy is also repeated over ``o.draws``
    exemplar draws (:mod:`gan_viz.analyses.arithmetic.analogy`): ``analogy_success_1`` / ``_3`` /
    ``_pixel`` / ``_random`` in the summary.
    """
    from gan_viz.instruments import instrument_record

    S = ctx.subject
    if not S.has_G:
        S.require("G")
    _size_request(o, S)
    o, defaulted = _defaults(ctx, o)
    terms, dterms, alph = _check(o)
    sheet, sheet_note = _sheet(o, S)
    inst, reason, note = _instrument(ctx, o)
    if o.measure is not None and inst is None:
        raise UserError(f"--measure {o.measure} needs a concept instrument, and {reason}; {HINT}")
    picks, sheet_images, fractions, chosen, dchosen, measured, target = _exemplars(ctx, o, S, sheet, inst, terms,
                                                                                   dterms)
    summary = {"checkpoint": S.where, "seed": ctx.seed, "measurements": note, "sheet": sheet_note,
               "sheet_size": len(sheet), "concepts": {n: spec_label(s) for n, s in picks.items()},
               "defaults": defaulted, "instrument": instrument_record(inst, reason)}
    arrays = {"sheet_z": sheet.numpy(), "seed": ctx.seed}
    if fractions is not None:
        arrays["sheet_fractions"], arrays["class_names"] = fractions, list(inst.class_names)
    if terms:
        _run_arithmetic(ctx, o, S, terms, sheet, chosen, inst, measured, summary, arrays)
        _run_analogy(ctx, o, S, terms, picks, sheet, sheet_images, fractions, inst, summary, arrays)
    if dterms:
        _run_direction(ctx, o, S, dterms, alph, sheet, dchosen, inst, target, summary, arrays)
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **arrays)
    return summary


def _exemplars(ctx, o: Options, S, sheet: torch.Tensor, inst, terms, dterms) -> tuple:
    """(instrument-picked concept specs, the sheet's images and instrument fractions where something is
    picked, the sheet indices of each concept of ``terms`` and of ``dterms``, the classes annotated in
    Fig. 7, the class the direction is measured on)."""
    classes = inst.class_names if inst is not None else ()
    lists, picks = _sources(o, {n for n, _ in terms + dterms}, classes)
    sheet_images = S.images(sheet, o.batch_size, ctx.device) if picks else None
    fractions = inst.class_fractions(sheet_images).numpy() if picks else None
    pick = lambda tt, k: _select([n for n, _ in tt], lists, picks, k, len(sheet), fractions, classes, o)  # noqa: E731
    chosen = pick(terms, o.exemplars) if terms else {}
    dchosen = pick(dterms, o.direction_exemplars or o.exemplars) if dterms else {}
    measured, target = _targets(o, picks, dterms, classes) if inst is not None else ([], None)
    return picks, sheet_images, fractions, chosen, dchosen, measured, target


def _check(o: Options) -> tuple:
    """Numbers, expressions and alphas of the options ``o`` (nothing model-dependent)."""
    for opt, v, low in (("--exemplars", o.exemplars, 1), ("--samples-n", o.sheet_n, 1),
                        ("--noisy", o.noisy, 0), ("--walk-rows", o.walk_rows, 1),
                        ("--eval-samples", o.eval_samples, 1), ("--controls", o.controls, 0),
                        ("--batch-size", o.batch_size, 1), ("--draws", o.draws, 1),
                        ("--direction-exemplars", o.direction_exemplars or 1, 1)):
        if v < low:
            raise UserError(f"{opt} {v}: must be at least {low}")
    if not 0 <= o.noise < 10 or not 0 < o.min_fraction < 1 or not 0 < o.absent_fraction < 1:
        raise UserError("--noise must be in [0, 10), --min-fraction and --absent-fraction in (0, 1)")
    if o.expr is None and o.direction is None:
        raise UserError('nothing to do: give --expr "A - B + C" and/or --direction "A - B"')
    if sum(getattr(o, k) is not None for k in ("z", "manifest")) + (o.samples_seed != 0) > 1:
        raise UserError("--samples-seed, --z and --manifest are alternatives: give one sample sheet")
    terms = parse_expr(o.expr) if o.expr is not None else ()
    dterms = parse_expr(o.direction) if o.direction is not None else ()
    if dterms and sorted(c for _, c in dterms) != [-1.0, 1.0]:
        raise UserError(f"--direction {o.direction!r} must be one concept minus another, like 'A - B'")
    try:
        alphas = sorted({float(a) for a in str(o.alphas).split(",")} | {0.0, 1.0})
    except ValueError:
        raise UserError(f"--alphas {o.alphas!r} is not a list of numbers like -1,0,0.5,1,2") from None
    return terms, dterms, alphas


def _sheet(o: Options, S) -> tuple[torch.Tensor, str]:
    """The sample sheet's z (N, nz), and where it came from."""
    from gan_viz.subject import load_z

    if o.z is not None:
        return load_z(o.z, S.nz), f"rows of {o.z}"
    if o.manifest is not None:
        from gan_viz.boxes import load_manifest

        z = load_manifest(o.manifest).z
        if z.shape[1] != S.nz:
            raise UserError(f"manifest {o.manifest} holds z of size {z.shape[1]}, this model needs {S.nz}; "
                            "pass the manifest written for this model")
        return torch.from_numpy(z), f"z of manifest {o.manifest}"
    return (sample_sheet(S, o.sheet_n, o.samples_seed),
            f"gan-viz samples / generate --n {o.sheet_n} --seed {o.samples_seed}")


def _sources(o: Options, names: set, classes) -> tuple[dict, dict]:
    """Index lists and instrument-picked concepts per name, each name defined exactly once."""
    concepts = parse_concepts(o.concepts, classes) if o.concepts else {}
    lists = o.index_lists()
    for n in sorted(set(lists) | set(concepts)):
        if n not in names:
            raise UserError(f"concept {n} is defined but not used by --expr or --direction")
        if n in lists and n in concepts:
            raise UserError(f"concept {n} is given both by --{n} and by --concepts; keep one")
    for n in sorted(names):
        if n not in lists and n not in concepts:
            raise UserError(f"concept {n} has no exemplars: give --{n} 12,40,77 (sheet indices) or --concepts {n}=CLASS")
    return lists, concepts


def _select(order, lists, concepts, k, sheet_n, fractions, classes, o: Options) -> dict:
    """Sheet indices per concept name; instrument picks never reuse an index already taken."""
    chosen: dict[str, list[int]] = {}
    for n in order:
        if n in lists:
            chosen[n] = parse_indices(lists[n], n, sheet_n)
    for n in order:
        if n in concepts:
            spec = tuple((classes.index(c), p) for c, p in concepts[n])
            used = {i for v in chosen.values() for i in v}
            chosen[n] = pick_matching(fractions, spec, k, used, o.min_fraction, f"{n}={spec_label(concepts[n])}",
                                      o.absent_fraction)
    return chosen


def _targets(o: Options, concepts, dterms, classes) -> tuple[list, str | None]:
    """Classes annotated in Fig. 7, and the class the direction is measured on."""
    if o.measure is not None and o.measure not in classes:
        raise UserError(f"--measure {o.measure!r} is not a class; the instrument knows {', '.join(classes)}")
    named = list(dict.fromkeys(c for spec in concepts.values() for c, _ in spec))
    default = o.measure or (named[0] if named else ("window" if "window" in classes else classes[0]))
    dir_named = []
    if dterms and all(n in concepts for n, _ in dterms):  # the class the two sides disagree on
        (pn, _), (mn, _) = sorted(dterms, key=lambda t: -t[1])
        plus, minus = dict(concepts[pn]), dict(concepts[mn])
        dir_named = [c for c in plus if c in minus and plus[c] != minus[c]] or list(plus)
    measure = list(dict.fromkeys(([o.measure] if o.measure else []) + named)) or [default]
    return measure, (o.measure or (dir_named[0] if dir_named else default))


def _instrument(ctx, o: Options):
    """(instrument or None, why none, one-line note); --concepts needs one (else refused)."""
    from gan_viz.instruments import absent_reason, require_instrument, resolve_instrument

    S = ctx.subject
    if o.concepts:
        inst = require_instrument(S, ctx.segmenter, "arithmetic --concepts", parser=o.parser,
                                  device=ctx.device, alternatives=HINT)
    else:
        inst = resolve_instrument(S, ctx.segmenter, parser=o.parser, device=ctx.device)
    if inst is not None:
        return inst, None, f"measured by {inst.name}"
    reason = absent_reason(S, ctx.segmenter) or "the rooms parser could not be loaded"
    return None, reason, f"no instrument measurements: {reason}"


def _size_request(o: Options, S) -> None:
    """Refuse, before any work, counts whose images cannot be held in memory: the sample sheet
    (images, their float64 means, the instrument's maps), the analogy's draws (three settings of
    generated images and the pixel means) and the evaluation samples."""
    from gan_viz.memory import image_bytes, require

    img = image_bytes(S.image_shape)
    require("--samples-n", SHEET_N_CONCEPTS if o.samples_n is None else o.samples_n, 4 * img, "the sample sheet's images")
    require("--draws", o.draws, 2 * (len(KS) + 2) * img, "the analogy's images")
    require("--eval-samples", o.eval_samples, 4 * img, "the evaluation images")


def _defaults(ctx, o: Options) -> tuple[Options, bool]:
    """The options with the default analogy filled in when nothing was asked for, and whether it was."""
    from gan_viz.instruments import absent_reason, resolve_instrument

    if any(getattr(o, k) is not None for k in ("expr", "direction", "concepts", *NAMES)):
        return o, False
    inst = resolve_instrument(ctx.subject, ctx.segmenter, parser=o.parser, device=ctx.device)
    need = [c for c in ("door", "picture") if inst is None or c not in inst.class_names]
    if need:
        why = (absent_reason(ctx.subject, ctx.segmenter) or "no instrument could be loaded") if inst is None else \
            f"{inst.name} has no class {' or '.join(need)}"
        raise UserError(f'nothing to do: give --expr "A - B + C" and/or --direction "A - B" (the default analogy '
                        f'{DEFAULT_CONCEPTS} needs an instrument with doors and pictures, and {why})')
    return replace(o, expr=DEFAULT_EXPR, concepts=DEFAULT_CONCEPTS, direction=DEFAULT_DIRECTION), True


def _run_analogy(ctx, o: Options, S, terms, picks, sheet, sheet_images, fractions, inst, summary, arrays) -> None:
    """The analogy over ``o.draws`` exemplar draws, where every concept is picked by the instrument."""
    missing = [n for n, _ in terms if n not in picks]
    targets = analogy_targets(terms, picks) if not missing else {}
    if not targets:
        why = (f"concepts {', '.join(missing)} are given by sheet index, not by the instrument" if missing else
               "no class is named by every concept of the expression")
        summary.update({f"analogy_success_{k}": None for k in ("1", "3", "pixel", "random")})
        summary["analogy"] = {"measured": False, "why": why}
        return
    pools = concept_pools(fractions, inst.class_names, {n: picks[n] for n, _ in terms}, o.min_fraction,
                             o.absent_fraction)
    r = compute_analogy(S, terms, sheet, sheet_images, pools, inst, targets, o.draws, seed=ctx.seed,
                           min_fraction=o.min_fraction, absent_fraction=o.absent_fraction,
                           batch_size=o.batch_size, device=ctx.device)
    s = analogy_summary(r)
    s["analogy"] = {"measured": True, "expr": o.expr, **s["analogy"]}
    summary.update(s)
    arrays.update(analogy_arrays(r))


def _run_arithmetic(ctx, o: Options, S, terms, sheet, chosen, inst, measured, summary, arrays) -> None:
    """Fig. 7 on the chosen exemplars: the figure, ``summary["arithmetic"]`` and its arrays."""
    r = compute_arithmetic(S, terms, [sheet[chosen[n]] for n, _ in terms], o.noise, o.noisy, ctx.seed,
                           inst, o.batch_size, ctx.device)
    save_figure(plot_arithmetic(r, measured[:2]), ctx.out, "arithmetic")
    summary["arithmetic"] = arithmetic_summary(r, o.expr, chosen, measured, sheet)
    arrays.update(arithmetic_arrays(r, chosen))


def _run_direction(ctx, o: Options, S, dterms, alphas, sheet, dchosen, inst, target, summary, arrays) -> None:
    """Fig. 8 along the chosen direction: the walk (and measure) figures, ``summary["direction"]``, arrays."""
    (pn, _), (mn, _) = sorted(dterms, key=lambda t: -t[1])
    n_eval = max(o.walk_rows, o.eval_samples if inst is not None else 0)
    ev = S.sample_z(n_eval, torch.Generator().manual_seed(EVAL_SEED + ctx.seed))
    d = compute_direction(S, sheet[dchosen[pn]], sheet[dchosen[mn]], alphas, ev[:o.walk_rows], ev, inst,
                          o.controls, ctx.seed, o.batch_size, ctx.device)
    save_figure(plot_direction(d, f"{pn} - {mn}"), ctx.out, "direction_walk")
    if d.fractions is not None:
        from gan_viz.instruments import figure_tag, instrument_record

        save_figure(plot_direction_measure(d, target, figure_tag(instrument_record(inst))), ctx.out,
                    "direction_measure")
    summary["direction"] = {"expr": f"{pn} - {mn}", "plus": dchosen[pn], "minus": dchosen[mn],
                            "eval_seed": EVAL_SEED + ctx.seed, "control_seed": ctx.seed,
                            **direction_summary(d, target)}
    if S.z_dist == "uniform":  # G was trained on the cube [-1, 1]^nz; d and the controls leave it alike
        summary["direction"]["z_outside_cube_at_alpha_1"] = float((np.abs(d.eval_z + d.d) > 1).mean())
    arrays.update(direction_arrays(d, dchosen[pn], dchosen[mn]))

