"""Results -> figures: the paper's Fig. 7 layout, the Fig. 8 direction walk and its measurement
(the only matplotlib import of the analysis)."""

from __future__ import annotations

import numpy as np

from gan_viz.images import grid, to_uint8

from .compute import ArithmeticResult, DirectionResult

PAD = 2


def _column(exemplars: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Exemplars stacked vertically, a gap, then the image of their mean z: (H', W', 3) uint8."""
    top = grid(to_uint8(exemplars), nrow=1, pad=PAD)
    bottom = grid(to_uint8(mean[None]), nrow=1, pad=PAD)
    gap = np.full((3 * PAD, top.shape[1], 3), 255, np.uint8)
    return np.concatenate([top, gap, bottom])


def _result_grid(images: np.ndarray) -> tuple[np.ndarray, int]:
    """Y and its noisy neighbours in a square grid, Y in the centre when there are 9: (sheet, Y's slot)."""
    n = len(images)
    nrow = int(np.ceil(np.sqrt(n)))
    slot = n // 2 if n == nrow * nrow and nrow % 2 else 0
    order = list(range(1, n))
    order.insert(slot, 0)
    return grid(to_uint8(images[order]), nrow=nrow, pad=PAD), slot


def _label(r: ArithmeticResult, key: str, row: int, measure) -> str:
    """Parser fractions printed under an image (for Y also the mean over its noisy samples)."""
    if r.fractions is None or not measure:
        return ""
    f = r.fractions[key]
    lines = []
    for m in measure:
        c = r.class_names.index(m)
        extra = f" (noisy: {f[1:, c].mean():.1%})" if key == "results" and len(f) > 1 else ""
        lines.append(f"{m} {f[row, c]:.1%}{extra}")
    return "\n".join(lines)


def _sign(coef: float, first: bool) -> str:
    mag = "" if abs(coef) == 1 else f"{abs(coef):g} "
    if first:
        return ("\u2212 " if coef < 0 else "") + mag
    return ("\u2212 " if coef < 0 else "+ ") + mag


def _paste(canvas: np.ndarray, img: np.ndarray, y: int, x: int) -> None:
    canvas[y:y + img.shape[0], x:x + img.shape[1]] = img


def plot_arithmetic(r: ArithmeticResult, measure=(), inch_per_image: float = 0.6):
    """Fig. 7 on one canvas (one scale for every image): per concept its exemplars and,
    below them, G(mean z); then Y (red) among its noisy samples; underneath, the same
    arithmetic on the images themselves (pixel space).

    Args:
        r: the result. measure: class names whose parser fractions are printed under the images.
        inch_per_image: printed size of one generated image.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    T = len(r.names)
    h, w = r.mean_images.shape[-2:]
    cols = [_column(r.exemplar_images[r.owner == i], r.mean_images[i]) for i in range(T)]
    res, slot = _result_grid(r.result_images)
    pix = [grid(to_uint8(p[None]), nrow=1, pad=PAD) for p in list(r.pixel_means) + [r.pixel_result]]
    gap, head, foot = w, int(1.2 * h), int(0.9 * h)  # operator column, title band, label band
    xs = np.cumsum([0] + [c.shape[1] + gap for c in cols])  # x of each column; xs[T] = the result
    top = max(max(c.shape[0] for c in cols), res.shape[0])
    yb = head + top + foot + head  # y of the pixel-space row
    canvas = np.full((yb + pix[0].shape[0] + foot, xs[T] + res.shape[1], 3), 255, np.uint8)
    for i, c in enumerate(cols):
        _paste(canvas, c, head, xs[i])
        _paste(canvas, pix[i], yb, xs[i])
    _paste(canvas, res, head, xs[T])
    px = xs[T] + (res.shape[1] - pix[-1].shape[1]) // 2
    _paste(canvas, pix[-1], yb, px)
    fig, ax = plt.subplots(figsize=(inch_per_image * canvas.shape[1] / h, inch_per_image * canvas.shape[0] / h))
    ax.imshow(canvas, interpolation="nearest")
    nrow = int(np.ceil(np.sqrt(len(r.result_images))))
    rr, cc = divmod(slot, nrow)
    ax.add_patch(Rectangle((xs[T] + PAD + cc * (w + PAD) - 1.5, head + PAD + rr * (h + PAD) - 1.5), w + 2, h + 2,
                           fill=False, edgecolor="red", linewidth=1.5))
    text = lambda x, y, s, **kw: ax.text(x, y, s, ha="center", fontsize=kw.pop("size", 7), **kw)  # noqa: E731
    for i, name in enumerate(r.names):
        k, cx = int((r.owner == i).sum()), xs[i] + cols[i].shape[1] / 2
        text(cx, head - 3, f"{_sign(r.coefs[i], i == 0)}{name}\n{k} exemplar{'s' if k > 1 else ''}\nmean z below",
             va="bottom", size=7)
        text(cx, head + cols[i].shape[0] + 2, _label(r, "means", i, measure), va="top")
        text(cx, yb - 3, f"{_sign(r.coefs[i], i == 0)}{name}\nmean image", va="bottom")
    text(xs[T] + res.shape[1] / 2, head - 3, f"= Y (red) and {len(r.result_images) - 1} samples\n"
         f"of Y + U(\u00b1{r.noise:g}) noise", va="bottom", size=7)
    text(xs[T] + res.shape[1] / 2, head + res.shape[0] + 2, _label(r, "results", 0, measure), va="top")
    text(px + pix[-1].shape[1] / 2, yb - 3, "= pixel-space\nresult", va="bottom")
    text(px + pix[-1].shape[1] / 2, yb + pix[-1].shape[0] + 2, _label(r, "pixel", 0, measure), va="top")
    ax.set_axis_off()
    ax.set_title("vector arithmetic on z (top) and on pixels (bottom)", fontsize=9)
    return fig


def plot_direction(r: DirectionResult, title: str = "direction"):
    """Fig. 8: each row a base sample, each column base + alpha * d."""
    import matplotlib.pyplot as plt

    B, A = r.walk_images.shape[:2]
    h, w = r.walk_images.shape[-2:]
    sheet = grid(to_uint8(r.walk_images.reshape(B * A, *r.walk_images.shape[2:])), nrow=A, pad=PAD)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * A), 0.8 * B + 0.8))
    ax.imshow(sheet, interpolation="nearest")
    ax.set_xticks([PAD + j * (w + PAD) + w / 2 for j in range(A)], [f"{a:g}" for a in r.alphas], fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("alpha (z + alpha d)", fontsize=8)
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title(f"walk along {title} (|d| = {np.linalg.norm(r.d):.2f})", fontsize=9)
    return fig


def plot_direction_measure(r: DirectionResult, target: str, tag: str = ""):
    """The target class's mean pixel fraction vs alpha, along d and along the random controls."""
    import matplotlib.pyplot as plt

    c = r.class_names.index(target)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, f in enumerate(r.control_fractions):
        ax.plot(r.alphas, f[:, :, c].mean(1), color="0.6", lw=0.8, label="random directions, same norm" if i == 0 else None)
    ax.plot(r.alphas, r.fractions[:, :, c].mean(1), "o-", color="C3", lw=1.5, label="the direction d")
    ax.set_xlabel("alpha (z + alpha d)")
    ax.set_ylabel(f"{target} pixel fraction (parser)")
    ax.set_title(f"{tag + ' ' if tag else ''}{target} along d, {r.fractions.shape[1]} samples", fontsize=9,
                 color="darkred" if "FORCED" in tag else "black")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
