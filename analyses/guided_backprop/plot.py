"""GuidedBackpropResult -> figures: the paper's Fig. 5 layout and the class-energy bars (the
package's only matplotlib import), and :func:`display_maps`, the maps' display scaling."""

from __future__ import annotations

import numpy as np

from .compute import GuidedBackpropResult

SCALES = {"map": "each map scaled by its own max |value|",
          "shared": "one scale for all maps of both networks (99.5th percentile of |value|, clipped)"}


def display_maps(maps: np.ndarray, scale: str = "map", ref: np.ndarray | None = None) -> np.ndarray:
    """Raw maps (R, C, H, W) -> (R, H, W, 3) uint8: grey = 0, bright = positive, dark = negative.

    Args:
        scale: "map" (per-map max |value|) or "shared" (the 99.5th percentile of |value| over ``ref``).
        ref: the maps that share the scale (default: ``maps``).
    """
    m = maps.astype(np.float64)
    if scale == "map":
        s = np.abs(m).reshape(len(m), -1).max(1).reshape(-1, 1, 1, 1)
    else:
        s = np.percentile(np.abs(m if ref is None else ref), 99.5)
    v = 0.5 + 0.5 * np.clip(m / np.maximum(s, 1e-30), -1, 1)
    out = np.clip(v * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.repeat(out, 3, -1) if out.shape[-1] == 1 else out


def plot_guided_backprop(result: GuidedBackpropResult, scale: str = "map", content: str = "maps"):
    """The paper's layout: random filters left, trained right, a row per filter, K columns.

    Args:
        scale: display normalisation of the maps, "map" or "shared" (see ``SCALES``).
        content: "maps" (guided backprop) or "images" (the inputs the maps belong to).
    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from gan_viz.images import grid, to_uint8

    nf, k = len(result.filters), result.k
    ref = np.concatenate([result.random.maps, result.trained.maps])
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.75 * k + 0.4), 0.75 * nf + 1.2), squeeze=False)
    for ax, tag in zip(axes[0], ("random", "trained")):
        panel = getattr(result, tag)
        cells = to_uint8(panel.images) if content == "images" else display_maps(panel.maps, scale, ref)
        pad, h = 2, cells.shape[1]
        ax.imshow(grid(cells, nrow=k, pad=pad), interpolation="nearest")  # pixel maps: no smoothing
        ax.set_xticks([])
        ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(nf)])
        ax.set_yticklabels([f"filter {f}" for f in result.filters], fontsize=7)
        name = f"random filters (init seed {result.random_seed})" if tag == "random" else "trained filters"
        ax.set_title(name, fontsize=9)
    what = ("guided backprop" if content == "maps" else "top images") + f" ({result.rule} rule)"
    cap = (f"D.{result.layer}: {what}; each row a filter, its top {k} of {result.n_images} "
           f"{result.source} images by maximal response")
    if content == "maps":
        cap += f"; display: {SCALES[scale]}; grey = 0"
    fig.text(0.5, 0.005, cap, ha="center", va="bottom", fontsize=7, wrap=True)
    top = 1.0
    if result.fallback:  # never only in a log line: the figure itself says its images are not real
        fig.suptitle(f"On GENERATED images, not real ones: {result.fallback}", fontsize=8, color="darkred",
                     wrap=True)
        top = 0.9
    fig.tight_layout(rect=(0, 0.05, 1, top))
    return fig


def plot_class_energy(result: GuidedBackpropResult):
    """Mean over filters of the energy fraction per class, random vs trained, beside the pixel fraction."""
    import matplotlib.pyplot as plt

    names = result.class_names
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 3.2))
    pixels = (result.energy["trained"].pixels.mean(0) + result.energy["random"].pixels.mean(0)) / 2
    ax.bar(x - 0.27, pixels, 0.27, color="0.7", label="pixel fraction (top images)")
    ax.bar(x, result.energy["random"].energy.mean(0), 0.27, color="tab:blue", label="random D: energy")
    ax.bar(x + 0.27, result.energy["trained"].energy.mean(0), 0.27, color="tab:red", label="trained D: energy")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, fontsize=8)
    ax.set_ylabel("fraction")
    ax.set_title(f"Where guided-backprop energy of D.{result.layer} falls ({len(result.filters)} filters, "
                 f"top {result.k} images each)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
