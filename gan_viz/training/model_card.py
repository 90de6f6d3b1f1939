"""Model cards: what a shipped checkpoint is, how it was made, and how good it is.

For rooms models, quality is measured by the scene parser on generated samples against
held-out real rooms: per-class pixel fractions, the share of images that contain each
object (at least ``MIN_OBJECT_PIXELS`` pixels of it), and a Frechet distance in the
parser's feature space.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import build_dataset
from ..models import sample_z
from .loop import load_batch
from .quality import frechet_distance

MIN_OBJECT_PIXELS = 4


def presence(classmaps: torch.Tensor, n_classes: int, min_pixels: int = MIN_OBJECT_PIXELS) -> np.ndarray:
    """(N, H, W) class maps -> (N, K) bool: the image holds >= min_pixels of class k."""
    counts = torch.stack([(classmaps == k).flatten(1).sum(1) for k in range(n_classes)], 1)
    return (counts >= min_pixels).numpy()


@torch.no_grad()
def rooms_quality(G: torch.nn.Module, cfg, parser, n: int = 1000, seed: int = 0) -> dict:
    """Parser statistics of ``n`` samples (eval mode) vs ``n`` held-out rooms.

    Returns a dict with per-class ``fraction`` and ``presence`` for "generated" and
    "real", their ratios, and ``frechet_parser``.
    """
    from ..data.rooms import CLASSES

    G.eval()
    z = sample_z(cfg, n, torch.Generator().manual_seed(seed))
    fake = torch.cat([G(z[i:i + 250]).float() for i in range(0, n, 250)])
    real = load_batch(build_dataset("rooms", cfg.image_size, cfg.nc, "test"), torch.arange(n))
    out = {"n": n, "min_object_pixels": MIN_OBJECT_PIXELS, "classes": list(CLASSES)}
    feats = {}
    for name, x in (("generated", fake), ("real", real)):
        seg = parser.segment(x)
        frac = np.stack([(seg == k).float().mean((1, 2)).numpy() for k in range(len(CLASSES))], 1)
        out[name] = {"fraction": dict(zip(CLASSES, frac.mean(0).round(5).tolist())),
                     "presence": dict(zip(CLASSES, presence(seg, len(CLASSES)).mean(0).round(4).tolist()))}
        feats[name] = parser.features(x).numpy()
    out["ratio"] = {k: {c: (out["generated"][k][c] / out["real"][k][c] if out["real"][k][c] else None)
                        for c in CLASSES} for k in ("fraction", "presence")}
    out["frechet_parser"] = frechet_distance(feats["generated"], feats["real"])
    half = n // 2
    out["frechet_parser_real_vs_real"] = frechet_distance(feats["real"][:half], feats["real"][half:])
    return out
