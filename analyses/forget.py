"""Forgetting to draw an object (paper Fig. 6): remove the filters a probe found, measure.

The paper fitted a logistic regression on 150 samples with hand-drawn window boxes,
dropped every filter with weight > 0 and showed samples with and without them; it
measured nothing. Here every step is measured by the scene parser on ``eval`` samples:
the object's pixel fraction and the share of samples containing it, before and after,
beside the same number of random filters (several draws) and the other classes, so that
"the scene stays" is a number. Probe fits vary a lot (PAPER.md, Fig. 6 notes), so there
are several fits; the summary reports their median and spread, and the figures show
the median fit.

Removal goes through the one edit rule of :func:`gan_viz.hooks.edit`,
``x * (1 - a) + r * a`` (as a layer hook, or on G's cached layer output), with ``a`` = 1
on the removed filters and ``r`` = 0 (``zero``, the paper's drop) or the filter's mean
activation (``mean``); the generator is unchanged after every call, also after an exception.

Example:
    >>> r = compute_forget(G, "relu3", [ProbeSet(z, boxes)], z_eval, parser.class_fractions,
    ...                    CLASSES, ForgetConfig("window", Selection("positive")))
    >>> summarize(r)["removed_share"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.forget_causal import ConceptProb, causal_effects, optimize_ablation
from gan_viz.analyses.forget_probe import (ProbeFit, Selection, after_layer, cells_from_boxes, fit_probe,
                                           layer_features, select_filters)
from gan_viz.analyses.unit_scan import evaluating
from gan_viz.subject import generate_images
from gan_viz.errors import UserError
from gan_viz.hooks import edit, edit_layer

PRESENT = 0.004  # a sample "contains" a class when it covers at least 0.4% of its pixels
REPLACEMENTS = ("zero", "mean")
GAN_DISSECTION = {"source": "Bau et al. 2019 (GAN Dissection), LSUN bedroom, layer4 of a Progressive GAN",
                  "units_removed": 20, "layer_units": 512, "window_pixels_removed": 0.277}

Segment = Callable[[torch.Tensor], torch.Tensor]  # images (N, 3, H, W) in [-1, 1] -> (N, H, W) class ids


@dataclass(frozen=True)
class ForgetConfig:
    """How to run the analysis (stored in the output folder)."""

    concept: str
    select: Selection
    fits: int = 5  # probe fits (or causal rankings), each with its own draw
    random_draws: int = 5  # random-filter controls per fit
    replacement: str = "zero"  # "zero" (the paper) or "mean"
    seed: int = 0
    batch_size: int = 256
    curve_points: int = 8
    show: int = 10  # samples in the figure
    opt_steps: int = 600  # Adam steps of the optimized-K ablation (150 had not converged)

    def __post_init__(self):
        if self.replacement not in REPLACEMENTS:
            raise UserError(f"--replace {self.replacement!r}: choose one of {', '.join(REPLACEMENTS)}")
        for name in ("fits", "random_draws", "batch_size", "curve_points", "show", "opt_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass(frozen=True)
class ProbeSet:
    """What one fit selects from: samples (z), their object boxes, and (causal rule) more z."""

    z: torch.Tensor  # (N, nz)
    boxes: dict  # {sample index: [(x0, y0, x1, y1), ...]} in model pixels
    causal_z: torch.Tensor | None = None  # (M, nz), used by causal-K only


@dataclass(frozen=True)
class Measured:
    """Class statistics of one set of generated samples."""

    fractions: np.ndarray  # (K,) mean pixel fraction per class
    presence: np.ndarray  # (K,) share of samples containing each class
    scene_changed: float = 0.0  # share of the pixels that were not the object whose class changed (same z)


@dataclass(frozen=True)
class FitOutcome:
    probe: ProbeFit
    scores: np.ndarray  # (C,) what ranked the filters: probe weights, or causal effects
    filters: np.ndarray  # (k,) removed filters, best first
    after: Measured
    random_filters: np.ndarray  # (R, k)
    random: tuple  # R x Measured


@dataclass(frozen=True)
class ForgetResult:
    config: ForgetConfig
    classes: tuple
    concept_id: int
    layer: str
    layer_shape: tuple  # (C, h, w)
    before: Measured
    fits: tuple  # FitOutcome per fit
    rep: int  # the median fit (by object pixels removed), shown in the figures
    curve_k: np.ndarray  # (P,) filters removed, in the median fit's score order
    curve: np.ndarray  # (P, K) class fractions after removing the first k
    curve_random: np.ndarray  # (P, R', K) the same with k random filters
    curve_changed: np.ndarray  # (P,) scene changed after removing the first k
    curve_random_changed: np.ndarray  # (P, R')
    z_eval: np.ndarray  # (N, nz)
    images: dict = field(default_factory=dict)  # "before" / "after" / "random": (S, nc, H, W)
    n_boxes: tuple = ()  # boxes per fit


# --- measuring ---------------------------------------------------------------------------

def ablation(channels: int, filters: Sequence[int]) -> torch.Tensor:
    """The edit rule's ``a``: (C, 1, 1) with 1 on the removed filters."""
    a = torch.zeros(channels, 1, 1)
    a[torch.as_tensor(list(filters), dtype=torch.long)] = 1.0
    return a


def removed_images(G: nn.Module, layer: str, z: torch.Tensor, filters: Sequence[int], replacement: torch.Tensor,
                   batch_size: int = 256, device: torch.device | str = "cpu") -> torch.Tensor:
    """G(z) with ``filters`` of ``layer`` replaced (scoped hook): (N, nc, H, W) in [-1, 1]."""
    with edit_layer(G, layer, ablation(len(replacement), filters), replacement, prefix="G"):
        return generate_images(G, z, batch_size, device)


def segment_stats(seg: torch.Tensor, n_classes: int, reference: torch.Tensor | None = None,
                  concept_id: int = -1) -> Measured:
    """Class statistics of class maps (N, H, W); ``scene_changed`` against ``reference`` maps
    of the same z, over the pixels that were not ``concept_id`` there."""
    f = torch.nn.functional.one_hot(seg.long().flatten(1), n_classes).double().mean(1).numpy()  # (N, K)
    changed = 0.0
    if reference is not None:
        keep = reference != concept_id
        changed = float(((seg != reference) & keep).sum() / keep.sum().clamp(min=1))
    return Measured(f.mean(0), (f >= PRESENT).mean(0), changed)


# --- one fit -----------------------------------------------------------------------------

def _fit(G, layer, shape, ps: ProbeSet, cfg: ForgetConfig, fit_no: int, ctx: dict) -> FitOutcome:
    """Probe (and causal ranking), selection, removal and random controls of one fit."""
    feats = layer_features(G, layer, ps.z, cfg.batch_size, ctx["device"]).numpy()
    image_size = ctx["image_size"]
    cells = cells_from_boxes(ps.boxes, len(ps.z), image_size, shape[1])
    probe = fit_probe(feats, cells, seed=cfg.seed * 1000 + fit_no)
    scores = probe.weights
    if cfg.select.kind in ("causal", "optimized"):
        if ps.causal_z is None:
            raise UserError(f"--select {cfg.select} needs samples to measure the filters' effects on")
        if cfg.select.kind == "causal":
            scores = causal_effects(G, layer, ps.causal_z, ctx["segment"], ctx["cid"], ctx["r"], cfg.batch_size,
                                    ctx["device"])
        elif ctx["prob"] is None:
            raise UserError("--select optimized-K needs a differentiable instrument (the scene parser)")
        else:
            scores = optimize_ablation(G, layer, ps.causal_z, ctx["prob"], ctx["r"], steps=cfg.opt_steps,
                                       seed=cfg.seed * 1000 + fit_no, device=ctx["device"])
    filters = select_filters(scores, cfg.select)
    after = _measure_removal(G, layer, filters, ctx)
    rng = np.random.default_rng([cfg.seed, fit_no, 7])
    rand = np.stack([rng.choice(shape[0], len(filters), replace=False) for _ in range(cfg.random_draws)])
    random = tuple(_measure_removal(G, layer, f, ctx) for f in rand)
    return FitOutcome(probe, scores, filters, after, rand, random)


def _measure_removal(G, layer, filters, ctx) -> Measured:
    tail, feats = ctx["tail"], ctx["feats"]
    if tail is None:
        imgs = removed_images(G, layer, ctx["z_eval"], filters, ctx["r"], ctx["batch_size"], ctx["device"])
    else:  # the same edit rule on the evaluation samples' cached layer output: only G's tail runs
        a = ablation(len(ctx["r"]), filters)
        bs, dev = ctx["batch_size"], ctx["device"]
        with evaluating(G), torch.no_grad():
            imgs = torch.cat([tail(edit(feats[i:i + bs], a, ctx["r"]).to(dev)).float().cpu()
                              for i in range(0, len(feats), bs)])
    ctx["bar"].update(1)
    return segment_stats(ctx["segment"](imgs), ctx["K"], ctx["reference"], ctx["cid"])


def removed_share(before: Measured, after: Measured, class_id: int) -> float:
    """Share of a class's pixels that disappeared (negative when it grew)."""
    b = before.fractions[class_id]
    return float(1 - after.fractions[class_id] / b) if b > 0 else float("nan")


# --- the analysis ------------------------------------------------------------------------

def compute_forget(G: nn.Module, layer: str, probe_sets: Sequence[ProbeSet], z_eval: torch.Tensor,
                   segment_fn: Segment, classes: Sequence[str], cfg: ForgetConfig,
                   device: torch.device | str = "cpu", concept_prob: ConceptProb | None = None) -> ForgetResult:
    """Find the object's filters ``cfg.fits`` times, remove them, measure against controls.

    Args:
        G: the generator (unchanged afterwards). layer: short child name, e.g. "relu3".
        probe_sets: one per fit, or one shared by all fits (fit f uses set f mod len).
        z_eval: (N, nz) latent codes of the evaluation samples.
        segment_fn: images -> (N, H, W) class ids (``SceneParser.segment``).
        classes: the K class names; ``cfg.concept`` must be one.
        concept_prob: images -> (N,) differentiable object share, for ``optimized-K`` only.
    Returns:
        A :class:`ForgetResult`.
    """
    if cfg.concept not in classes:
        raise UserError(f"concept {cfg.concept!r} is not a class of the scene parser; choose one of "
                        f"{', '.join(classes)}")
    cid = list(classes).index(cfg.concept)
    feats = layer_features(G, layer, z_eval, cfg.batch_size, device)  # (N, C, h, w)
    shape = tuple(feats.shape[1:])
    mean = feats.mean((0, 2, 3))[:, None, None]  # (C, 1, 1)
    r = mean if cfg.replacement == "mean" else torch.zeros_like(mean)
    reference = segment_fn(generate_images(G, z_eval, cfg.batch_size, device)).to(torch.uint8)  # (N, H, W)
    before = segment_stats(reference, len(classes))
    if before.fractions[cid] <= 0:
        raise UserError(f"no {cfg.concept} pixels in the {len(z_eval)} evaluation samples; nothing can be removed "
                        "(pick a concept this model draws)")
    ctx = {"device": device, "image_size": reference.shape[-1], "segment": segment_fn, "K": len(classes),
           "reference": reference, "cid": cid, "r": r, "prob": concept_prob, "z_eval": z_eval,
           "batch_size": cfg.batch_size, "feats": feats, "tail": after_layer(G, layer),
           "bar": tqdm(total=cfg.fits * (1 + cfg.random_draws), desc="forget: removals measured")}
    try:
        fits = tuple(_fit(G, layer, shape, probe_sets[f % len(probe_sets)], cfg, f, ctx) for f in range(cfg.fits))
        shares = [removed_share(before, o.after, cid) for o in fits]
        rep = int(np.argsort(shares, kind="stable")[(len(shares) - 1) // 2])
        curve = _curve(G, layer, shape[0], fits[rep], cfg, ctx)
    finally:
        ctx["bar"].close()
    images = _show_images(G, layer, z_eval[:cfg.show], fits[rep], r, cfg, device)
    return ForgetResult(cfg, tuple(classes), cid, layer, shape, before, fits, rep, *curve,
                        z_eval=z_eval.numpy(), images=images,
                        n_boxes=tuple(sum(len(b) for b in ps.boxes.values()) for ps in probe_sets))


def _curve(G, layer, channels: int, fit: FitOutcome, cfg: ForgetConfig, ctx: dict):
    """Class fractions after removing the first k filters in score order, and k random ones."""
    order = np.argsort(-fit.scores, kind="stable")
    ks = np.unique(np.concatenate([np.round(np.geomspace(1, channels, cfg.curve_points)).astype(int),
                                   [len(fit.filters)] if len(fit.filters) else []]).astype(int))
    ks = ks[:cfg.curve_points + 1]
    rng = np.random.default_rng([cfg.seed, 99])
    draws = min(3, cfg.random_draws)
    ctx["bar"].total += len(ks) * (1 + draws)
    ctx["bar"].refresh()
    curve = [_measure_removal(G, layer, order[:k], ctx) for k in ks]
    rand = [[_measure_removal(G, layer, rng.choice(channels, k, replace=False), ctx) for _ in range(draws)]
            for k in ks]
    return (ks, np.array([m.fractions for m in curve]), np.array([[m.fractions for m in row] for row in rand]),
            np.array([m.scene_changed for m in curve]), np.array([[m.scene_changed for m in row] for row in rand]))


def _show_images(G, layer, z, fit: FitOutcome, r, cfg: ForgetConfig, device) -> dict:
    keep = lambda t: t.numpy().astype(np.float32)  # noqa: E731
    return {"before": keep(generate_images(G, z, cfg.batch_size, device)),
            "after": keep(removed_images(G, layer, z, fit.filters, r, cfg.batch_size, device)),
            "random": keep(removed_images(G, layer, z, fit.random_filters[0], r, cfg.batch_size, device))}


# --- the summary -------------------------------------------------------------------------

def spread(values) -> dict:
    """Median, quartiles, range and the values themselves (NaNs ignored)."""
    v = np.asarray(values, np.float64)
    ok = v[np.isfinite(v)]
    if not len(ok):
        return {"median": None, "values": v.tolist()}
    q = np.percentile(ok, [0, 25, 50, 75, 100])
    return {"median": float(q[2]), "q25": float(q[1]), "q75": float(q[3]), "min": float(q[0]), "max": float(q[4]),
            "values": [round(float(x), 6) for x in v]}


def _fit_row(r: ForgetResult, o: FitOutcome) -> dict:
    cid = r.concept_id
    rand = [removed_share(r.before, m, cid) for m in o.random]
    lost = {c: removed_share(r.before, o.after, k) for k, c in enumerate(r.classes) if k != cid}
    return {"filters": o.filters.tolist(), "n_filters": len(o.filters), "accuracy": o.probe.accuracy,
            "auc": o.probe.auc, "removed_share": removed_share(r.before, o.after, cid),
            "random_removed_share": float(np.mean(rand)), "random_removed_share_draws": rand,
            "scene_changed": o.after.scene_changed,
            "random_scene_changed": float(np.mean([m.scene_changed for m in o.random])),
            "presence_after": float(o.after.presence[cid]), "other_lost_share": lost}


def _curve_summary(r: ForgetResult) -> dict:
    b = r.before.fractions
    lost = lambda f: np.where(b > 0, 1 - f / np.where(b > 0, b, 1), np.nan)  # noqa: E731
    rand = lost(r.curve_random)  # (P, R, K)
    cur = lost(r.curve)  # (P, K)
    out = {"k": r.curve_k.tolist(), "order": np.argsort(-r.fits[r.rep].scores, kind="stable").tolist(),
           "removed_share": cur[:, r.concept_id].tolist(),
           "random_removed_share": rand[:, :, r.concept_id].mean(1).tolist(),
           "random_removed_share_std": rand[:, :, r.concept_id].std(1).tolist(),
           "scene_changed": r.curve_changed.tolist(), "random_scene_changed": r.curve_random_changed.mean(1).tolist(),
           "other_lost_share": {c: cur[:, k].tolist() for k, c in enumerate(r.classes) if k != r.concept_id}}
    k_ref = GAN_DISSECTION["units_removed"] / GAN_DISSECTION["layer_units"] * r.layer_shape[0]
    out["at_gan_dissection_unit_share"] = {"k": round(k_ref, 2), "removed_share": float(
        np.interp(k_ref, r.curve_k, cur[:, r.concept_id]))}
    return out


def summarize(r: ForgetResult) -> dict:
    """The figures of merit: before / after, random control, other classes, spread over fits."""
    cid, o, cfg = r.concept_id, r.fits[r.rep], r.config
    rows = [_fit_row(r, f) for f in r.fits]
    rep = rows[r.rep]
    rand_after = np.array([m.fractions[cid] for m in o.random])
    other = {c: {"before": float(r.before.fractions[k]), "after": float(o.after.fractions[k]),
                 "lost_share": removed_share(r.before, o.after, k),
                 "random_after": float(np.mean([m.fractions[k] for m in o.random]))}
             for k, c in enumerate(r.classes) if k != cid}
    over = {key: spread([row[key] for row in rows])
            for key in ("removed_share", "random_removed_share", "scene_changed", "random_scene_changed",
                        "n_filters", "accuracy", "auc")}
    over["other_lost_share"] = {c: spread([row["other_lost_share"][c] for row in rows]) for c in other}
    med = over["removed_share"]["median"] or 0.0
    goal = {"removed_share_median_ge_0.5": med >= 0.5,
            "random_le_third_of_removed": (over["random_removed_share"]["median"] or 0.0) <= med / 3}
    if "bed" in other:
        goal["bed_lost_median_le_0.2"] = (over["other_lost_share"]["bed"]["median"] or 0.0) <= 0.2
    return {"concept": cfg.concept, "layer": f"G.{r.layer}", "layer_shape": list(r.layer_shape),
            "select": str(cfg.select), "replacement": cfg.replacement, "fits": cfg.fits,
            "representative_fit": r.rep, "filters_removed": rep["filters"], "n_filters_removed": rep["n_filters"],
            "fraction_before": float(r.before.fractions[cid]), "fraction_after": float(o.after.fractions[cid]),
            "removed_share": rep["removed_share"], "presence_before": float(r.before.presence[cid]),
            "presence_after": rep["presence_after"], "random_control_after": float(rand_after.mean()),
            "random_control_after_std": float(rand_after.std()), "random_control_draws": cfg.random_draws,
            "random_removed_share": rep["random_removed_share"], "other_classes": other,
            "scene_changed": rep["scene_changed"], "random_scene_changed": rep["random_scene_changed"],
            "classifier": {"accuracy": rep["accuracy"], "auc": rep["auc"], "positives": o.probe.n_pos,
                           "negatives": o.probe.n_neg},
            "over_fits": over, "per_fit": rows, "curve": _curve_summary(r), "goal": goal,
            "eval_samples": len(r.z_eval), "boxes_per_fit": list(r.n_boxes), "present_threshold": PRESENT,
            "reference": GAN_DISSECTION}
