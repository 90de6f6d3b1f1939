"""Model cards: what a shipped checkpoint is, how it was made, and how good it is.

For rooms models, quality is measured by the scene parser on generated samples against
held-out real rooms: per-class pixel fractions, the share of images that contain each
object (at least ``MIN_OBJECT_FRACTION`` of its pixels: 4 pixels at 32x32, 16 at 64x64, so a few
stray pixels of a larger image do not count as an object), and a Frechet distance in the
parser's feature space.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import build_dataset
from ..models import sample_z
from .loop import load_batch
from .quality import frechet_distance

MIN_OBJECT_FRACTION = 4 / 1024  # "present": 4 pixels of a 32x32 image, the same share at every size


def min_object_pixels(h: int, w: int) -> int:
    return max(1, round(MIN_OBJECT_FRACTION * h * w))


def presence(classmaps: torch.Tensor, n_classes: int, min_pixels: int | None = None) -> np.ndarray:
    """(N, H, W) class maps -> (N, K) bool: the image holds >= min_pixels of class k (default:
    :func:`min_object_pixels` of the maps' size)."""
    if min_pixels is None:
        min_pixels = min_object_pixels(*classmaps.shape[-2:])
    counts = torch.stack([(classmaps == k).flatten(1).sum(1) for k in range(n_classes)], 1)
    return (counts >= min_pixels).numpy()


def mean_pairwise(f: np.ndarray, m: int = 500) -> float:
    """Mean Euclidean distance between the first ``m`` rows of ``f`` (distinct pairs)."""
    x = torch.as_tensor(f[:m], dtype=torch.float64)
    d = torch.cdist(x, x)
    k = len(x)
    return float(d.sum() / max(k * (k - 1), 1))


@torch.no_grad()
def parser_stats(parser, x: torch.Tensor, n_classes: int) -> dict:
    """Per-image class fractions (N, K), presence (N, K) and parser features (N, F) of images ``x``."""
    seg = parser.segment(x)
    frac = np.stack([(seg == k).float().mean((1, 2)).numpy() for k in range(n_classes)], 1)
    return {"fraction": frac, "presence": presence(seg, n_classes), "features": parser.features(x).numpy()}


def real_rooms_stats(parser, cfg, n: int, start: int = 0) -> dict:
    """:func:`parser_stats` of test-split rooms ``start`` .. ``start + n - 1`` at the model's size."""
    from ..data.rooms import CLASSES

    rooms = build_dataset("rooms", cfg.image_size, cfg.nc, "test", n=max(5_000, start + n))  # held out: test split
    real = load_batch(rooms, torch.arange(start, start + n))
    return {**parser_stats(parser, real, len(CLASSES)), "range": [start, start + n]}


@torch.no_grad()
def rooms_quality(G: torch.nn.Module, cfg, parser, n: int = 1000, seed: int = 0, real_start: int = 0,
                  real: dict | None = None, control: dict | None = None) -> dict:
    """Parser statistics of ``n`` samples (eval mode, z seed ``seed``) vs ``n`` held-out rooms
    (test-split rooms ``real_start`` .. ``real_start + n - 1``, or ``real``: their
    :func:`real_rooms_stats`, computed once for many models); ``frechet_parser_real_vs_real`` is
    the floor at equal N: ``control`` (default: the next ``n`` test rooms) against the same real set.

    Returns a dict with per-class ``fraction`` and ``presence`` for "generated" and
    "real", their ratios, ``frechet_parser`` and ``diversity_ratio`` (mean pairwise
    distance of the samples' parser features over that of the real rooms': a collapsed
    G draws near-identical images, ratio well under 1).
    """
    from ..data.rooms import CLASSES

    G.eval()
    z = sample_z(cfg, n, torch.Generator().manual_seed(seed))
    fake = torch.cat([G(z[i:i + 250]).float() for i in range(0, n, 250)])
    if real is None:
        real = real_rooms_stats(parser, cfg, n, real_start)
    out = {"n": n, "z_seed": seed, "real_test_rooms": list(real["range"]),
           "min_object_pixels": min_object_pixels(cfg.image_size, cfg.image_size), "classes": list(CLASSES)}
    stats = {"generated": parser_stats(parser, fake, len(CLASSES)), "real": real}
    for name, st in stats.items():
        out[name] = {"fraction": dict(zip(CLASSES, st["fraction"].mean(0).round(5).tolist())),
                     "presence": dict(zip(CLASSES, st["presence"].mean(0).round(4).tolist()))}
    feats = {k: v["features"] for k, v in stats.items()}
    out["ratio"] = {k: {c: (out["generated"][k][c] / out["real"][k][c] if out["real"][k][c] else None)
                        for c in CLASSES} for k in ("fraction", "presence")}
    out["frechet_parser"] = frechet_distance(feats["generated"], feats["real"])
    out["diversity_ratio"] = mean_pairwise(feats["generated"]) / mean_pairwise(feats["real"])
    # the floor at the same N on both sides: as many other held-out rooms against the same real set
    # (halves of it, as before, inflate the floor: the Frechet distance is biased upward roughly as 1/N)
    if control is None:
        end = real["range"][1]
        control = real_rooms_stats(parser, cfg, len(feats["real"]), end)
    out["frechet_parser_real_vs_real"] = frechet_distance(control["features"], feats["real"])
    from ..metrics import headline

    more = headline(feats["real"], feats["generated"], control["features"])
    out.update({k: v for k, v in more.items() if not k.startswith("frechet")})  # kid_parser, ... and floors
    out["real_control_rooms"] = list(control["range"])
    return out
