"""Upsampling computed twice: the teaching implementations (explicit loops, written to be read) and PyTorch's."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


# --- the teaching implementations --------------------------------------------------

def nearest_by_copy(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """Nearest-neighbour upsampling written out: each pixel fills a factor x factor block.

    Args:
        x: (H, W) input grid.
        factor: integer scale.
    Returns:
        (H*factor, W*factor) grid.
    """
    h, w = x.shape
    out = np.zeros((h * factor, w * factor), np.float64)
    for i in range(h):
        for j in range(w):
            out[i * factor:(i + 1) * factor, j * factor:(j + 1) * factor] = x[i, j]
    return out


def transposed_by_scatter(x: np.ndarray, k: np.ndarray, stride: int = 1,
                          padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Transposed convolution as the notes draw it: scaled kernel copies, added.

    Input pixel (i, j) writes ``x[i, j] * k`` into the output at rows ``i*stride ...``,
    columns ``j*stride ...``; overlapping writes add. ``padding`` then crops that many
    rows/columns from every border (PyTorch's definition for ``conv_transpose2d``).

    Args:
        x: (H, W) input.
        k: (kh, kw) kernel (not flipped: this is what ``conv_transpose2d`` does).
        stride: step between the copies.
        padding: border cropped from the full result.
    Returns:
        (out, copies): out (Ho, Wo) with Ho = (H-1)*stride + kh - 2*padding, and
        copies (H*W, Ho, Wo), the cropped contribution of each input pixel (row-major).
    """
    h, w = x.shape
    kh, kw = k.shape
    full_h, full_w = (h - 1) * stride + kh, (w - 1) * stride + kw
    copies = np.zeros((h * w, full_h, full_w), np.float64)
    for i in range(h):
        for j in range(w):
            copies[i * w + j, i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * k
    copies = copies[:, padding:full_h - padding, padding:full_w - padding]
    return copies.sum(axis=0), copies


def tap_count_by_scatter(size: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """How many (input pixel, kernel tap) pairs write into each output pixel."""
    ones = np.ones((size, size))
    out, _ = transposed_by_scatter(ones, np.ones((kernel, kernel)), stride, padding)
    return out


# --- the PyTorch implementations ---------------------------------------------------

def nearest_by_torch(x: np.ndarray, factor: int = 2) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    return F.interpolate(t, scale_factor=factor, mode="nearest")[0, 0].numpy()


def transposed_by_torch(x: np.ndarray, k: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    w = torch.as_tensor(k, dtype=torch.float64)[None, None]  # (C_in=1, C_out=1, kh, kw)
    return F.conv_transpose2d(t, w, stride=stride, padding=padding)[0, 0].numpy()


def tap_count_by_torch(size: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    return transposed_by_torch(np.ones((size, size)), np.ones((kernel, kernel)), stride, padding)
