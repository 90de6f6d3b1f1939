"""Conversions between model tensors in [-1, 1] and displayable uint8 images."""

from __future__ import annotations

import numpy as np
import torch


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, 3) uint8 RGB (grayscale is repeated)."""
    x = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    x = np.clip((x + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def area_resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """(N, C, H, W) ``images`` area-averaged to ``size`` x ``size`` where they are larger, else unchanged
    (differentiable). The analyses that read samples at a smaller size than the model draws use this."""
    if size is None or min(images.shape[-2:]) <= size:
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="area")


def class_fractions_of(seg: torch.Tensor, k: int, dtype=torch.float32) -> torch.Tensor:
    """(N, H, W) integer label maps -> (N, K) share of each image's pixels in each of ``k`` classes
    (counted by ``scatter_add``: no (N, H*W, K) one-hot array); an empty batch gives (0, K)."""
    flat = seg.long().flatten(1)
    counts = torch.zeros(len(flat), k, dtype=dtype).scatter_add_(1, flat, torch.ones(flat.shape, dtype=dtype))
    return counts / max(1, flat.shape[1])


def grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images into one (rows*(H+pad)+pad, ...) image."""
    n, h, w, c = images.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), fill, np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = images[i]
    return out
