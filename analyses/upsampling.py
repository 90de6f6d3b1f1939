"""Upsampling worked by hand: nearest neighbour and transposed convolution, with numbers.

The lecture notes (seed 004) teach upsampling with small integer grids: nearest-neighbour
upsampling of [[1, 2], [3, 4]], and transposed convolution as "place a copy of the
kernel, scaled by each input pixel, at stride steps, and add the overlaps". Every grid
here is computed twice: by PyTorch (``F.interpolate`` / ``F.conv_transpose2d``) and by an
explicit scatter-add loop written to be read, and the two must agree exactly.

The last part counts kernel *taps* per output pixel (how many input pixels write into
it) for DCGAN's own layer (kernel 4, stride 2, padding 1) and for kernels whose size is
not a multiple of the stride, the uneven overlap behind checkerboard artefacts
(Odena et al. 2016).

Example:
    >>> r = compute_upsampling()
    >>> r.transposed_2x2_s1.tolist()
    [[1.0, 5.0, 6.0], [2.0, 8.0, 11.0], [0.0, 6.0, 3.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

# The notes' grids (seed 004)
NEAREST_INPUT = np.array([[1, 2], [3, 4]], np.float32)
INPUT_2x2 = np.array([[1, 2], [0, 3]], np.float32)
KERNEL_2x2 = np.array([[1, 3], [2, 1]], np.float32)
INPUT_3x3 = np.array([[1, 0, 2], [0, 3, 1], [2, 0, 1]], np.float32)
KERNEL_3x3_EX = np.array([[0, 2], [1, 1]], np.float32)

# Tap-count cases: (label, kernel, stride, padding); DCGAN's layer first
TAP_CASES = (("k4_s2_p1", 4, 2, 1), ("k2_s1_p0", 2, 1, 0), ("k2_s2_p0", 2, 2, 0), ("k3_s2_p1", 3, 2, 1))
TAP_INPUT_SIZES = (2, 3, 4)


# --- the teaching implementations --------------------------------------------------

def nearest_by_copy(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """Nearest-neighbour upsampling written out: each pixel fills a factor x factor block.

    Args:
        x: (H, W) input grid.
        factor: integer scale.
    Returns:
        (H*factor, W*factor) grid.
    """
    h, w = x.shape
    out = np.zeros((h * factor, w * factor), np.float64)
    for i in range(h):
        for j in range(w):
            out[i * factor:(i + 1) * factor, j * factor:(j + 1) * factor] = x[i, j]
    return out


def transposed_by_scatter(x: np.ndarray, k: np.ndarray, stride: int = 1,
                          padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Transposed convolution as the notes draw it: scaled kernel copies, added.

    Input pixel (i, j) writes ``x[i, j] * k`` into the output at rows ``i*stride ...``,
    columns ``j*stride ...``; overlapping writes add. ``padding`` then crops that many
    rows/columns from every border (PyTorch's definition for ``conv_transpose2d``).

    Args:
        x: (H, W) input.
        k: (kh, kw) kernel (not flipped: this is what ``conv_transpose2d`` does).
        stride: step between the copies.
        padding: border cropped from the full result.
    Returns:
        (out, copies): out (Ho, Wo) with Ho = (H-1)*stride + kh - 2*padding, and
        copies (H*W, Ho, Wo), the cropped contribution of each input pixel (row-major).
    """
    h, w = x.shape
    kh, kw = k.shape
    full_h, full_w = (h - 1) * stride + kh, (w - 1) * stride + kw
    copies = np.zeros((h * w, full_h, full_w), np.float64)
    for i in range(h):
        for j in range(w):
            copies[i * w + j, i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * k
    copies = copies[:, padding:full_h - padding, padding:full_w - padding]
    return copies.sum(axis=0), copies


def tap_count_by_scatter(size: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """How many (input pixel, kernel tap) pairs write into each output pixel."""
    ones = np.ones((size, size))
    out, _ = transposed_by_scatter(ones, np.ones((kernel, kernel)), stride, padding)
    return out


# --- the PyTorch implementations ---------------------------------------------------

def nearest_by_torch(x: np.ndarray, factor: int = 2) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    return F.interpolate(t, scale_factor=factor, mode="nearest")[0, 0].numpy()


def transposed_by_torch(x: np.ndarray, k: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    w = torch.as_tensor(k, dtype=torch.float64)[None, None]  # (C_in=1, C_out=1, kh, kw)
    return F.conv_transpose2d(t, w, stride=stride, padding=padding)[0, 0].numpy()


def tap_count_by_torch(size: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    return transposed_by_torch(np.ones((size, size)), np.ones((kernel, kernel)), stride, padding)


# --- the analysis ------------------------------------------------------------------

@dataclass(frozen=True)
class UpsamplingResult:
    """Every worked grid, by PyTorch; ``max_abs_diff`` compares with the scatter-add."""

    nearest: np.ndarray  # (4, 4)
    transposed_2x2_s1: np.ndarray  # (3, 3)
    copies_2x2_s1: np.ndarray  # (4, 3, 3): one scaled kernel copy per input pixel
    transposed_3x3_s1: np.ndarray  # (4, 4)
    transposed_3x3_s2: np.ndarray  # (6, 6)
    copies_3x3_s2: np.ndarray  # (9, 6, 6)
    taps: dict = field(default_factory=dict)  # "k4_s2_p1_in3" -> (Ho, Wo) tap counts
    max_abs_diff: dict = field(default_factory=dict)  # grid name -> |torch - scatter| max

    @property
    def methods_agree(self) -> bool:
        return all(v == 0.0 for v in self.max_abs_diff.values())


def _both(name: str, by_torch: np.ndarray, by_scatter: np.ndarray, diffs: dict) -> np.ndarray:
    diffs[name] = float(np.abs(by_torch - by_scatter).max()) if by_torch.shape == by_scatter.shape else float("inf")
    return by_torch


def compute_upsampling() -> UpsamplingResult:
    """Compute the notes' grids and the tap-count maps, each by both methods.

    Returns:
        An :class:`UpsamplingResult`; ``max_abs_diff`` is 0 for every grid when the
        teaching scatter-add and PyTorch agree (they work in float64 on integers).
    """
    diffs: dict[str, float] = {}
    nearest = _both("nearest", nearest_by_torch(NEAREST_INPUT), nearest_by_copy(NEAREST_INPUT), diffs)
    s2x2, c2x2 = transposed_by_scatter(INPUT_2x2, KERNEL_2x2, 1)
    t2x2 = _both("transposed_2x2_s1", transposed_by_torch(INPUT_2x2, KERNEL_2x2, 1), s2x2, diffs)
    s3s1, _ = transposed_by_scatter(INPUT_3x3, KERNEL_3x3_EX, 1)
    t3s1 = _both("transposed_3x3_s1", transposed_by_torch(INPUT_3x3, KERNEL_3x3_EX, 1), s3s1, diffs)
    s3s2, c3s2 = transposed_by_scatter(INPUT_3x3, KERNEL_3x3_EX, 2)
    t3s2 = _both("transposed_3x3_s2", transposed_by_torch(INPUT_3x3, KERNEL_3x3_EX, 2), s3s2, diffs)
    taps = {}
    for label, k, s, p in TAP_CASES:
        for n in TAP_INPUT_SIZES:
            key = f"taps_{label}_in{n}"
            taps[key] = _both(key, tap_count_by_torch(n, k, s, p), tap_count_by_scatter(n, k, s, p), diffs)
    return UpsamplingResult(nearest, t2x2, c2x2, t3s1, t3s2, c3s2, taps, diffs)


def tap_summary(result: UpsamplingResult) -> dict:
    """Per tap map: the distinct counts and how many output pixels get each.

    For DCGAN's k4 s2 p1 the interior gets 4 taps, edges 2 and corners 1; a kernel size
    not divisible by the stride (k3 s2) gives an uneven 1/2/4 pattern inside the image,
    the checkerboard.
    """
    out = {}
    for key, m in result.taps.items():
        vals, counts = np.unique(m.astype(int), return_counts=True)
        interior = m[1:-1, 1:-1] if min(m.shape) > 2 else m
        out[key] = {"shape": list(m.shape), "counts": {int(v): int(c) for v, c in zip(vals, counts)},
                    "interior_uniform": bool(interior.size and interior.min() == interior.max())}
    return out


def arrays_of(result: UpsamplingResult) -> dict[str, np.ndarray]:
    """Everything to recompute the figures: results, copies, inputs and kernels."""
    return {"nearest": result.nearest, "transposed_2x2_s1": result.transposed_2x2_s1,
            "transposed_3x3_s1": result.transposed_3x3_s1, "transposed_3x3_s2": result.transposed_3x3_s2,
            "copies_2x2_s1": result.copies_2x2_s1, "copies_3x3_s2": result.copies_3x3_s2,
            "input_nearest": NEAREST_INPUT, "input_2x2": INPUT_2x2, "kernel_2x2": KERNEL_2x2,
            "input_3x3": INPUT_3x3, "kernel_3x3_example": KERNEL_3x3_EX, **result.taps}


# --- display -----------------------------------------------------------------------

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


# --- the runner ------------------------------------------------------------------------

def caption(s: dict) -> str:
    """The report's caption: what the grids show and whether both methods agree."""
    return ("Nearest-neighbour and transposed-convolution upsampling worked on the notes' grids, computed by "
            f"PyTorch and by an explicit scatter-add (agree: {s.get('methods_agree')}), and the number of kernel "
            "taps per output pixel of DCGAN's k4 s2 p1 layer (uneven overlap is the source of checkerboards).")


@register("upsampling", title="Mechanics: upsampling by transposed convolution", caption=caption)
def run(ctx: "Context") -> dict:
    """The notes' grids (no model): figures (PNG + PDF), summary.json and arrays.npz in ``ctx.out``."""
    from gan_viz.io import save_figure, write_json, write_npz

    result = compute_upsampling()
    if not result.methods_agree:  # an internal check: the teaching code must match PyTorch
        bad = {k: v for k, v in result.max_abs_diff.items() if v != 0.0}
        raise UserError(f"the scatter-add and PyTorch disagree on {bad}; please report this bug")
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, name)]
    write_npz(ctx.out / "arrays.npz", **arrays_of(result))
    summary = {
        "grids": {"nearest": result.nearest.tolist(), "transposed_2x2_s1": result.transposed_2x2_s1.tolist(),
                  "transposed_3x3_s1": result.transposed_3x3_s1.tolist(),
                  "transposed_3x3_s2": result.transposed_3x3_s2.tolist()},
        "methods": "torch (F.interpolate / F.conv_transpose2d) vs explicit scatter-add, float64",
        "max_abs_diff_torch_vs_scatter": result.max_abs_diff,
        "methods_agree": result.methods_agree,
        "taps": tap_summary(result),
        "figures": figures,
    }
    write_json(ctx.out / "summary.json", summary)
    return summary
