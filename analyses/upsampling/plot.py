"""UpsamplingResult -> figures: annotated grids of the notes' examples and the tap counts (the package's only
matplotlib import)."""

from __future__ import annotations

import numpy as np

from .compute import (INPUT_2x2, INPUT_3x3, KERNEL_2x2, KERNEL_3x3_EX, NEAREST_INPUT, TAP_CASES, TAP_INPUT_SIZES,
                      UpsamplingResult)


def draw_grid(ax, m: np.ndarray, title: str = "", cmap: str = "Blues", vmax: float | None = None,
              fmt: str = "{:g}", offset: tuple[int, int] = (0, 0), mask: np.ndarray | None = None) -> None:
    """An annotated grid: each cell coloured by value and labelled with its number."""
    vmax = float(np.abs(m).max()) if vmax is None else vmax
    ax.imshow(m, cmap=cmap, vmin=0, vmax=max(vmax, 1e-9) * 1.6)
    for (i, j), v in np.ndenumerate(m):
        if mask is None or mask[i, j]:
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9)
    h, w = m.shape
    # cell borders as two line collections, not minor-tick grid lines (the tick machinery
    # made this figure set 8 s of the report)
    ax.hlines(np.arange(-0.5, h, 1), -0.5, w - 0.5, color="0.3", linewidth=0.6)
    ax.vlines(np.arange(-0.5, w, 1), -0.5, h - 0.5, color="0.3", linewidth=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_title(title, fontsize=9)


def plot_nearest(result: UpsamplingResult):
    """The notes' 'Up Sampling' example: [[1, 2], [3, 4]] -> 4x4."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(5.5, 2.8), gridspec_kw={"width_ratios": [1, 2]})
    draw_grid(axes[0], NEAREST_INPUT, "input 2x2")
    draw_grid(axes[1], result.nearest, "nearest-neighbour x2 (4x4)")
    fig.suptitle("Nearest-neighbour upsampling", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))  # the 4x4 grid's title below the suptitle, not under it
    return fig


def plot_copies(result: UpsamplingResult):
    """Transposed convolution, stride 1: input, kernel, four scaled copies, their sum."""
    import matplotlib.pyplot as plt

    n = len(result.copies_2x2_s1)
    fig, axes = plt.subplots(1, n + 3, figsize=(2.0 * (n + 3), 2.4))
    vmax = float(result.transposed_2x2_s1.max())
    draw_grid(axes[0], INPUT_2x2, "input")
    draw_grid(axes[1], KERNEL_2x2, "kernel", cmap="Oranges")
    w = INPUT_2x2.shape[1]
    for idx, copy in enumerate(result.copies_2x2_s1):
        i, j = divmod(idx, w)
        footprint = np.zeros_like(copy, bool)
        footprint[i:i + KERNEL_2x2.shape[0], j:j + KERNEL_2x2.shape[1]] = True
        draw_grid(axes[2 + idx], copy, f"{INPUT_2x2[i, j]:g} x kernel at ({i},{j})", vmax=vmax, mask=footprint)
    draw_grid(axes[-1], result.transposed_2x2_s1, "sum (output)", cmap="Greens")
    fig.suptitle("Transposed convolution, stride 1: each input pixel scales a copy of the kernel; "
                 "overlaps add", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_strides(result: UpsamplingResult):
    """The 3x3 input with the 2x2 kernel at stride 1 (4x4) and stride 2 (6x6), whole."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(11, 3.2), gridspec_kw={"width_ratios": [3, 2, 4, 6]})
    draw_grid(axes[0], INPUT_3x3, "input 3x3")
    draw_grid(axes[1], KERNEL_3x3_EX, "kernel 2x2", cmap="Oranges")
    draw_grid(axes[2], result.transposed_3x3_s1, "stride 1 -> 4x4 (copies overlap)", cmap="Greens")
    draw_grid(axes[3], result.transposed_3x3_s2, "stride 2 -> 6x6 (copies tile, no overlap)", cmap="Greens")
    fig.suptitle("Transposed convolution of the notes' 3x3 example, computed whole", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_taps(result: UpsamplingResult):
    """Kernel taps per output pixel: DCGAN's k4 s2 p1 beside the other cases."""
    import matplotlib.pyplot as plt

    cases, sizes = TAP_CASES, TAP_INPUT_SIZES
    fig, axes = plt.subplots(len(cases), len(sizes), figsize=(3.2 * len(sizes), 3.0 * len(cases)))
    vmax = max(float(m.max()) for m in result.taps.values())
    for r, (label, k, s, p) in enumerate(cases):
        for c, n in enumerate(sizes):
            m = result.taps[f"taps_{label}_in{n}"]
            draw_grid(axes[r, c], m, f"kernel {k}, stride {s}, padding {p}: {n}x{n} -> {m.shape[0]}x{m.shape[1]}",
                      cmap="Purples", vmax=vmax)
    fig.suptitle("Kernel taps received by each output pixel (DCGAN's layer: top row; "
                 "uneven counts inside the image make checkerboards)", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"upsampling_nearest": plot_nearest, "upsampling_transposed_copies": plot_copies,
           "upsampling_transposed_strides": plot_strides, "upsampling_taps": plot_taps}
