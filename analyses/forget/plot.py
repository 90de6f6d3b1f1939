"""Figures of the forgetting analysis: the paper's sample rows, and the removal curve.

Example:
    >>> fig = plot_forget_samples(result)      # samples; same z without the filters; random control
    >>> fig = plot_removal_curve(result)       # object pixels removed vs filters removed, per-fit spread
"""

from __future__ import annotations

import numpy as np

from gan_viz.images import to_uint8

from .result import GAN_DISSECTION, ForgetResult
from .summary import summarize


def plot_forget_samples(r: ForgetResult, control: bool = True):
    """The paper's layout: a row of samples and below it the same z with the filters removed
    (and a third row with as many random filters removed, unless ``control=False``)."""
    import matplotlib.pyplot as plt

    fit = r.fits[r.rep]
    k, concept = len(fit.filters), r.config.concept
    rows = [("samples", r.images["before"]), (f"{k} {concept} filters removed", r.images["after"])]
    if control:
        rows.append((f"{k} random filters removed", r.images["random"]))
    n = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for i, (title, imgs) in enumerate(rows):
        pics = to_uint8(imgs)
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(pics[j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"Forgetting to draw {concept}s: G.{r.layer}, --select {r.config.select} "
                 f"(median of {len(r.fits)} fits)", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def plot_removal_curve(r: ForgetResult, tag: str = ""):
    """Left: object pixels removed vs filters removed (score order) beside random filters and
    the other classes, with GAN Dissection's point. Right: every fit's outcome (spread)."""
    import matplotlib.pyplot as plt

    s = summarize(r)
    c = s["curve"]
    concept = r.config.concept
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1.2]})
    k = np.asarray(c["k"])
    pct = lambda v: 100 * np.asarray(v, np.float64)  # noqa: E731
    ax.plot(k, pct(c["removed_share"]), "o-", color="C0", label=f"{concept} pixels, filters in score order")
    m, sd = pct(c["random_removed_share"]), pct(c["random_removed_share_std"])
    ax.plot(k, m, "s--", color="C7", label=f"{concept} pixels, random filters (mean)")
    ax.fill_between(k, m - sd, m + sd, color="C7", alpha=0.2)
    for name, v in c["other_lost_share"].items():
        bed = name == "bed"
        ax.plot(k, pct(v), "-", color="C3" if bed else "0.75", lw=1.6 if bed else 0.8,
                label="bed pixels lost" if bed else None, zorder=3 if bed else 1)
    ax.plot(k, pct(c["scene_changed"]), ":", color="k", label="other pixels whose class changed")
    ax.plot(k, pct(c["random_scene_changed"]), ":", color="C7", label="... with random filters")
    ax.axvline(len(r.fits[r.rep].filters), color="C0", lw=0.8, ls=":", label=f"--select {r.config.select}")
    gd = GAN_DISSECTION
    ax.plot([gd["units_removed"] / gd["layer_units"] * r.layer_shape[0]], [100 * gd["window_pixels_removed"]],
            "*", ms=12, color="C1", label=f"GAN Dissection: {gd['units_removed']}/{gd['layer_units']} units, "
                                          f"{100 * gd['window_pixels_removed']:.1f}% (scaled to {r.layer_shape[0]})")
    ax.set_xscale("log")
    ax.set_ylim(-60, 105)  # a class that grows a lot (lost share << 0) is clipped
    ax.set_xlabel(f"filters removed from G.{r.layer} (of {r.layer_shape[0]})")
    ax.set_ylabel("pixels removed (%)\n(grey: other classes, clipped at -60)", fontsize=8)
    if tag:  # the instruments whose numbers these are (loudly when forced or out of their domain)
        fig.suptitle(tag, fontsize=8, color="darkred" if "FORCED" in tag else "black")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    _plot_fits(bx, s, concept)
    fig.tight_layout()
    return fig


def _plot_fits(ax, s: dict, concept: str) -> None:
    """Each fit's object removed, random control and bed lost (dots), medians as bars."""
    rows = s["per_fit"]
    series = [(f"{concept}\nremoved", [x["removed_share"] for x in rows], "C0"),
              ("random\ncontrol", [x["random_removed_share"] for x in rows], "C7")]
    if rows and "bed" in rows[0]["other_lost_share"]:
        series.append(("bed\nlost", [x["other_lost_share"]["bed"] for x in rows], "C3"))
    series += [("scene\nchanged", [x["scene_changed"] for x in rows], "k"),
               ("scene ch.\nrandom", [x["random_scene_changed"] for x in rows], "C7")]
    for i, (_, vals, color) in enumerate(series):
        v = 100 * np.asarray(vals, np.float64)
        ax.bar(i, np.nanmedian(v), color=color, alpha=0.35, width=0.6)
        ax.plot(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, "o", color=color, ms=4)
    ax.set_xticks(range(len(series)), [n for n, _, _ in series], fontsize=7)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("pixels (%)")
    ax.set_title(f"{len(rows)} fits (bars: median)", fontsize=9)
