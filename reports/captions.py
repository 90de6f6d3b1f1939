"""Captions in the paper's style, stating the numbers measured in each section's summary.json.

Each caption function takes the section's summary (a dict) and returns one paragraph.
A number the summary lacks is written as "n/a" (older or partial results), never guessed.
Sections name their caption (``reports.report.Section.caption``); a section without one
uses its analysis's registered caption (classify, neighbors, modes, checkerboard and
upsampling carry theirs), else :func:`generic`.
"""

from __future__ import annotations

from typing import Any

from gan_viz.instruments import caption_note


def get(s: dict, path: str, default: Any = None) -> Any:
    """``get(s, "a.b.c")`` -> s["a"]["b"]["c"], or ``default`` where a key is missing."""
    cur: Any = s
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def num(x: Any, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def fig5(s: dict) -> str:
    t, r = get(s, "trained", {}), get(s, "random", {})
    energy = ""
    if "object_energy_fraction" in t:
        energy = (f" On the trained D, {pct(t['object_energy_fraction'])} of the guided-backprop energy lies on "
                  f"object pixels (they cover {pct(t.get('object_pixel_fraction'))}); random D: "
                  f"{pct(r.get('object_energy_fraction'))}.")
        per = t.get("per_filter", {})
        if per:
            energy += " Preferred classes: " + ", ".join(
                f"filter {f}: {v['best_class']} (lift {v['lift']:.2f})" for f, v in per.items()) + "."
    lead = f"On generated images, not real ones ({s['fallback']}). " if s.get("fallback") else ""
    return lead + (f"Guided backpropagation ({get(s, 'rule')} rule) of the maximal axis-aligned responses of filters "
            f"{get(s, 'filters')} of {get(s, 'layer')}, each on its top {get(s, 'top_k')} of {get(s, 'n_images')} "
            f"{get(s, 'images')}; random-filter baseline beside the trained discriminator. Mean top activation "
            f"{num(t.get('mean_top_activation'), '.4f')} trained vs {num(r.get('mean_top_activation'), '.4f')} random."
            + energy + (" " + caption_note(s["instrument"]) if s.get("instrument") else ""))


def generic(s: dict) -> str:
    """A caption for sections whose summaries this module does not know in detail: its scalar numbers."""
    flat = {k: v for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    inner = {f"{k}.{k2}": v2 for k, v in s.items() if isinstance(v, dict)
             for k2, v2 in v.items() if isinstance(v2, (int, float)) and not isinstance(v2, bool)}
    items = list(flat.items()) + list(inner.items())
    return "Measured: " + "; ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                    for k, v in items[:14]) + "."
