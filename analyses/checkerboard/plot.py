"""CheckerboardResult -> figures: the mean power spectra and each upsampling layer's (the package's only
matplotlib import)."""

from __future__ import annotations

import numpy as np

from .compute import CheckerboardResult


def _log_shifted(spec: np.ndarray) -> np.ndarray:
    s = spec.copy()
    s[0, 0] = np.nan  # DC was removed
    return np.fft.fftshift(np.log10(np.maximum(s, 1e-12)))


def plot_spectra(r: CheckerboardResult):
    """Generated vs real mean power spectrum (log10, centred) and their ratio."""
    import matplotlib.pyplot as plt

    panels = [("generated", r.spec_generated)]
    if r.spec_real is not None:
        panels += [("real", r.spec_real), ("generated / real", None)]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.6 * (len(panels) + 1), 3.6))
    half = r.image_size // 2
    ext = (-half - 0.5, half - 0.5, half - 0.5, -half - 0.5)
    for ax, (title, spec) in zip(axes, panels):
        if spec is None:
            img = _log_shifted(r.spec_generated) - _log_shifted(r.spec_real)
            lim = np.nanmax(np.abs(img))
            im = ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=ext)
            title = "log10 generated / real"
        else:
            im = ax.imshow(_log_shifted(spec), cmap="magma", extent=ext)
            scores = r.generated if title == "generated" else r.real
            count = r.n_generated if title == "generated" else r.n_real
            title += f" ({count})" if count else ""
            title += ": " + ", ".join(f"p{k.split('_')[1]} {v:.2f}" for k, v in scores.items())
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("horizontal frequency (cycles / image)", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = axes[-1]
    if r.sample_images is not None:
        from gan_viz.images import grid, to_uint8

        ax.imshow(grid(to_uint8(r.sample_images[:4]), nrow=2))
        ax.set_title("generated samples", fontsize=8)
    ax.axis("off")
    fig.suptitle("Mean power spectrum (log10; score = power at period-p stride frequencies / neighbours)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_layers(r: CheckerboardResult):
    """Each upsampling layer's mean spectrum, and its period-2 checkerboard score."""
    import matplotlib.pyplot as plt

    n = len(r.layers)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.0 * (n + 1), 3.2), squeeze=False)
    if not n:
        axes[0][0].text(0.5, 0.5, "G has no 2x upsampling convolution modules to score", ha="center",
                        va="center", fontsize=9)
        axes[0][0].axis("off")
        return fig
    for ax, name in zip(axes[0], r.layers):
        ax.imshow(_log_shifted(r.layer_specs[name]), cmap="magma")
        info = r.per_layer[name]
        ax.set_title(f"G.{name} ({info['resolution']}x{info['resolution']}): {info['score']:.2f}", fontsize=8)
        ax.axis("off")
    ax = axes[0][-1]
    ax.bar(range(n), [r.per_layer[k]["score"] for k in r.layers], color="tab:purple")
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xticks(range(n), [f"G.{k}" for k in r.layers], fontsize=7)
    ax.set_ylabel("Nyquist power / neighbours")
    ax.set_title("checkerboard score per layer", fontsize=8)
    fig.suptitle("Upsampling layers of G: log10 mean power spectrum of their outputs", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {"checkerboard_spectra": plot_spectra, "checkerboard_layers": plot_layers}
