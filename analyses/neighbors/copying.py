"""The data-copying test C_T of Meehan, Chaudhuri & Dasgupta (2020): k-means cells, per-cell Z_U.

The training images are clustered by k-means (:func:`kmeans`); in each cell holding at least
``min_cell`` samples and held-out images, Z_U (:func:`mann_whitney_z`) compares the samples'
nearest-training distances with the held-out images'; C_T averages Z_U weighted by the cells'
held-out shares (:func:`data_copying`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .search import sq_dist

MIN_CELL = 10  # samples and held-out images a cell needs to enter C_T


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 25) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding: (N, F) -> centres (k, F), deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    k = min(k, len(x))
    centres = [x[torch.randint(len(x), (1,), generator=g)]]
    for _ in range(1, k):
        d2 = sq_dist(x, torch.cat(centres)).min(1).values
        p = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1 / len(d2))
        centres.append(x[torch.multinomial(p, 1, generator=g)])
    c = torch.cat(centres)
    for _ in range(iters):
        assign = sq_dist(x, c).argmin(1)
        onehot = torch.nn.functional.one_hot(assign, k).to(x.dtype)  # (N, k)
        counts = onehot.sum(0)[:, None]
        new = torch.where(counts > 0, onehot.T @ x / counts.clamp_min(1), c)
        if torch.allclose(new, c):
            break
        c = new
    return c


def mann_whitney_z(gen: np.ndarray, held: np.ndarray) -> float:
    """Z_U of Meehan et al.: U = #{(i, j): gen_i > held_j} (+ 1/2 per tie), standardised under H0."""
    m, n = len(gen), len(held)
    g, h = np.asarray(gen, np.float64)[:, None], np.asarray(held, np.float64)[None]
    u = float((g > h).sum() + 0.5 * (g == h).sum())
    return (u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12)


@dataclass(frozen=True)
class CopyingResult:
    """The three-sample data-copying test in one space."""

    C_T: float | None  # held-out-share-weighted mean Z_U over the kept cells (None: no cell kept)
    z_u: np.ndarray  # (cells,) Z_U per cell, nan where the cell is not kept
    gen_counts: np.ndarray  # (cells,) samples per cell
    held_counts: np.ndarray  # (cells,) held-out images per cell
    min_cell: int

    @property
    def kept(self) -> np.ndarray:
        return ~np.isnan(self.z_u)


def data_copying(gen_d: np.ndarray, held_d: np.ndarray, gen_cell: np.ndarray, held_cell: np.ndarray,
                 cells: int, min_cell: int = MIN_CELL) -> CopyingResult:
    """C_T from nearest-training distances of samples (``gen_d``) and held-out images (``held_d``)
    and the cells they fall in."""
    gc, hc = np.bincount(gen_cell, minlength=cells), np.bincount(held_cell, minlength=cells)
    z = np.full(cells, np.nan)
    for j in range(cells):
        if gc[j] >= min_cell and hc[j] >= min_cell:
            z[j] = mann_whitney_z(gen_d[gen_cell == j], held_d[held_cell == j])
    keep = ~np.isnan(z)
    c_t = float(np.sum(hc[keep] * z[keep]) / hc[keep].sum()) if keep.any() else None
    return CopyingResult(c_t, z, gc, hc, int(min_cell))
