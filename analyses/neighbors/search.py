"""Nearest-neighbour search: the two embeddings (pixel, unit-length D features) and exact top-k.

Candidates are ranked by one matrix product (:func:`sq_dist`), their distances recomputed
exactly (:func:`nearest`); :class:`TopK` keeps the running ``k`` nearest over chunks of the
searched set.
"""

from __future__ import annotations

import numpy as np
import torch


def pixel_embedding(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*H*W) float32 / sqrt(C*H*W): Euclidean distance becomes per-pixel RMS."""
    x = images.flatten(1).float()
    return x / x.shape[1] ** 0.5


def unit_rows(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, F) -> (N, F) float32 rows of unit length (zero rows stay zero)."""
    f = torch.as_tensor(np.asarray(features)).float()
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, F), (M, F) -> (N, M) squared Euclidean distances by one matrix product (clamped at 0)."""
    return ((a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None]).clamp_min_(0)


def nearest(a: torch.Tensor, b: torch.Tensor, k: int, chunk: int = 512, spare: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``b`` (M, F) to each row of ``a`` (N, F), Euclidean.

    Candidates are ranked by :func:`sq_dist` (a matrix product, about twice as fast as
    ``torch.cdist``); the ``k + spare`` best get their distance recomputed exactly from the
    differences and are re-sorted, so rounding in the product cannot change a distance.

    Returns:
        (distances (N, k) ascending, indices into b (N, k)).
    """
    k = min(k, len(b))
    c = min(k + spare, len(b))
    dist, idx = [], []
    for s in range(0, len(a), chunk):
        q = a[s:s + chunk]
        cand = sq_dist(q, b).topk(c, dim=1, largest=False).indices  # (n, c)
        exact = (q[:, None, :] - b[cand]).norm(dim=2)  # (n, c)
        v, order = exact.sort(dim=1, stable=True)
        dist.append(v[:, :k])
        idx.append(cand.gather(1, order[:, :k]))
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


class TopK:
    """Running ``k`` nearest of each query row over chunks of the searched set."""

    def __init__(self, queries: torch.Tensor, k: int):
        self.q, self.k = queries, k
        self.d = torch.full((len(queries), 0), float("inf"))
        self.i = torch.zeros((len(queries), 0), dtype=torch.long)

    def add(self, block: torch.Tensor, offset: int) -> None:
        """``block`` (M, F): searched rows ``offset .. offset + M - 1``."""
        v, i = nearest(self.q, block, self.k)
        d = torch.cat([self.d, torch.as_tensor(v)], 1)
        idx = torch.cat([self.i, torch.as_tensor(i) + offset], 1)
        v, order = d.sort(dim=1, stable=True)  # earlier positions first among equal distances
        self.d, self.i = v[:, :self.k], idx.gather(1, order[:, :self.k])
