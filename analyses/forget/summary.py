"""The figures of merit of a forget result: per fit, per judge, over fits; and the caption.

The analysis computes (:mod:`.compute`); this module turns a :class:`~.result.ForgetResult`
into ``summary.json`` and words.
"""

from __future__ import annotations

import numpy as np

from .result import GAN_DISSECTION, PRESENT, FitOutcome, ForgetResult, Measured, removed_share


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


def _unmeasured_summary(r: ForgetResult) -> dict:
    """What a run without an instrument has: the layer, the rule, each fit's filters and probe scores."""
    cfg, o = r.config, r.fits[r.rep]
    rows = [{"filters": f.filters.tolist(), "n_filters": len(f.filters), "accuracy": f.probe.accuracy,
             "auc": f.probe.auc} for f in r.fits]
    return {"concept": cfg.concept, "layer": f"G.{r.layer}", "layer_shape": list(r.layer_shape),
            "select": str(cfg.select), "replacement": cfg.replacement, "fits": cfg.fits, "measured": False,
            "representative_fit": r.rep, "filters_removed": rows[r.rep]["filters"],
            "n_filters_removed": rows[r.rep]["n_filters"],
            "classifier": {"accuracy": o.probe.accuracy, "auc": o.probe.auc, "positives": o.probe.n_pos,
                           "negatives": o.probe.n_neg},
            "over_fits": {k: spread([row[k] for row in rows]) for k in ("n_filters", "accuracy", "auc")},
            "per_fit": rows, "shown_samples": int(len(r.images["before"])), "boxes_per_fit": list(r.n_boxes)}


def _judged(m: Measured, j: int, r: ForgetResult) -> Measured:
    return m if j == 0 else m.others[r.judges[j][0]]


def _rule_by_judge(r: ForgetResult, j: int, outcome) -> tuple[float, float]:
    """(object removed, mean over its random draws) of one fit's rule, as judge ``j`` measured it."""
    classes = r.judges[j][1] if r.judges else r.classes
    cid = list(classes).index(r.config.concept)
    before = _judged(r.before, j, r)
    return (removed_share(before, _judged(outcome.after, j, r), cid),
            float(np.mean([removed_share(before, _judged(m, j, r), cid) for m in outcome.random])))


def removal_by_judge(r: ForgetResult) -> dict:
    """Per judge: the object removed by the selected filters and by as many random ones, over fits,
    and (where measured) the same for the paper's weight > 0 rule."""
    out = {}
    for j, (name, classes) in enumerate(r.judges or (("instrument", r.classes),)):
        cid = list(classes).index(r.config.concept)
        rows = [_rule_by_judge(r, j, o) for o in r.fits]
        rec = {"fraction_before": float(_judged(r.before, j, r).fractions[cid]),
               "removed_share": spread([a for a, _ in rows]), "random_removed_share": spread([b for _, b in rows])}
        if all(o.paper is not None for o in r.fits):
            paper = [_rule_by_judge(r, j, o.paper) for o in r.fits]
            rec["paper_rule"] = {"removed_share": spread([a for a, _ in paper]),
                                 "random_removed_share": spread([b for _, b in paper])}
        out[name] = rec
    return out


def _separation(r: ForgetResult, by: dict) -> dict:
    """The headline (held-out) and the selecting instrument's figures side by side, flat."""
    names = list(by)
    med = lambda rec, key: rec[key]["median"]  # noqa: E731
    out = {"judge": names[0], "judges": names,
           "removed_share_median": med(by[names[0]], "removed_share"),
           "random_removed_share_median": med(by[names[0]], "random_removed_share")}
    if len(names) > 1:
        out["selecting_instrument_removed_share_median"] = med(by[names[1]], "removed_share")
        out["selecting_instrument_random_removed_share_median"] = med(by[names[1]], "random_removed_share")
    if "paper_rule" in by[names[0]]:
        out["paper_rule_removed_share_median"] = by[names[0]]["paper_rule"]["removed_share"]["median"]
        out["paper_rule_random_removed_share_median"] = by[names[0]]["paper_rule"]["random_removed_share"]["median"]
        out["paper_rule_n_filters"] = spread([len(o.paper.filters) for o in r.fits])
    return out


def summarize(r: ForgetResult) -> dict:
    """The figures of merit: before / after, random control, other classes, spread over fits
    (without an instrument: the probe fits and the filters removed, ``measured`` false)."""
    if r.before is None:
        return _unmeasured_summary(r)
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
            "select": str(cfg.select), "replacement": cfg.replacement, "fits": cfg.fits, "measured": True,
            "opt_steps": cfg.opt_steps if cfg.select.kind == "optimized" else None,
            "opt_size": cfg.opt_size if cfg.select.kind == "optimized" else None,
            "paper_rule_measured": cfg.paper_rule and cfg.select.kind != "positive",
            "replacement_mean_over": "probe samples" if cfg.replacement == "mean" else None,
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
            "reference": GAN_DISSECTION, "removal_by": (by := removal_by_judge(r)), **_separation(r, by)}


def caption(s: dict) -> str:
    """The report's caption of a forget summary (says which instrument measured, and when it was forced)."""
    from gan_viz.instruments import caption_note

    head = (f"Forgetting to draw {s.get('concept')}s: {s.get('n_filters_removed')} filters of {s.get('layer')} "
            f"chosen by the {s.get('select')} rule (probe AUC {s.get('classifier', {}).get('auc', float('nan')):.3f}) "
            f"are removed ({s.get('replacement')}"
            + (f"; the ablation optimised {s['opt_steps']} Adam steps per fit" if s.get("opt_steps") else "")
            + (f" on the samples averaged down to {s['opt_size']}x{s['opt_size']}" if s.get("opt_size") else "")
            + ")")
    if not s.get("measured"):
        return head + f"; {s.get('fits')} probe fit(s) on hand boxes. Nothing is measured. " + caption_note(
            s.get("instrument") or {})
    note = caption_note(s.get("instrument") or {}).replace("Measured by", "Filters selected with", 1)
    judge = (s.get("evaluation") or {}).get("judge") or {}
    if judge:
        iou = judge.get("held_out_mean_iou") or {}
        note += (f" Removal judged by {judge['name']}" + (f" (held-out mean IoU {', '.join(f'{v:.3f} at {k}' for k, v in iou.items())})"
                                                       if iou else "") + ".")
    return head + "; " + measured_sentence(s) + " " + note


def measured_sentence(s: dict) -> str:
    """What a measured forget summary found: held-out judge first, selecting instrument beside it,
    random controls, the paper's rule, the scene (for captions)."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    ev = s.get("evaluation") or {}
    judge, names = s.get("judge"), s.get("judges") or []
    bed = (s.get("other_classes") or {}).get("bed") or {}
    beds = f"; beds {pct(bed.get('before'))} -> {pct(bed.get('after'))}" if bed else ""
    text = (f"measured on {s.get('eval_samples')} fresh samples (same z with and without), over {s.get('fits')} "
            f"fit(s): median {pct(s.get('removed_share_median'))} of the {s.get('concept')} pixels removed as "
            f"{judge} reads them")
    if ev.get("held_out"):
        text += (f" (an instrument the selection never saw; the selecting {names[1] if len(names) > 1 else ''} "
                 f"reads {pct(s.get('selecting_instrument_removed_share_median'))})")
    else:
        text += " (the selecting instrument itself: not an independent measurement)"
    text += f"; as many random filters: {pct(s.get('random_removed_share_median'))}."
    if s.get("paper_rule_removed_share_median") is not None:
        text += (f" The paper's rule (every probe weight > 0, median {s['paper_rule_n_filters']['median']:.0f} "
                 f"filters): {pct(s['paper_rule_removed_share_median'])}, random "
                 f"{pct(s.get('paper_rule_random_removed_share_median'))}.")
    return text + (f" Median fit: scene pixels changed {pct(s.get('scene_changed'))} (random "
                   f"{pct(s.get('random_scene_changed'))}){beds}.")
