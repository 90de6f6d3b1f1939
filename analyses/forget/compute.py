"""Forgetting to draw an object (paper Fig. 6): remove the filters a probe found, measure.

The paper fitted a logistic regression on 150 samples with hand-drawn window boxes,
dropped every filter with weight > 0 and showed samples with and without them; it
measured nothing. Here every step is measured by a concept instrument
(:mod:`gan_viz.instruments`: the rooms scene parser for a rooms model, or the user's
segmenter) on ``eval`` samples:
the object's pixel fraction and the share of samples containing it, before and after,
beside the same number of random filters (several draws) and the other classes, so that
"the scene stays" is a number. Probe fits vary a lot (PAPER.md, Fig. 6 notes), so there
are several fits; the summary reports their median and spread, and the figures show
the median fit. With hand boxes and no instrument, the run is the paper's: probe fits,
the filters they select and the figure, nothing measured (the summary says so).

Selection and evaluation are kept apart. The filters are chosen on probe samples (and, for
the causal rules, further samples) with the selecting instrument; every removal is
measured on fresh evaluation samples (a z stream of their own) by a *held-out judge*, an
instrument the selection never saw: for rooms the second scene parser
(``gan_viz/assets/parser_b.pt``, trained independently; its card holds its held-out IoU),
or the user's ``--judge FILE.py:FUNC``. The judge's figure is the headline, the selecting
instrument's is reported beside it (an optimised ablation can exploit the quirks of the
network it was optimised against). The paper's own rule (every probe weight > 0) is
measured on the same fits, with its own random controls.

The registered runner :func:`run` (``gan-viz forget``) takes a subject (any G; layers by
dotted names, e.g. ``G.blocks.2.act``) and the instrument its context resolves.

Removal goes through the one edit rule of :func:`gan_viz.hooks.edit`,
``x * (1 - a) + r * a`` (as a layer hook, or on G's cached layer output), with ``a`` = 1
on the removed filters and ``r`` = 0 (``zero``, the paper's drop) or the filter's mean
activation (``mean``); the generator is unchanged after every call, also after an exception.

Example:
    >>> r = compute_forget(G, "relu3", [ProbeSet(z, boxes)], z_eval, instrument.segment,
    ...                    instrument.class_names, ForgetConfig("window", Selection("positive")))
    >>> summarize(r)["removed_share"]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.hooks import edit, edit_layer
from gan_viz.images import class_fractions_of
from gan_viz.layers import tail_after
from gan_viz.sources import evaluating
from gan_viz.subject import generate_images

from .causal import ConceptProb, Segment, causal_effects, optimize_ablation
from .probe import Selection, cells_from_boxes, fit_probe, generator_parts, layer_features, select_filters
from .result import (PRESENT, FitOutcome, ForgetConfig, ForgetResult, Judge, Measured, ProbeSet, RuleOutcome,
                     removed_share)

@dataclass(frozen=True)
class Bench:
    """Everything one run's removals are measured with (built once by :func:`compute_forget`)."""

    device: torch.device | str
    batch_size: int
    z_eval: torch.Tensor  # (N, nz) the evaluation samples
    feats: torch.Tensor  # (N, C, h, w) their layer output (the tail's input where G is a plain chain)
    tail: object  # G after the layer (gan_viz.layers.tail_after), or None: edit through a hook
    r: torch.Tensor  # (C, 1, 1) the edit rule's replacement
    segment: Segment  # the headline judge
    n_classes: int  # its classes
    reference: torch.Tensor  # (N, H, W) its maps of the unedited samples
    cid: int  # the concept in its classes
    more: list = field(default_factory=list)  # (Judge, reference maps, concept id) of every further judge
    select: Segment | None = None  # the selecting instrument (causal-K)
    select_cid: int = -1
    prob: ConceptProb | None = None  # its differentiable object share (optimized-K)
    bar: object = None  # the progress bar, one step per removal measured

    @property
    def image_size(self) -> int:
        return int(self.reference.shape[-1])


# --- measuring ---------------------------------------------------------------------------

def ablation(channels: int, filters: Sequence[int]) -> torch.Tensor:
    """The edit rule's ``a``: (C, 1, 1) with 1 on the removed filters."""
    a = torch.zeros(channels, 1, 1)
    a[torch.as_tensor(list(filters), dtype=torch.long)] = 1.0
    return a


def removed_images(G, layer: str, z: torch.Tensor, filters: Sequence[int], replacement: torch.Tensor,
                   batch_size: int = 256, device: torch.device | str = "cpu") -> torch.Tensor:
    """G(z) with ``filters`` of ``layer`` replaced (scoped hook): (N, nc, H, W) in [-1, 1].
    ``G``: a generator module or a Subject."""
    module, call = generator_parts(G)
    with edit_layer(module, layer, ablation(len(replacement), filters), replacement, prefix="G"):
        return generate_images(call, z, batch_size, device, module=module)


def replacement_values(G, layer: str, probe_sets: Sequence[ProbeSet], channels: int, cfg: ForgetConfig,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """The edit rule's ``r`` (C, 1, 1): zeros, or (``mean``) each filter's mean activation over the
    probe samples (every distinct probe set's z), never over the evaluation samples, so that
    selection and evaluation stay apart."""
    if cfg.replacement != "mean":
        return torch.zeros(channels, 1, 1)
    sets = list({id(ps): ps for ps in probe_sets}.values())
    total, n = torch.zeros(channels, dtype=torch.float64), 0
    for ps in sets:  # one set's features at a time: (M, C, h, w)
        f = layer_features(G, layer, ps.z, cfg.batch_size, device)
        total += f.double().mean((2, 3)).sum(0)
        n += len(f)
    return (total / n).float()[:, None, None]


def segment_stats(seg: torch.Tensor, n_classes: int, reference: torch.Tensor | None = None,
                  concept_id: int = -1, others: dict | None = None) -> Measured:
    """Class statistics of class maps (N, H, W); ``scene_changed`` against ``reference`` maps
    of the same z, over the pixels that were not ``concept_id`` there."""
    f = class_fractions_of(seg, n_classes, torch.float64).numpy()  # (N, K)
    changed = 0.0
    if reference is not None:
        keep = reference != concept_id
        changed = float(((seg != reference) & keep).sum() / keep.sum().clamp(min=1))
    return Measured(f.mean(0), (f >= PRESENT).mean(0), changed, dict(others or {}))


# --- one fit -----------------------------------------------------------------------------

def _fit(G, layer, shape, ps: ProbeSet, cfg: ForgetConfig, fit_no: int, ctx: Bench) -> FitOutcome:
    """Probe (and causal ranking), selection, removal and random controls of one fit."""
    feats = layer_features(G, layer, ps.z, cfg.batch_size, ctx.device).numpy()
    image_size = ctx.image_size
    cells = cells_from_boxes(ps.boxes, len(ps.z), image_size, shape[1])
    probe = fit_probe(feats, cells, seed=cfg.seed * 1000 + fit_no)
    scores = probe.weights
    if cfg.select.kind in ("causal", "optimized"):
        if ps.causal_z is None:
            raise UserError(f"--select {cfg.select} needs samples to measure the filters' effects on")
        if cfg.select.kind == "causal":
            scores = causal_effects(G, layer, ps.causal_z, ctx.select, ctx.select_cid, ctx.r, cfg.batch_size,
                                    ctx.device)
        elif ctx.prob is None:
            raise UserError("--select optimized-K needs a differentiable instrument (the scene parser)")
        else:
            scores = optimize_ablation(G, layer, ps.causal_z, ctx.prob, ctx.r, steps=cfg.opt_steps,
                                       seed=cfg.seed * 1000 + fit_no, device=ctx.device, size=cfg.opt_size)
    filters, after, rand, random = _removal_with_controls(G, layer, shape, select_filters(scores, cfg.select),
                                                          cfg, [cfg.seed, fit_no, 7], ctx)
    paper = None
    if cfg.paper_rule and cfg.select.kind != "positive":
        paper = RuleOutcome(*_removal_with_controls(G, layer, shape, select_filters(probe.weights,
                                                                                    Selection("positive")),
                                                    cfg, [cfg.seed, fit_no, 8], ctx))
    return FitOutcome(probe, scores, filters, after, rand, random, paper)


def _removal_with_controls(G, layer, shape, filters, cfg: ForgetConfig, seed: list, ctx: Bench) -> tuple:
    """(filters, their removal measured, R random draws of as many filters, those measured)."""
    after = _measure_removal(G, layer, filters, ctx, every_judge=True)
    rng = np.random.default_rng(seed)
    rand = np.stack([rng.choice(shape[0], len(filters), replace=False) for _ in range(cfg.random_draws)])
    return filters, after, rand, tuple(_measure_removal(G, layer, f, ctx, every_judge=True) for f in rand)


def _measure_removal(G, layer, filters, ctx: Bench, every_judge: bool = False) -> Measured:
    tail, feats = ctx.tail, ctx.feats
    if tail is None:
        imgs = removed_images(G, layer, ctx.z_eval, filters, ctx.r, ctx.batch_size, ctx.device)
    else:  # the same edit rule on the evaluation samples' cached layer output: only G's tail runs
        a = ablation(len(ctx.r), filters)
        bs, dev = ctx.batch_size, ctx.device
        with evaluating(generator_parts(G)[0]), torch.no_grad():
            imgs = torch.cat([tail(edit(feats[i:i + bs], a, ctx.r).to(dev)).float().cpu()
                              for i in range(0, len(feats), bs)])
    ctx.bar.update(1)
    others = {}
    if every_judge:
        for j, ref, cid in ctx.more:
            others[j.name] = segment_stats(j.segment(imgs), len(j.classes), ref, cid)
    return segment_stats(ctx.segment(imgs), ctx.n_classes, ctx.reference, ctx.cid, others)


# --- the analysis ------------------------------------------------------------------------

def compute_forget(G, layer: str, probe_sets: Sequence[ProbeSet], z_eval: torch.Tensor,
                   segment_fn: Segment | None, classes: Sequence[str], cfg: ForgetConfig,
                   device: torch.device | str = "cpu", concept_prob: ConceptProb | None = None,
                   judges: Sequence[Judge] | None = None) -> ForgetResult:
    """Find the object's filters ``cfg.fits`` times, remove them, measure against controls.

    Selection and evaluation are apart: the filters are chosen on the probe sets' z (and
    their causal z) with ``segment_fn`` / ``concept_prob``; every removal is measured on
    ``z_eval`` by ``judges`` (the first is the headline; the others measure the fits' removals
    and random controls too, in ``Measured.others``). Default judge: ``segment_fn`` itself.

    Args:
        G: the generator module or a Subject (unchanged afterwards). layer: dotted name, e.g.
            "relu3" or "blocks.2.act".
        probe_sets: one per fit, or one shared by all fits (fit f uses set f mod len).
        z_eval: (N, nz) latent codes of the evaluation samples.
        segment_fn: images -> (N, H, W) class ids (an instrument's ``segment``), or None: the
            paper's unmeasured run (probe fits, removal and figure; rules positive / top-K only).
        classes: the K class names; ``cfg.concept`` must be one.
        concept_prob: images -> (N,) differentiable object share, for ``optimized-K`` only.
        judges: :class:`Judge` s that measure the removals (each must know ``cfg.concept``);
            ``ForgetResult.classes`` are the first one's.
    Returns:
        A :class:`ForgetResult` (``before`` is None when nothing was measured).
    """
    if cfg.concept not in classes:
        raise UserError(f"concept {cfg.concept!r} is not a class of the instrument; choose one of "
                        f"{', '.join(classes)}")
    cid = list(classes).index(cfg.concept)
    feats = layer_features(G, layer, z_eval, cfg.batch_size, device)  # (N, C, h, w)
    shape = tuple(feats.shape[1:])
    r = replacement_values(G, layer, probe_sets, shape[0], cfg, device)  # (C, 1, 1)
    if segment_fn is None:
        return _unmeasured(G, layer, shape, probe_sets, z_eval, r, classes, cid, cfg, device)
    judges = list(judges or [Judge("instrument", segment_fn, tuple(classes))])
    bench = _bench(G, layer, z_eval, feats, r, judges, cfg, device, segment_fn, cid, concept_prob)
    classes, cid = judges[0].classes, bench.cid
    before = segment_stats(bench.reference, bench.n_classes, others={
        j.name: segment_stats(ref, len(j.classes)) for j, ref, _ in bench.more})
    if before.fractions[cid] <= 0:
        raise UserError(f"no {cfg.concept} pixels in the {len(z_eval)} evaluation samples; nothing can be removed "
                        "(pick a concept this model draws)")
    per_fit = (1 + cfg.random_draws) * (2 if cfg.paper_rule and cfg.select.kind != "positive" else 1)
    bench = replace(bench, bar=tqdm(total=cfg.fits * per_fit, desc="forget: removals measured"))
    try:
        fits = tuple(_fit(G, layer, shape, probe_sets[f % len(probe_sets)], cfg, f, bench) for f in range(cfg.fits))
        shares = [removed_share(before, o.after, cid) for o in fits]
        rep = int(np.argsort(shares, kind="stable")[(len(shares) - 1) // 2])
        curve = _curve(G, layer, shape[0], fits[rep], cfg, bench)
    finally:
        bench.bar.close()
    images = _show_images(G, layer, z_eval[:cfg.show], fits[rep], r, cfg, device)
    return ForgetResult(cfg, tuple(classes), cid, layer, shape, before, fits, rep, *curve,
                        z_eval=z_eval.numpy(), images=images,
                        n_boxes=tuple(sum(len(b) for b in ps.boxes.values()) for ps in probe_sets),
                        judges=tuple((j.name, tuple(j.classes)) for j in judges), replacement=r.flatten().numpy())


def _bench(G, layer, z_eval, feats, r, judges, cfg: ForgetConfig, device, segment_fn, select_cid,
           concept_prob) -> Bench:
    """The judges' maps of the unedited evaluation samples, and what every removal is measured with."""
    for j in judges:
        if cfg.concept not in j.classes:
            raise UserError(f"concept {cfg.concept!r} is not a class of the judge {j.name}; it knows "
                            f"{', '.join(j.classes)}")
    module, call = generator_parts(G)
    images = generate_images(call, z_eval, cfg.batch_size, device, module=module)
    refs = [j.segment(images).to(torch.uint8) for j in judges]
    cids = [list(j.classes).index(cfg.concept) for j in judges]
    return Bench(device, cfg.batch_size, z_eval, feats, tail_after(module, layer), r, judges[0].segment,
                 len(judges[0].classes), refs[0], cids[0], list(zip(judges[1:], refs[1:], cids[1:])), segment_fn,
                 select_cid, concept_prob)


def _curve(G, layer, channels: int, fit: FitOutcome, cfg: ForgetConfig, ctx: Bench):
    """Class fractions after removing the first k filters in score order, and k random ones."""
    order = np.argsort(-fit.scores, kind="stable")
    ks = np.unique(np.concatenate([np.round(np.geomspace(1, channels, cfg.curve_points)).astype(int),
                                   [len(fit.filters)] if len(fit.filters) else []]).astype(int))
    ks = ks[:cfg.curve_points + 1]
    rng = np.random.default_rng([cfg.seed, 99])
    draws = min(3, cfg.random_draws)
    ctx.bar.total += len(ks) * (1 + draws)
    ctx.bar.refresh()
    curve = [_measure_removal(G, layer, order[:k], ctx) for k in ks]
    rand = [[_measure_removal(G, layer, rng.choice(channels, k, replace=False), ctx) for _ in range(draws)]
            for k in ks]
    return (ks, np.array([m.fractions for m in curve]), np.array([[m.fractions for m in row] for row in rand]),
            np.array([m.scene_changed for m in curve]), np.array([[m.scene_changed for m in row] for row in rand]))


def _unmeasured(G, layer, shape, probe_sets, z_eval, r, classes, cid, cfg: ForgetConfig, device) -> ForgetResult:
    """The paper's Fig. 6 without an instrument: probe fits, the filters they select, the figure."""
    if cfg.select.kind in ("causal", "optimized"):
        raise UserError(f"--select {cfg.select} measures the filters' effects and needs an instrument that "
                        "segments images; pass --segmenter FILE.py:FUNC or use --select top-K / positive")
    fits = []
    for f in range(cfg.fits):
        ps = probe_sets[f % len(probe_sets)]
        feats = layer_features(G, layer, ps.z, cfg.batch_size, device).numpy()
        probe = fit_probe(feats, cells_from_boxes(ps.boxes, len(ps.z), _image_size(G, ps.z), shape[1]),
                          seed=cfg.seed * 1000 + f)
        filters = select_filters(probe.weights, cfg.select)
        rng = np.random.default_rng([cfg.seed, f, 7])
        rand = np.stack([rng.choice(shape[0], len(filters), replace=False) for _ in range(cfg.random_draws)])
        fits.append(FitOutcome(probe, probe.weights, filters, None, rand, ()))
    empty = np.zeros((0, len(classes)))
    images = _show_images(G, layer, z_eval[:cfg.show], fits[0], r, cfg, device)
    return ForgetResult(cfg, tuple(classes), cid, layer, shape, None, tuple(fits), 0, np.zeros(0, int), empty,
                        np.zeros((0, 0, len(classes))), np.zeros(0), np.zeros((0, 0)), z_eval=z_eval.numpy(),
                        images=images, n_boxes=tuple(sum(len(b) for b in ps.boxes.values()) for ps in probe_sets),
                        replacement=r.flatten().numpy())


def _image_size(G, z: torch.Tensor) -> int:
    from gan_viz.subject import Subject

    if isinstance(G, Subject):
        return int(G.image_shape[-1])
    module, call = generator_parts(G)
    return int(generate_images(call, z[:1], 1, "cpu", module=module).shape[-1])


def _show_images(G, layer, z, fit: FitOutcome, r, cfg: ForgetConfig, device) -> dict:
    keep = lambda t: t.numpy().astype(np.float32)  # noqa: E731
    module, call = generator_parts(G)
    return {"before": keep(generate_images(call, z, cfg.batch_size, device, module=module)),
            "after": keep(removed_images(G, layer, z, fit.filters, r, cfg.batch_size, device)),
            "random": keep(removed_images(G, layer, z, fit.random_filters[0], r, cfg.batch_size, device))}
