"""ToyResult -> figures: Fig. 1 over training, D vs D*, the two G losses, mode coverage (the package's only
matplotlib import)."""

from __future__ import annotations

import numpy as np

from .compute import ToyResult
from .density import d_star
from .train import G_LOSSES

COLORS = {"non-saturating": "tab:blue", "saturating": "tab:red"}


def _grid_image(values: np.ndarray) -> np.ndarray:
    n = round(len(values) ** 0.5)
    return values.reshape(n, n)  # (y, x)


def _panel_1d(ax, x, p_data, p_g, d, dstar, title):
    ax.plot(x, p_data, "k:", lw=1.5, label="p_data")
    ax.plot(x, p_g, "g-", lw=1.2, label="p_g (KDE)")
    ax2 = ax.twinx()
    ax2.plot(x, d, "b--", lw=1.2, label="D(x)")
    ax2.plot(x, dstar, "r-", lw=0.8, alpha=0.7, label="D*(x)")
    ax2.axhline(0.5, color="0.6", lw=0.5)
    ax2.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    return ax2


def _panel_2d(ax, r: ToyResult, samples, d, title):
    lo, hi = r.data.box
    ax.imshow(_grid_image(d), origin="lower", extent=(lo, hi, lo, hi), cmap="coolwarm_r", vmin=0, vmax=1)
    ax.scatter(samples[:600, 0], samples[:600, 1], s=2, c="k", alpha=0.6)
    ax.scatter(r.data.means[:, 0], r.data.means[:, 1], s=30, marker="x", c="lime")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_training(r: ToyResult):
    """Goodfellow et al. Fig. 1 over training: p_data, p_g, D(x) and D*(x) per snapshot."""
    import matplotlib.pyplot as plt

    t = r.traces[r.main]
    n = len(t.snap_steps)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.9), squeeze=False)
    p_data = r.p_data
    for i, ax in enumerate(axes[0]):
        title = f"step {t.snap_steps[i]}"
        if r.data.dim == 1:
            ds = d_star(p_data, t.snap_p_g[i])
            ax2 = _panel_1d(ax, r.grid[:, 0], p_data, t.snap_p_g[i], t.snap_d[i], ds, title)
            if i == n - 1:
                h1, l1 = ax.get_legend_handles_labels()
                h2, l2 = ax2.get_legend_handles_labels()
                ax2.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
        else:
            _panel_2d(ax, r, t.snap_samples[i], t.snap_d[i], title)
    what = "black dots: G samples, x: modes, colour: D(x) (blue = real)" if r.data.dim == 2 else \
        "densities (left axis), D and D* = p_data/(p_data+p_g) (right axis)"
    fig.suptitle(f"{r.data.name}, {r.main} G loss: {what}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_d_star(r: ToyResult):
    """D fitted to the frozen final G against D* computed from the densities."""
    import matplotlib.pyplot as plt

    if r.data.dim == 1:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        x = r.grid[:, 0]
        ax2 = _panel_1d(ax, x, r.p_data, r.p_g, r.d_fit, r.d_star,
                        f"D fitted to the frozen final G: mean |D - D*| = {r.d_star_mae:.3f} on the support")
        ax2.fill_between(x, 0, 1, where=~r.mask, color="0.9", zorder=-1, label="outside the support")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax2.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
        return fig
    lo, hi = r.data.box
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    err = np.where(r.mask, np.abs(r.d_fit - r.d_star), np.nan)
    for ax, vals, title, cmap, vmax in ((axes[0], r.d_fit, "fitted D(x)", "coolwarm_r", 1),
                                        (axes[1], np.where(r.mask, r.d_star, np.nan),
                                         "D*(x) from the densities (on the support)", "coolwarm_r", 1),
                                        (axes[2], err, f"|D - D*| on the support (mean {r.d_star_mae:.3f})",
                                         "magma", 0.5)):
        im = ax.imshow(_grid_image(vals), origin="lower", extent=(lo, hi, lo, hi), cmap=cmap, vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"{r.data.name}: D fitted to the frozen final G vs the optimal D*", fontsize=10)
    fig.tight_layout()
    return fig


def plot_g_loss(r: ToyResult):
    """Saturating vs non-saturating: the gradient each gives vs D(G(z)), and both trained."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    d = np.linspace(1e-3, 1 - 1e-3, 400)
    ax = axes[0]
    ax.plot(d, np.log(1 - d), color=COLORS["saturating"], label="saturating: log(1 - D)")
    ax.plot(d, -np.log(d), color=COLORS["non-saturating"], label="non-saturating: -log D")
    ax.plot(d, d, color=COLORS["saturating"], ls="--", label="|d loss / d logit| = D")
    ax.plot(d, 1 - d, color=COLORS["non-saturating"], ls="--", label="|d loss / d logit| = 1 - D")
    ax.set_xlabel("D(G(z))")
    ax.set_ylim(-5, 5)
    ax.legend(fontsize=7)
    ax.set_title("G loss (minimised) and its gradient on D's logit", fontsize=9)
    for kind in G_LOSSES:
        t = r.traces[kind]
        axes[1].plot(t.eval_steps, t.dist, color=COLORS[kind], label=kind)
        steps = np.arange(1, len(t.d_fake) + 1)
        axes[2].plot(steps, _smooth_curve(t.d_fake), color=COLORS[kind], label=f"{kind}: mean D(G(z))")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("distance to p_data")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=7)
    axes[1].set_title("same seed, same batches", fontsize=9)
    axes[2].set_xlabel("step")
    axes[2].set_ylim(0, 1)
    axes[2].axhline(0.5, color="0.6", lw=0.5)
    axes[2].legend(fontsize=7)
    axes[2].set_title("how D rates the fakes during training", fontsize=9)
    fig.suptitle(f"{r.data.name}: saturating vs non-saturating generator loss", fontsize=10)
    fig.tight_layout()
    return fig


def _smooth_curve(y: np.ndarray, k: int = 25) -> np.ndarray:
    """Trailing running mean over up to k steps (no edge artefacts)."""
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(0, i - k)
    return (c[i] - c[lo]) / (i - lo)


def plot_modes(r: ToyResult):
    """Modes covered and share of high-quality samples over training, both losses."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for kind in G_LOSSES:
        t = r.traces[kind]
        axes[0].plot(t.eval_steps, t.modes, color=COLORS[kind], marker=".", label=kind)
        axes[1].plot(t.eval_steps, t.hq, color=COLORS[kind], marker=".", label=kind)
    axes[0].set_ylim(-0.2, len(r.data.means) + 0.2)
    axes[0].set_ylabel(f"modes covered (of {len(r.data.means)})")
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("share of high-quality samples")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.suptitle(f"{r.data.name}: mode coverage over training", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"toy_training": plot_training, "toy_d_star": plot_d_star, "toy_g_loss": plot_g_loss,
           "toy_modes": plot_modes}
