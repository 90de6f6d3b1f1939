"""WalkResult -> figures: the paper's Fig. 4 grid and the measures along the walk (the package's only
matplotlib import)."""

from __future__ import annotations

import numpy as np

from gan_viz.images import to_uint8

from .compute import PRESENT, WalkResult

SURFACES = ("wall", "floor", "ceiling")  # left out of the class plot: they are every room's background


def walk_rows(r: WalkResult) -> np.ndarray:
    """(P-1, S+1) frame indices: one row per segment, both of its anchors included."""
    return np.arange(len(r.anchors) - 1)[:, None] * r.steps + np.arange(r.steps + 1)[None, :]


def plot_walk_grid(r: WalkResult, pad: int = 2):
    """The paper's Fig. 4 layout: one row per segment, from anchor k to anchor k+1.

    Frames after a sharp step are outlined in red.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from gan_viz.images import grid

    rows = walk_rows(r)
    pics = to_uint8(r.frames[rows.ravel()])  # ((P-1)*(S+1), H, W, 3)
    h, w = pics.shape[1:3]
    sheet = grid(pics, nrow=r.steps + 1, pad=pad)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * (r.steps + 1)), max(2.0, 0.75 * len(rows)) + 0.6))
    ax.imshow(sheet, interpolation="nearest")
    for i in np.nonzero(r.sharp)[0]:
        row, col = divmod(int(i), r.steps)
        ax.add_patch(Rectangle((pad + (col + 1) * (w + pad) - 1.5, pad + row * (h + pad) - 1.5), w + 2, h + 2,
                               fill=False, edgecolor="red", linewidth=1.5))
    ax.set_yticks([pad + k * (h + pad) + h / 2 for k in range(len(rows))],
                  [f"z{k}\u2192z{k + 1}" for k in range(len(rows))], fontsize=7)
    ax.set_xticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title(f"latent walk through {len(r.anchors)} points, {r.steps} steps/segment ({r.interp}); "
                 f"{int(r.sharp.sum())} sharp steps (red)", fontsize=8)
    return fig


def plot_walk_measures(r: WalkResult, tag: str = ""):
    """Image change per step (sharp steps marked) and, with an instrument, class fractions per frame
    (``tag``: the instrument, as :func:`gan_viz.instruments.figure_tag` names it, in the panel's title)."""
    import matplotlib.pyplot as plt

    n = 2 if r.fractions is not None else 1
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), sharex=True, squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(r.step_rms)) + 0.5  # step i sits between frames i and i+1
    ax.plot(x, r.step_rms, ".-", lw=1, color="0.2", label="change per step")
    ax.axhline(r.sharp_factor * np.median(r.step_rms), ls="--", color="red", lw=0.8,
               label=f"sharp: > {r.sharp_factor:g} x median")
    ax.plot(x[r.sharp], r.step_rms[r.sharp], "o", color="red", mfc="none")
    ax.set_ylabel("pixel RMS per step")
    ax.legend(fontsize=7, loc="upper right")
    for k in r.anchor_frames:
        for a in axes[:, 0]:
            a.axvline(k, color="0.8", lw=0.6, zorder=0)
    if r.fractions is not None:
        _plot_fractions(axes[1, 0], r, tag)
    axes[-1, 0].set_xlabel("frame (grey lines: anchors)")
    fig.tight_layout()
    return fig


def _plot_fractions(ax, r: WalkResult, tag: str = "") -> None:
    from gan_viz.data.rooms import CLASSES, PALETTE

    frames = np.arange(len(r.fractions))
    shown = [n for c, n in enumerate(r.class_names) if n not in SURFACES and r.fractions[:, c].max() >= PRESENT]
    for c, name in enumerate(r.class_names):
        if name in shown:
            colour = PALETTE[CLASSES.index(name)] / 255 if name in CLASSES else None
            ax.plot(frames, r.fractions[:, c], lw=1.2, color=colour, label=name)
    for ev in r.events:
        if ev["class"] in shown:
            ax.plot(ev["frame"], ev["after"], "x", color="red", ms=5)
    ax.set_ylabel("pixel fraction (instrument)")
    ax.set_title(f"{tag + ' ' if tag else ''}x: a class moves by >= {r.event_threshold:.0%} of the image in one step",
                 fontsize=7, color="darkred" if "FORCED" in tag else "black")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=4, loc="upper right")
