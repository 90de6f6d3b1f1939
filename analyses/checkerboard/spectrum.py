"""Power spectra and the checkerboard score: power at the stride frequencies of a period over its neighbours."""

from __future__ import annotations

import numpy as np
import torch

NEIGHBOUR_RADIUS = 2


def power_spectrum(x: torch.Tensor) -> np.ndarray:
    """Mean power spectrum over images and channels, DC of each map removed.

    Args:
        x: (N, C, H, W) images or feature maps.
    Returns:
        (H, W) float64, unshifted (index 0 is DC), |FFT|^2 / (H W).
    """
    x = x.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    p = torch.fft.fft2(x).abs() ** 2 / (x.shape[-1] * x.shape[-2])  # (N, C, H, W)
    return p.mean(dim=(0, 1)).numpy()


def stride_peaks(size: int, period: int) -> list[tuple[int, int]]:
    """Frequency indices (u, v) of a pattern of ``period`` pixels, not already of period/2."""
    if period < 2 or size % period:
        return []
    k = size // period
    out = []
    for a in range(period):
        for b in range(period):
            if (a, b) != (0, 0) and not (a % 2 == 0 and b % 2 == 0 and period > 2):
                out.append(((k * a) % size, (k * b) % size))
    return sorted(set(out))


def periods_for(size: int, max_period: int | None = None) -> list[int]:
    """2, 4, ... up to size / 4 (or ``max_period``)."""
    top = max_period or max(2, size // 4)
    out, p = [], 2
    while p <= top and size % p == 0:
        out.append(p)
        p *= 2
    return out


def peak_score(spec: np.ndarray, period: int, exclude_periods: list[int] | None = None) -> float:
    """Mean over the stride frequencies of ``period`` of power / mean power of their neighbours."""
    h, w = spec.shape
    if h != w:
        raise ValueError("square spectra only")
    peaks = stride_peaks(h, period)
    if not peaks:
        return float("nan")
    excluded = {(0, 0)} | set(peaks)
    for p in exclude_periods or []:
        excluded |= set(stride_peaks(h, p))
    r, ratios = NEIGHBOUR_RADIUS, []
    for u, v in peaks:
        neigh = [((u + du) % h, (v + dv) % w) for du in range(-r, r + 1) for dv in range(-r, r + 1)]
        neigh = [q for q in neigh if q not in excluded and _axis_class(q) == _axis_class((u, v))]
        around = np.mean([spec[q] for q in neigh]) if neigh else 0.0
        if around > 0 and spec[u, v] > 0:
            ratios.append(spec[u, v] / around)
    return float(np.mean(ratios)) if ratios else float("nan")


def _axis_class(q: tuple[int, int]) -> int:
    """0 on the vertical-frequency axis, 1 on the horizontal one, 2 off the axes.

    Axis-aligned edges (and the image border) put a cross of energy on the axes; a peak
    on an axis is compared only with neighbours on the same axis, an off-axis peak only
    with off-axis neighbours, so that cross is not mistaken for a checkerboard.
    """
    return 0 if q[1] == 0 else 1 if q[0] == 0 else 2


def image_scores(spec: np.ndarray, periods: list[int]) -> dict[str, float]:
    return {f"period_{p}": peak_score(spec, p, periods) for p in periods}
