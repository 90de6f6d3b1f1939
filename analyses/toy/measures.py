"""Samples against p_data: the (sliced) 1-Wasserstein distance and the modes covered."""

from __future__ import annotations

import numpy as np

from .data import ToyData

HQ_SIGMAS = 3.0  # high quality: within 3 std of the nearest component
COVER_SHARE = 0.2  # covered: >= 20% of the fair share of high-quality samples
N_SLICES = 32


def distance(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """1-Wasserstein (1-D) or sliced 1-Wasserstein (2-D) between equal-size samples (N, d)."""
    if a.shape[1] == 1:
        return float(np.abs(np.sort(a[:, 0]) - np.sort(b[:, 0])).mean())
    dirs = np.random.default_rng(seed).normal(size=(a.shape[1], N_SLICES))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.ascontiguousarray((a @ dirs).T), np.ascontiguousarray((b @ dirs).T)  # (slices, N)
    return float(np.abs(np.sort(pa, 1) - np.sort(pb, 1)).mean())


def mode_stats(samples: np.ndarray, data: ToyData) -> tuple[int, float]:
    """(modes covered, share of high-quality samples) of samples (N, d)."""
    d = np.sqrt(((samples[:, None, :] - data.means[None]) ** 2).sum(-1))  # (N, K)
    nearest, dist = d.argmin(1), d.min(1)
    hq = dist < HQ_SIGMAS * data.std
    counts = np.bincount(nearest[hq], minlength=len(data.means))
    fair = len(samples) / len(data.means)
    return int((counts >= COVER_SHARE * fair).sum()), float(hq.mean())
