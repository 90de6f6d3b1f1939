"""AuditResult -> summary.json's figures of merit, the report's caption and the command's digest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .compute import AuditResult, LayerAudit
from .dissect import LIFT_THRESHOLD, PRECISION_THRESHOLD

if TYPE_CHECKING:
    from .run import Plan


def _layer_summary(a: LayerAudit, names) -> dict:
    d = {"filters": a.shape[0], "map": list(a.shape[1:]), "dead": int(a.dead.sum()),
         "selectivity_median": float(np.median(a.selectivity)),
         "active_fraction_median": float(np.median(a.active_fraction))}
    if a.labels is not None:
        d["labelled"] = int((a.labels >= 0).sum())
        d["labels"] = {c: int((a.labels == i).sum()) for i, c in enumerate(names) if (a.labels == i).any()}
        d["best_iou_median"] = float(np.median(a.iou.max(1)))
        d["best_iou_max"] = float(a.iou.max())
        d["mask_fraction_median"] = float(np.median(a.mask_fraction))
        d["precision_labelled"] = int((a.precision_labels >= 0).sum())
        d["precision_labels"] = {c: int((a.precision_labels == i).sum()) for i, c in enumerate(names)
                                 if (a.precision_labels == i).any()}
        d["best_precision_median"] = float(np.median(a.precision.max(1)))
    return d


def summary_of(r: AuditResult, S, plan: "Plan") -> dict:
    """The figures of merit (``summary.json``): per layer, trained and random (``S``: the subject,
    ``plan``: what the runner settled, :class:`~.run.Plan`)."""
    from gan_viz.instruments import instrument_record

    layers: dict = {}
    for a in r.audits:
        layers.setdefault(a.name, {})[a.network] = _layer_summary(a, r.class_names)
    dissected = {tag: any(a.net == tag and a.labels is not None for a in r.audits) for tag in ("D", "G")
                 if getattr(plan, tag) is not None}
    return {"checkpoint": S.where, "checkpoint_source": S.source, "n_images": r.n_images,
            "sources": plan.notes, "class_names": list(r.class_names), "iou_threshold": r.iou_threshold,
            "top_fraction": r.top_fraction, "random_seed": r.random_seed,
            "instrument": instrument_record(plan.instrument, plan.reason), "dissected": dissected,
            "threshold_rule": "top-fraction quantile of each filter's activations at the layer's resolution; "
                              "maps upsampled bilinearly to the image size, then thresholded",
            "precision_rule": f"label = the class holding >= {PRECISION_THRESHOLD} of the filter's mask when "
                              f"that is >= {LIFT_THRESHOLD}x the class's pixel share (IoU <= mask / class "
                              "size, so IoU labels cannot fire on large classes)",
            "layers": layers, "weights": r.weights, **({"fallback": r.fallback} if r.fallback else {})}


def caption(s: dict) -> str:
    """The report's caption of an audit summary (dissection labels only where masks existed)."""
    from gan_viz.instruments import caption_note

    f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    rows = []
    for name, per in (s.get("layers") or {}).items():
        t, r = per.get("trained", {}), per.get("random", {})
        if "labelled" in t:
            rows.append(f"{name}: {t['labelled']}/{t['filters']} IoU-labelled (random {r.get('labelled')}), "
                        f"{t.get('precision_labelled')} precision-labelled (random {r.get('precision_labelled')}), "
                        f"selectivity {f(t.get('selectivity_median'))} (random {f(r.get('selectivity_median'))})")
        else:
            rows.append(f"{name}: selectivity {f(t.get('selectivity_median'))}, dead {t.get('dead')}/{t.get('filters')}")
    lead = f"D on generated images, not real ones ({s['fallback']}). " if s.get("fallback") else ""
    return lead + (f"Network Dissection on {s.get('n_images')} images ({'; '.join((s.get('sources') or {}).values())}): "
            f"a filter is labelled with a class when its IoU exceeds {s.get('iou_threshold')} (top "
            f"{s.get('top_fraction')} of activations). " + "; ".join(rows) + ". "
            + caption_note(s.get("instrument") or {}))



def lines(s: dict) -> list[str]:
    """The command's digest of a summary: one line per layer, the sources, the instrument."""
    from gan_viz.instruments import record_line

    out = []
    for name, per in s["layers"].items():
        line = "  ".join(f"{net}: sel {v['selectivity_median']:.3f}" + (
            f", labelled IoU {v['labelled']}/{v['filters']}, precision {v['precision_labelled']}/{v['filters']}"
            if "labelled" in v else "") for net, v in per.items())
        out.append(f"{name:<10} {line}")
    out += [f"{net}: {note}" for net, note in s["sources"].items()]
    return out + [record_line(s["instrument"])]
