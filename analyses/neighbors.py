"""Nearest training images of generated samples, and a memorisation score.

Two spaces:

- ``pixel``: per-pixel RMS distance (Euclidean / sqrt(C*H*W)), as the trainer's
  per-epoch quality log.
- ``D``: D's features (every conv block max-pooled to 4x4, as ``gan-viz classify``),
  each image's vector scaled to unit length; the distance is Euclidean between those
  (sqrt(2 - 2 cos)), so images D sees alike are near whatever their pixel offsets.

Memorisation score (per space): the share of samples whose nearest training image is
closer than the ``quantile`` (default 5%) quantile of the same distance measured from
held-out real images, i.e. closer than held-out real images typically come to the
training set. A model that draws new images like the held-out ones scores about
``quantile``; one that replays training images scores near 1. ``median_ratio`` is the
median sample distance over the median held-out distance (< 1: samples hug the
training set; > 1: they lie further from it than real images do, e.g. blurry or odd).

Example:
    >>> r = compute_neighbors({"pixel": pix_fn}, fake, train, heldout, k=3)
    >>> r.spaces["pixel"].memorisation
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch

QUANTILE = 0.05


def pixel_embedding(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*H*W) float32 / sqrt(C*H*W): Euclidean distance becomes per-pixel RMS."""
    x = images.flatten(1).float()
    return x / x.shape[1] ** 0.5


def unit_rows(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, F) -> (N, F) float32 rows of unit length (zero rows stay zero)."""
    f = torch.as_tensor(np.asarray(features)).float()
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


def nearest(a: torch.Tensor, b: torch.Tensor, k: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``b`` (M, F) to each row of ``a`` (N, F), Euclidean.

    Returns:
        (distances (N, k) ascending, indices into b (N, k)).
    """
    k = min(k, len(b))
    dist, idx = [], []
    for s in range(0, len(a), chunk):
        d = torch.cdist(a[s:s + chunk], b)  # (n, M)
        v, i = d.topk(k, dim=1, largest=False)
        dist.append(v)
        idx.append(i)
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


@dataclass(frozen=True)
class SpaceResult:
    """Neighbours in one space."""

    distances: np.ndarray  # (N, k) sample -> nearest training images, ascending
    indices: np.ndarray  # (N, k) positions in the searched training images
    heldout_nn: np.ndarray  # (M,) held-out real image -> nearest training image
    threshold: float  # the quantile of heldout_nn
    quantile: float

    @property
    def memorisation(self) -> float:
        """Share of samples closer to the training set than ``threshold``."""
        return float((self.distances[:, 0] < self.threshold).mean())

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.distances[:, 0]) / max(np.median(self.heldout_nn), 1e-12))


@dataclass(frozen=True)
class NeighborsResult:
    spaces: dict  # space name -> SpaceResult
    n_train: int  # training images searched

    def closest(self, space: str, n: int) -> np.ndarray:
        """The ``n`` samples nearest to the training set in ``space``, nearest first."""
        return np.argsort(self.spaces[space].distances[:, 0], kind="stable")[:n]


Embed = Callable[[torch.Tensor], torch.Tensor]


def compute_neighbors(embeddings: Mapping[str, Embed], generated: torch.Tensor, train: torch.Tensor,
                      heldout: torch.Tensor, k: int = 3, quantile: float = QUANTILE) -> NeighborsResult:
    """Nearest training images of samples and of held-out images in every space.

    Args:
        embeddings: space name -> function (N, C, H, W) -> (N, F) whose Euclidean distance is the space's.
        generated: (N, C, H, W) samples. train: (T, C, H, W) searched training images.
        heldout: (M, C, H, W) real images not in ``train`` (the reference). k: neighbours kept.
        quantile: of the held-out distances, the memorisation threshold.
    Returns:
        :class:`NeighborsResult`.
    """
    spaces = {}
    for name, embed in embeddings.items():
        et = embed(train)
        d, i = nearest(embed(generated), et, k)
        dh, _ = nearest(embed(heldout), et, 1)
        spaces[name] = SpaceResult(d, i, dh[:, 0], float(np.quantile(dh[:, 0], quantile)), float(quantile))
    return NeighborsResult(spaces, len(train))


def summary_of(r: NeighborsResult) -> dict:
    out = {}
    for name, s in r.spaces.items():
        out[name] = {"memorisation": s.memorisation, "expected_if_like_heldout": s.quantile,
                     "threshold": s.threshold, "median_ratio": s.median_ratio,
                     "sample_nn_median": float(np.median(s.distances[:, 0])),
                     "heldout_nn_median": float(np.median(s.heldout_nn)),
                     "sample_nn_min": float(s.distances[:, 0].min())}
    return {"spaces": out, "train_images_searched": r.n_train,
            "distance": {"pixel": "per-pixel RMS", "D": "Euclidean between unit-length D feature vectors"}}


def arrays_of(r: NeighborsResult) -> dict:
    arrays = {}
    for name, s in r.spaces.items():
        arrays.update({f"{name}_distances": s.distances, f"{name}_indices": s.indices,
                       f"{name}_heldout_nn": s.heldout_nn})
    return arrays


def plot_neighbors(r: NeighborsResult, samples: np.ndarray, train: np.ndarray, rows: np.ndarray, title: str = ""):
    """Each chosen sample beside its nearest training images in every space.

    Args:
        samples: (N, H, W, 3) uint8 generated. train: (T, H, W, 3) uint8 searched training images.
        rows: which samples to show, top to bottom.
    """
    import matplotlib.pyplot as plt

    names = list(r.spaces)
    k = r.spaces[names[0]].distances.shape[1]
    cols = 1 + k * len(names)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.9 + 0.4, len(rows) * 0.95 + 0.5), squeeze=False)
    for a, i in enumerate(rows):
        axes[a, 0].imshow(samples[i], interpolation="nearest")
        for s, name in enumerate(names):
            sp = r.spaces[name]
            for j in range(k):
                ax = axes[a, 1 + s * k + j]
                ax.imshow(train[sp.indices[i, j]], interpolation="nearest")
                ax.set_title(f"{sp.distances[i, j]:.3f}", fontsize=6, pad=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("sample", fontsize=7, pad=8)
    for s, name in enumerate(names):
        axes[0, 1 + s * k].annotate(f"nearest training images, {name} space", (0, 1.35), xycoords="axes fraction",
                                    fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def plot_distances(r: NeighborsResult):
    """Histograms of nearest-training distances: samples vs held-out real, threshold marked."""
    import matplotlib.pyplot as plt

    names = list(r.spaces)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = r.spaces[name]
        bins = np.linspace(0, max(s.distances[:, 0].max(), s.heldout_nn.max()) * 1.02, 40)
        ax.hist(s.heldout_nn, bins, alpha=0.6, density=True, color="#a0a0a0", label="held-out real")
        ax.hist(s.distances[:, 0], bins, alpha=0.6, density=True, color="#3b6fb6", label="generated")
        ax.axvline(s.threshold, color="#d04040", ls="--", lw=1, label=f"{100 * s.quantile:g}% of held-out")
        ax.set_title(f"{name}: memorisation {100 * s.memorisation:.1f}% (like held-out: "
                     f"{100 * s.quantile:g}%)", fontsize=9)
        ax.set_xlabel("distance to nearest training image")
        ax.legend(fontsize=7)
    return fig
