"""Both G losses trained from one seed, then D fitted to the frozen final G: :func:`compute_toy`."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from gan_viz.errors import UserError

from .data import ToyData, get_data
from .density import d_star, density_grid, kde_on_grid, kde_variance, support_mask
from .train import G_LOSSES, N_DENSITY, Z_DIM, d_on_grid, fit_discriminator, g_samples, sampler, train_toy


@dataclass(frozen=True)
class ToyResult:
    """Both losses trained from one seed, and D fitted to the final G of ``main``."""

    data: ToyData
    seed: int
    steps: int
    main: str  # the g_loss shown in the Fig. 1 panels
    traces: dict  # g_loss -> ToyTrace
    grid: np.ndarray  # (M, d)
    p_data: np.ndarray  # (M,) smoothed by the same kernel as p_g
    p_g: np.ndarray  # (M,) KDE of the final G of ``main``
    d_star: np.ndarray  # (M,)
    d_fit: np.ndarray  # (M,) D fitted to the frozen final G
    mask: np.ndarray  # (M,) bool, where p_data + p_g is non-negligible
    bandwidth: float  # std of the KDE smoothing (kernel and binning), applied to p_data too

    @property
    def d_star_mae(self) -> float:
        return float(np.abs(self.d_fit - self.d_star)[self.mask].mean())

    @property
    def d_star_mae_before_fit(self) -> float:
        d = self.traces[self.main].snap_d[-1]
        return float(np.abs(d - self.d_star)[self.mask].mean())

    @property
    def d_where_equal(self) -> float:
        """Mean fitted D where p_g ~ p_data (|D* - 1/2| < 0.05): the theory says 1/2."""
        sel = self.mask & (np.abs(self.d_star - 0.5) < 0.05)
        return float(self.d_fit[sel].mean()) if sel.any() else float("nan")


def compute_toy(data_name: str = "gauss1d", g_loss: str = "non-saturating", steps: int = 2000,
                seed: int = 0, fit_steps: int = 1500, progress: bool = False) -> ToyResult:
    """Train the toy GAN with both G losses, then fit D to the frozen final G.

    Args:
        data_name: "gauss1d", "mixture1d" or "ring2d".
        g_loss: the loss shown in the Fig. 1 panels (both are trained).
        steps: training steps of each run.
        seed: everything random derives from it.
        fit_steps: D updates against the frozen final G.
    """
    data = get_data(data_name)
    if g_loss not in G_LOSSES:
        raise UserError(f"unknown --g-loss {g_loss!r}; choose one of {', '.join(G_LOSSES)}")
    if steps < 1 or fit_steps < 1:
        raise UserError("--steps and --fit-steps must be at least 1")
    traces = {k: train_toy(data, k, steps, seed, progress=progress) for k in G_LOSSES}
    tr, grid = traces[g_loss], density_grid(data)
    gen = torch.Generator().manual_seed(seed + 4)
    fit_steps_gen = torch.Generator().manual_seed(seed + 5)
    p_g = kde_on_grid(g_samples(tr.G, N_DENSITY, Z_DIM, gen), data)
    p_data = data.density(grid, extra_var=kde_variance(data))
    D = fit_discriminator(copy.deepcopy(tr.D), sampler(data, None, Z_DIM, fit_steps_gen),
                          sampler(data, tr.G, Z_DIM, fit_steps_gen),
                          fit_steps, progress=progress)
    return ToyResult(data, seed, steps, g_loss, traces, grid, p_data, p_g, d_star(p_data, p_g),
                     d_on_grid(D, grid), support_mask(p_data, p_g), kde_variance(data) ** 0.5)
