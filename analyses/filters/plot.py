"""FiltersResult -> figures: flagged filters over training and the last checkpoint's weight cosines (the
package's only matplotlib import)."""

from __future__ import annotations

import numpy as np

from .compute import KINDS, FiltersResult, counts


def plot_counts(r: FiltersResult):
    """Share of flagged filters per layer over the checkpoints, one panel per kind."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True)
    cmap = {"G": plt.get_cmap("Blues"), "D": plt.get_cmap("Oranges")}
    for ax, kind in zip(axes, KINDS):
        c = counts(r, kind)
        top = np.nanmax([100 * c[:, j] / r.n_filters[n] for j, n in enumerate(r.layers)], initial=0.0)
        ax.set_ylim(0, max(1.0, 1.1 * top))
        for j, name in enumerate(r.layers):
            net = name.split(".")[0]
            same = [n for n in r.layers if n.startswith(net + ".")]
            color = cmap[net](0.35 + 0.6 * same.index(name) / max(1, len(same) - 1))
            ax.plot(r.steps, 100 * c[:, j] / r.n_filters[name], marker=".", color=color, label=name)
        ax.set_title({"dead": "dead (no variance over samples)", "duplicate": "near-duplicate of another filter",
                      "oscillating": "update reversed since the previous checkpoint"}[kind], fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("% of the layer's filters")
    axes[-1].legend(fontsize=7, ncol=2)
    fig.suptitle("Filters of G (blue) and D (orange) over training", fontsize=10)
    fig.tight_layout()
    return fig


def plot_similarity(r: FiltersResult):
    """Weight cosine between the filters of each layer at the last checkpoint."""
    import matplotlib.pyplot as plt

    n = len(r.layers)
    cols = (n + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 6.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    g = [x for x in r.layers if x.startswith("G.")]
    d = [x for x in r.layers if x.startswith("D.")]
    for row, names in enumerate((g, d)):
        for col, name in enumerate(names[:cols]):
            ax = axes[row, col]
            ax.imshow(r.arrays[f"weight_cos_last_{name}"], cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(f"{name}: {len(r.duplicate[name][-1])} dup, {len(r.dead[name][-1])} dead", fontsize=8)
    fig.suptitle(f"Weight cosine between filters at step {r.steps[-1]} (red: alike)", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"filters_over_training": plot_counts, "filters_similarity": plot_similarity}
