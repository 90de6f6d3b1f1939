"""ClassifyResult -> the Table 1 bar chart (the only matplotlib import of the analysis)."""

from __future__ import annotations

import numpy as np

from .compute import ClassifyResult


def plot_classify(r: ClassifyResult, title: str = "", ax=None):
    """Bars per feature set: test accuracy (solid) and balanced accuracy (hatched), 1.96-std
    error bars, and the chance level of each (majority class; 1 / classes)."""
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 3.4))
    colors = (["#3b6fb6", "#a0a0a0", "#d98c3a"] + ["#777777"] * 8)[: len(r.feature_sets)]
    x = np.arange(len(r.feature_sets))
    for off, mean, ci, hatch in ((-0.2, r.mean, r.ci95, None), (0.2, r.balanced_mean, r.balanced_ci95, "//")):
        ax.bar(x + off, 100 * mean, 0.38, yerr=100 * ci, color=colors, capsize=3, hatch=hatch,
               edgecolor="white" if hatch else None)
        for i, (m, c) in enumerate(zip(mean, ci)):
            ax.text(i + off, 100 * (m + c) + 1, f"{100 * m:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(100 * r.chance, color="k", ls=":", lw=1, label="accuracy (solid): chance = majority class")
    ax.axhline(100 * r.balanced_chance, color="k", ls="--", lw=0.8,
               label="balanced accuracy (hatched): chance = 1 / classes")
    ax.set_xticks(x, [f"{n}\n({d} dims)" for n, d in zip(r.feature_sets, r.dims)], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 115)
    n, R = r.protocol.draws.shape[1], len(r.protocol.draws)
    ax.set_title(title or f"linear L2-SVM, {n} labels" + (f", {R} draws (mean +- 1.96 std)" if R > 1 else ""),
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=1, framealpha=0.9)
    return fig


FIGURES = {"classify": plot_classify}
