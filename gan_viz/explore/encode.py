"""Images for the page: PNG data URLs of model images, heat maps and guided-backprop maps."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import torch

from gan_viz.images import to_uint8


def png_url(rgb: np.ndarray) -> str:
    """(H, W, 3) uint8 RGB -> ``data:image/png;base64,...``."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:  # pragma: no cover (cv2 encodes any uint8 image)
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def image_urls(images: torch.Tensor | np.ndarray) -> list[str]:
    """(N, C, H, W) in [-1, 1] -> N PNG data URLs."""
    return [png_url(im) for im in to_uint8(images)]


def heat_urls(images: torch.Tensor | np.ndarray, maps: torch.Tensor | np.ndarray) -> list[str]:
    """Each image (N, C, H, W) in [-1, 1] under its activation map (N, h, w), upsampled and
    coloured (dark = low, yellow = high; each map scaled by its own maximum)."""
    pics = to_uint8(images)
    m = np.asarray(maps.float() if isinstance(maps, torch.Tensor) else maps, np.float32)
    out = []
    for pic, a in zip(pics, m):
        a = np.clip(a / max(float(a.max()), 1e-12), 0, 1)
        up = cv2.resize(a, (pic.shape[1], pic.shape[0]), interpolation=cv2.INTER_LINEAR)
        heat = cv2.applyColorMap((up * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
        w = (0.25 + 0.75 * up)[..., None]
        out.append(png_url((pic * (1 - 0.6 * w) + heat * 0.6 * w).astype(np.uint8)))
    return out


def rgb_urls(pics: np.ndarray) -> list[str]:
    """(N, H, W, 3) uint8 -> N PNG data URLs."""
    return [png_url(p) for p in pics]
