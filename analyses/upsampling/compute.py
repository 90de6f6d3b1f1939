"""The notes' grids and the tap-count maps, each computed by both methods (:mod:`.methods`) and compared."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .methods import (nearest_by_copy, nearest_by_torch, tap_count_by_scatter, tap_count_by_torch,
                      transposed_by_scatter, transposed_by_torch)

# The notes' grids (seed 004)
NEAREST_INPUT = np.array([[1, 2], [3, 4]], np.float32)
INPUT_2x2 = np.array([[1, 2], [0, 3]], np.float32)
KERNEL_2x2 = np.array([[1, 3], [2, 1]], np.float32)
INPUT_3x3 = np.array([[1, 0, 2], [0, 3, 1], [2, 0, 1]], np.float32)
KERNEL_3x3_EX = np.array([[0, 2], [1, 1]], np.float32)

# Tap-count cases: (label, kernel, stride, padding); DCGAN's layer first
TAP_CASES = (("k4_s2_p1", 4, 2, 1), ("k2_s1_p0", 2, 1, 0), ("k2_s2_p0", 2, 2, 0), ("k3_s2_p1", 3, 2, 1))
TAP_INPUT_SIZES = (2, 3, 4)


@dataclass(frozen=True)
class UpsamplingResult:
    """Every worked grid, by PyTorch; ``max_abs_diff`` compares with the scatter-add."""

    nearest: np.ndarray  # (4, 4)
    transposed_2x2_s1: np.ndarray  # (3, 3)
    copies_2x2_s1: np.ndarray  # (4, 3, 3): one scaled kernel copy per input pixel
    transposed_3x3_s1: np.ndarray  # (4, 4)
    transposed_3x3_s2: np.ndarray  # (6, 6)
    copies_3x3_s2: np.ndarray  # (9, 6, 6)
    taps: dict = field(default_factory=dict)  # "k4_s2_p1_in3" -> (Ho, Wo) tap counts
    max_abs_diff: dict = field(default_factory=dict)  # grid name -> |torch - scatter| max

    @property
    def methods_agree(self) -> bool:
        return all(v == 0.0 for v in self.max_abs_diff.values())


def _both(name: str, by_torch: np.ndarray, by_scatter: np.ndarray, diffs: dict) -> np.ndarray:
    diffs[name] = float(np.abs(by_torch - by_scatter).max()) if by_torch.shape == by_scatter.shape else float("inf")
    return by_torch


def compute_upsampling() -> UpsamplingResult:
    """Compute the notes' grids and the tap-count maps, each by both methods.

    Returns:
        An :class:`UpsamplingResult`; ``max_abs_diff`` is 0 for every grid when the
        teaching scatter-add and PyTorch agree (they work in float64 on integers).
    """
    diffs: dict[str, float] = {}
    nearest = _both("nearest", nearest_by_torch(NEAREST_INPUT), nearest_by_copy(NEAREST_INPUT), diffs)
    s2x2, c2x2 = transposed_by_scatter(INPUT_2x2, KERNEL_2x2, 1)
    t2x2 = _both("transposed_2x2_s1", transposed_by_torch(INPUT_2x2, KERNEL_2x2, 1), s2x2, diffs)
    s3s1, _ = transposed_by_scatter(INPUT_3x3, KERNEL_3x3_EX, 1)
    t3s1 = _both("transposed_3x3_s1", transposed_by_torch(INPUT_3x3, KERNEL_3x3_EX, 1), s3s1, diffs)
    s3s2, c3s2 = transposed_by_scatter(INPUT_3x3, KERNEL_3x3_EX, 2)
    t3s2 = _both("transposed_3x3_s2", transposed_by_torch(INPUT_3x3, KERNEL_3x3_EX, 2), s3s2, diffs)
    taps = {}
    for label, k, s, p in TAP_CASES:
        for n in TAP_INPUT_SIZES:
            key = f"taps_{label}_in{n}"
            taps[key] = _both(key, tap_count_by_torch(n, k, s, p), tap_count_by_scatter(n, k, s, p), diffs)
    return UpsamplingResult(nearest, t2x2, c2x2, t3s1, t3s2, c3s2, taps, diffs)
