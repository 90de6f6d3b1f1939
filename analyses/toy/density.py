"""Densities on a grid: the binned Gaussian KDE of p_g, and the optimal discriminator D*."""

from __future__ import annotations

import numpy as np

from .data import ToyData

SUPPORT = 0.01  # d_star_mae is averaged where p_data + p_g > 1% of its maximum


def grid_axis(data: ToyData) -> np.ndarray:
    """Grid coordinates along one axis: 512 points in 1-D, 256 in 2-D."""
    return np.linspace(*data.box, 512 if data.dim == 1 else 256)


def kde_kernel_std(data: ToyData) -> float:
    """KDE kernel: a quarter of the component std in 1-D, half in 2-D (fewer samples per cell)."""
    return data.std / (4 if data.dim == 1 else 2)


def kde_variance(data: ToyData) -> float:
    """Smoothing variance per axis of the binned KDE: kernel std^2 + bin width^2 / 12."""
    step = np.diff(grid_axis(data))[0]
    return kde_kernel_std(data) ** 2 + step ** 2 / 12


def density_grid(data: ToyData) -> np.ndarray:
    """Grid points (M, d): the axis in 1-D, its square (row-major, y then x) in 2-D."""
    ax = grid_axis(data)
    if data.dim == 1:
        return ax[:, None]
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], 1)


def _smooth(h: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian filter (in grid cells) along every axis, zero outside."""
    r = max(1, int(np.ceil(4 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in range(h.ndim):
        h = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, h)
    return h


def kde_on_grid(samples: np.ndarray, data: ToyData) -> np.ndarray:
    """Binned Gaussian KDE (kernel ``kde_kernel_std``) of samples (N, d) on ``density_grid`` -> (M,)."""
    ax = grid_axis(data)
    step, bandwidth = ax[1] - ax[0], kde_kernel_std(data)
    edges = np.append(ax - step / 2, ax[-1] + step / 2)
    if data.dim == 1:
        hist, _ = np.histogram(samples[:, 0], edges)
    else:
        hist, _, _ = np.histogram2d(samples[:, 1], samples[:, 0], [edges, edges])  # (y, x)
    dens = _smooth(hist.astype(np.float64), bandwidth / step) / (len(samples) * step ** data.dim)
    return dens.ravel()


def d_star(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """The optimal discriminator p_data / (p_data + p_g); 1/2 where both are 0."""
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5, dtype=np.float64), where=total > 0)


def support_mask(p_data: np.ndarray, p_g: np.ndarray, frac: float = SUPPORT) -> np.ndarray:
    total = p_data + p_g
    return total > frac * total.max()
