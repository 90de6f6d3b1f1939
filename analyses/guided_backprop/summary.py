"""GuidedBackpropResult -> summary.json's figures of merit and the report's caption."""

from __future__ import annotations

import numpy as np

from .compute import ClassEnergy, GuidedBackpropResult
from .plot import SCALES


def summary_of(r: GuidedBackpropResult, note: str, subject) -> dict:
    """The figures of merit of a result (``summary.json``)."""
    out = {"checkpoint": subject.where, "checkpoint_source": subject.source, "subject": subject.describe(),
           "layer": f"D.{r.layer}", "rule": r.rule, "filters": list(r.filters), "top_k": r.k,
           "n_images": r.n_images, "images": note, "random_seed": r.random_seed, "display": SCALES}
    if r.fallback:
        out["fallback"] = r.fallback  # why generated images stand in for real ones
    for tag in ("trained", "random"):
        p = getattr(r, tag)
        norms = np.sqrt((p.maps.astype(np.float64) ** 2).reshape(len(p.maps), -1).sum(1))
        out[tag] = {"top_activations": {str(f): np.round(p.activations[i * r.k:(i + 1) * r.k].astype(float), 6).tolist()
                                        for i, f in enumerate(r.filters)},
                    "mean_top_activation": float(p.activations.mean()),
                    "median_map_l2": float(np.median(norms)),
                    "timing_s": {"scan": round(p.scan_s, 3), "backprop": round(p.backprop_s, 3)}}
        if tag in r.energy:
            e = r.energy[tag]
            out[tag]["object_energy_fraction"] = float(e.object_energy.mean())
            out[tag]["object_pixel_fraction"] = float(e.object_pixels.mean())
            out[tag]["per_filter"] = {str(f): _best_class(e, i, r.class_names) for i, f in enumerate(r.filters)}
    return out


def _best_class(e: ClassEnergy, i: int, names) -> dict:
    """The class a filter's energy prefers most over its pixel share (classes >= 1% of pixels)."""
    lift = np.where(e.pixels[i] >= 0.01, e.lift[i], -np.inf)
    c = int(np.argmax(lift))
    return {"best_class": names[c], "lift": round(float(lift[c]), 3), "energy": round(float(e.energy[i, c]), 4),
            "pixels": round(float(e.pixels[i, c]), 4), "object_energy": round(float(e.object_energy[i]), 4)}


def caption(s: dict) -> str:
    """The report's caption of a summary."""
    t, r = s.get("trained", {}), s.get("random", {})
    text = f"On generated images, not real ones ({s['fallback']}). " if s.get("fallback") else ""
    text += (f"Guided backpropagation ({s.get('rule')} rule) of the maximal axis-aligned responses of filters "
            f"{s.get('filters')} of {s.get('layer')}, each on its top {s.get('top_k')} of {s.get('n_images')} "
            f"{s.get('images')}; random-filter baseline beside the trained discriminator. Mean top activation "
            f"{t.get('mean_top_activation', float('nan')):.4f} trained vs "
            f"{r.get('mean_top_activation', float('nan')):.4f} random.")
    if "object_energy_fraction" in t:
        text += (f" On the trained D, {100 * t['object_energy_fraction']:.1f}% of the guided-backprop energy lies "
                 f"on object pixels (they cover {100 * t.get('object_pixel_fraction', float('nan')):.1f}%).")
    return text



def lines(s: dict) -> list[str]:
    """The command's digest of a summary: the layer and images, then one line per network."""
    out = [f"{s['layer']} ({s['rule']} rule), filters {s['filters']}, top {s['top_k']} of {s['n_images']} "
           f"{s['images']}"]
    for tag in ("random", "trained"):
        t = s[tag]
        extra = f", object energy {t['object_energy_fraction']:.3f} (pixels {t['object_pixel_fraction']:.3f})" \
            if "object_energy_fraction" in t else ""
        out.append(f"  {tag:>7}: mean top activation {t['mean_top_activation']:.4f}, "
                   f"median map L2 {t['median_map_l2']:.4g}{extra}")
    return out
