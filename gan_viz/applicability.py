"""Does the rooms parser fit these images? Its applicability, measured on the images it is about to measure.

The rooms parser was trained on rendered rooms; on anything else it still labels every pixel, with a
number that means nothing. Before it measures a model, gan-viz reads ``N_CHECK`` of the model's own
samples through the parser and asks how many look, in the parser's own feature space, like real rooms:

- each image's parser features (:meth:`gan_viz.parser.SceneParser.features`: pooled deepest features
  and class fractions), standardised by ``N_BANK`` real held-out rooms of the same size;
- its mean distance to its ``K`` nearest real rooms of that bank;
- ``room_like_share``: the share of images whose distance is within the 99th percentile of the
  same distance for ``N_NULL`` other real rooms (so real rooms score ~0.99 by construction).

The parser applies when ``room_like_share >= MIN_ROOM_LIKE``. Calibration (``tests/test_applicability.py``,
the values in ``CALIBRATION``): real rooms 0.995 (32x32) / 1.0 (64x64), the bundled 64x64 model 0.94 and 32x32 model 0.89; uniform
noise, blurred noise, an untrained DCGAN and a DCGAN after 500 steps (1.3 epochs, 64x64) all 0.0. The
mean per-pixel confidence (max softmax) is recorded beside it: it separates less well (0.80-0.92 for
untrained and early generators, 0.89 for the bundled model, 0.98 for real rooms), so it does not decide.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

N_CHECK = 200  # model samples read by the check
N_BANK, N_NULL, K = 500, 200, 5
BANK_START = 2000  # test-split rooms 2000..2699: not the rooms the model card or the analyses' defaults use
MIN_ROOM_LIKE = 0.5
QUANTILE = 0.99
CALIBRATION = {"real rooms (32x32 / 64x64)": "0.995 / 1.0", "bundled 64x64 / 32x32 model": "0.94 / 0.89",
               "uniform or blurred noise": "0.0", "untrained DCGAN": "0.0", "DCGAN at 500 steps (64x64)": "0.0"}


def _cache_file(parser, size: int) -> Path:
    """Where the reference of ``parser`` at ``size`` is kept: keyed on the parser's weights, the rooms
    renderer (its source and parameters) and these settings."""
    import hashlib

    from .data.cache import default_cache_dir
    from .data.rooms import renderer_key

    h = hashlib.sha256()
    for name, t in sorted(parser.net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    h.update(renderer_key(0, "test", size, N_BANK + N_NULL, 0).encode())
    h.update(repr((BANK_START, N_BANK, N_NULL, K, QUANTILE)).encode())
    return default_cache_dir().parent / "applicability" / f"rooms_{size}_{h.hexdigest()[:20]}.npz"


@functools.lru_cache(maxsize=8)
def _reference(size: int, parser) -> tuple:
    """(mean, std, standardised bank, distance threshold) of real rooms at ``size`` for ``parser``,
    computed once and kept on disk (``~/.cache/gan-viz/applicability``; a NumPy file, no pickle)."""
    import numpy as np

    from .data import build_dataset
    from .io import write_npz
    from .training.loop import load_batch

    path = _cache_file(parser, size)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                mu, sd, nb = (torch.from_numpy(z[k]) for k in ("mu", "sd", "bank"))
                return mu, sd, nb, float(z["tau"])
        except (OSError, ValueError, KeyError):
            pass  # unreadable: computed again below
    rooms = build_dataset("rooms", size, 3, "test")
    bank = parser.features(load_batch(rooms, torch.arange(BANK_START, BANK_START + N_BANK)))
    mu, sd = bank.mean(0), bank.std(0) + 1e-6
    nb = (bank - mu) / sd
    null = parser.features(load_batch(rooms, torch.arange(BANK_START + N_BANK, BANK_START + N_BANK + N_NULL)))
    tau = float(_knn((null - mu) / sd, nb).quantile(QUANTILE))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, mu=mu.numpy(), sd=sd.numpy(), bank=nb.numpy(), tau=np.float64(tau))
    except OSError:
        pass  # a read-only cache folder: the reference is kept in memory only
    return mu, sd, nb, tau


def _knn(f: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    return torch.cdist(f, bank).topk(K, largest=False).values.mean(1)


def rooms_applicability(parser, images: torch.Tensor) -> dict:
    """The rooms parser's applicability to ``images`` (N, 3, H, W) in [-1, 1], H == W in 32..128.

    Returns a JSON-able dict: ``room_like_share``, ``threshold``, ``in_domain``, ``n``,
    ``median_distance_ratio`` (median distance / the real-room threshold), ``mean_confidence``.
    """
    size = int(images.shape[-1])
    mu, sd, nb, tau = _reference(size, parser)
    x = images.float().clamp(-1, 1)
    f = parser.features(x)
    d = _knn((f - mu) / sd, nb)
    conf = parser.logits(x).softmax(1).amax(1).mean((1, 2))
    share = float((d <= tau).float().mean())
    return {"measure": "room_like_share", "room_like_share": round(share, 4), "threshold": MIN_ROOM_LIKE,
            "in_domain": share >= MIN_ROOM_LIKE, "n": len(x),
            "median_distance_ratio": round(float(d.median() / tau), 3),
            "mean_confidence": round(float(conf.mean()), 4),
            "rule": f"share of images within the {QUANTILE:.0%} real-room distance in the parser's features "
                    f"(k={K} nearest of {N_BANK} held-out rooms); applies at >= {MIN_ROOM_LIKE}"}


def phrase(rec: dict) -> str:
    """'room-like share 0% of 200 samples < 50%' for captions and errors."""
    op = ">=" if rec["in_domain"] else "<"
    return (f"room-like share {rec['room_like_share']:.0%} of {rec['n']} samples {op} {rec['threshold']:.0%}; "
            "real rooms ~99%, the bundled model 89%, noise and untrained G 0%")
