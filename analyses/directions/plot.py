"""Figures of ``gan-viz directions`` (the only matplotlib): effect curves per concept with the random band,
image grids along the directions, the entanglement heatmap and the method agreement table."""

from __future__ import annotations

import numpy as np

from gan_viz.images import grid, to_uint8

from .compute import DirectionsResult
from .summary import members

PAD = 2


def plot_effect_curves(r: DirectionsResult, concept: str, tag: str = ""):
    """One panel per method: the judged mean fraction of ``concept`` along its direction, beside the
    envelope of the random directions and their negatives (shaded) and the band's slopes (dashed: a
    direction is above random when its slope is steeper)."""
    import matplotlib.pyplot as plt

    idx, c = members(r, concept), r.class_names.index(concept)
    rc = r.random_curves[:, :, c]
    env = np.concatenate([rc, rc[:, ::-1]])  # the negatives walk the same images in reverse
    fig, axes = plt.subplots(1, max(1, len(idx)), figsize=(2.6 * max(1, len(idx)), 2.8), sharey=True, squeeze=False)
    for ax, i in zip(axes[0], idx):
        ax.fill_between(r.alphas, env.min(0), env.max(0), color="0.85", label=f"{len(env)} random (+-)")
        a = np.asarray(r.alphas, dtype=float) - np.mean(r.alphas)
        for sign in (1, -1):
            ax.plot(r.alphas, env.mean(0) + sign * r.band[c] * a, "--", color="0.45", lw=0.8,
                    label="band slope" if sign > 0 else None)
        ax.plot(r.alphas, r.curves[i, :, c], "o-", color="C3", lw=1.5, label=r.keys[i])
        ax.set_title(f"{r.methods[i]}: slope {r.slopes[i, c]:+.3f}\n(band {r.band[c]:.3f})", fontsize=8)
        ax.set_xlabel("alpha (z + alpha v, |v| = 1)", fontsize=7)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel(f"{concept} pixel fraction (judge)", fontsize=8)
    fig.suptitle(f"{tag + ' ' if tag else ''}{concept}: effect curves on {len(r.eval_z)} fresh samples", fontsize=9)
    fig.tight_layout()
    return fig


def plot_grid(r: DirectionsResult, method: str):
    """Images along every direction of ``method``: a block of rows per direction (the same z rows in
    every block), one column per alpha."""
    import matplotlib.pyplot as plt

    idx = [i for i in range(len(r.keys)) if r.methods[i] == method]
    blocks = r.grid[idx]  # (D', rows, A, C, H, W)
    D, B, A = blocks.shape[:3]
    h, w = blocks.shape[-2:]
    sheet = grid(to_uint8(blocks.reshape(D * B * A, *blocks.shape[3:])), nrow=A, pad=PAD)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.7 * A + 1.5), 0.7 * D * B + 0.8))
    ax.imshow(sheet, interpolation="nearest")
    ax.set_xticks([PAD + j * (w + PAD) + w / 2 for j in range(A)], [f"{a:.2f}" for a in r.alphas], fontsize=7)
    ax.set_yticks([PAD + (k * B + B / 2) * (h + PAD) for k in range(D)],
                  [f"{r.keys[i]}" + (f"\n= {r.concepts[i]}" if r.concepts[i] and "/" in r.keys[i]
                                     and r.keys[i].split("/")[0] in ("ganspace", "sefa") else "") for i in idx],
                  fontsize=6)
    ax.set_xlabel("alpha", fontsize=8)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title(f"{method}: images along each direction", fontsize=9)
    fig.tight_layout()
    return fig


def plot_entanglement(r: DirectionsResult, concepts, tag: str = ""):
    """Heatmap: a row per (concept, method) direction, a column per class: that class's judged slope
    per unit slope of the concept (clipped to +-2 for the colours; the numbers are printed)."""
    import matplotlib.pyplot as plt

    from .judge import entanglement

    idx = [i for c in concepts for i in members(r, c)]
    rows = np.stack([entanglement(r.slopes[i], r.class_names.index(r.concepts[i])) for i in idx]) if idx else \
        np.zeros((0, len(r.class_names)))
    fig, ax = plt.subplots(figsize=(0.6 * len(r.class_names) + 2.5, 0.35 * len(idx) + 1.5))
    ax.imshow(np.clip(np.nan_to_num(rows), -2, 2), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    for a in range(rows.shape[0]):
        for b in range(rows.shape[1]):
            ax.text(b, a, "" if not np.isfinite(rows[a, b]) else f"{rows[a, b]:+.1f}", ha="center", va="center",
                    fontsize=5)
    ax.set_xticks(range(len(r.class_names)), r.class_names, rotation=60, fontsize=7)
    ax.set_yticks(range(len(idx)), [f"{r.concepts[i]} / {r.methods[i]}" for i in idx], fontsize=7)
    ax.set_title(f"{tag + ' ' if tag else ''}entanglement: class slope per unit concept slope", fontsize=9)
    fig.tight_layout()
    return fig


def plot_agreement(concept_rows: dict):
    """The method agreement table: per concept the cosine of each pair of methods' directions, beside
    the largest |cos| of two random directions."""
    import matplotlib.pyplot as plt

    cells = [[c, pair, f"{v:+.2f}", f"{row['random_floor']['max_abs']:.2f}"]
             for c, row in concept_rows.items() for pair, v in row["agreement"].items()] or [["-", "-", "-", "-"]]
    fig, ax = plt.subplots(figsize=(5.5, 0.25 * len(cells) + 0.8))
    ax.set_axis_off()
    t = ax.table(cellText=cells, colLabels=["concept", "methods", "cosine", "random max |cos|"], loc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    ax.set_title("method agreement (cosine between directions of one concept)", fontsize=9)
    fig.tight_layout()
    return fig
