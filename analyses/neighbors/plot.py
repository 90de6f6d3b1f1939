"""NeighborsResult -> figures: samples beside their nearest training images, distance histograms
(the only matplotlib import of the analysis)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .compute import NeighborsResult


def plot_neighbors(r: NeighborsResult, samples: np.ndarray, train: Mapping | np.ndarray, rows: np.ndarray, title: str = ""):
    """Each chosen sample beside its nearest training images in every space.

    Args:
        samples: (N, H, W, 3) uint8 generated. train: searched position -> (H, W, 3) uint8 training image (an array or a dict of those shown).
        rows: which samples to show, top to bottom.
    """
    import matplotlib.pyplot as plt

    names = list(r.spaces)
    k = r.spaces[names[0]].distances.shape[1]
    cols = 1 + k * len(names)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.9 + 0.4, len(rows) * 0.95 + 0.5), squeeze=False)
    for a, i in enumerate(rows):
        axes[a, 0].imshow(samples[i], interpolation="nearest")
        for s, name in enumerate(names):
            sp = r.spaces[name]
            for j in range(k):
                ax = axes[a, 1 + s * k + j]
                ax.imshow(train[sp.indices[i, j]], interpolation="nearest")
                ax.set_title(f"{sp.distances[i, j]:.3f}", fontsize=6, pad=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("sample", fontsize=7, pad=8)
    for s, name in enumerate(names):
        axes[0, 1 + s * k].annotate(f"nearest training images, {name} space", (0, 1.35), xycoords="axes fraction",
                                    fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def plot_distances(r: NeighborsResult, verdict: str = ""):
    """Histograms of nearest-training distances: samples vs held-out real, threshold marked.
    ``verdict``: :func:`cannot_tell`'s reason, said in the titles instead of a score."""
    import matplotlib.pyplot as plt

    names = list(r.spaces)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = r.spaces[name]
        bins = np.linspace(0, max(s.distances[:, 0].max(), s.heldout_nn.max()) * 1.02, 40)
        ax.hist(s.heldout_nn, bins, alpha=0.6, density=True, color="#a0a0a0", label="held-out real")
        ax.hist(s.distances[:, 0], bins, alpha=0.6, density=True, color="#3b6fb6", label="generated")
        ax.axvline(s.threshold, color="#d04040", ls="--", lw=1, label=f"{100 * s.quantile:g}% of held-out")
        score = f"cannot tell (measured {100 * s.memorisation:.1f}%)" if verdict else f"{100 * s.memorisation:.1f}%"
        ax.set_title(f"{name}: memorisation {score} (like held-out: {100 * s.quantile:g}%)", fontsize=9)
        if s.copying is not None and s.copying.C_T is not None:
            ax.text(0.98, 0.6, f"data copying C_T {s.copying.C_T:.2f}", transform=ax.transAxes, ha="right",
                    fontsize=7)
        ax.set_xlabel("distance to nearest training image")
        ax.legend(fontsize=7)
    if verdict:
        fig.suptitle(f"Memorisation score {verdict}", fontsize=8, color="darkred", wrap=True)
        fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig
