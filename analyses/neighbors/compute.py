"""Nearest training images of generated samples, a memorisation score and the data-copying test.

Two spaces:

- ``pixel``: per-pixel RMS distance (Euclidean / sqrt(C*H*W)), as the trainer's
  per-epoch quality log.
- ``D``: D's features (every conv block max-pooled to 4x4, as ``gan-viz classify``),
  each image's vector scaled to unit length; the distance is Euclidean between those
  (sqrt(2 - 2 cos)), so images D sees alike are near whatever their pixel offsets.

The search covers the whole training split by default (``n_train=0``), streamed in
chunks (64 samples against 50,000 rooms at 32x32 is ~10 GFLOP): a copy is found whatever
training image it copies. ``train_searched`` and ``train_size`` say how much was searched.

Memorisation score (per space): the share of samples whose nearest training image is
closer than the ``quantile`` (default 5%) quantile of the same distance measured from
held-out real images (the test split, against the same searched training images), i.e.
closer than held-out real images typically come to the training set. A model that draws
new images like the held-out ones scores about ``quantile``; one that replays training
images scores near 1. ``median_ratio`` is the median sample distance over the median
held-out distance (< 1: samples hug the training set; > 1: they lie further from it).

Data copying (Meehan, Chaudhuri & Dasgupta 2020, the three-sample test C_T): the training
images are clustered by k-means (``cells``, fit on a random subset of the searched
images) and every sample and held-out image falls into its nearest centre's cell. In each
cell holding at least ``min_cell`` of each, Z_U is the Mann-Whitney U z-score of the
samples' nearest-training distances against the held-out images' (U counts pairs where
the sample is further away than the held-out image); C_T is the average of Z_U over those
cells weighted by their share of held-out images. Z_U ~ 0 where the model is like
held-out data; negative = samples closer to the training set than new data is (copying);
positive = further (underfitting). Meehan et al. call a model copying at C_T < -3-ish.

The search is in :mod:`.search`, the data-copying test in :mod:`.copying`, the streamed
training images in :mod:`.stream`.

Example:
    >>> r = compute_neighbors({"pixel": pixel_embedding}, fake, train, heldout, k=3)
    >>> r.spaces["pixel"].memorisation, r.spaces["pixel"].copying.C_T
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from gan_viz.errors import UserError

from .copying import MIN_CELL, CopyingResult, data_copying, kmeans
from .search import TopK, sq_dist

QUANTILE = 0.05
CELLS = 5  # k-means cells of the data-copying test
KMEANS_FIT = 2000  # searched training images the k-means is fit on
CHUNK = 2048  # training images per search step


@dataclass(frozen=True)
class SpaceResult:
    """Neighbours in one space."""

    distances: np.ndarray  # (N, k) sample -> nearest training images, ascending
    indices: np.ndarray  # (N, k) positions in the searched training images
    heldout_nn: np.ndarray  # (M,) held-out real image -> nearest training image
    threshold: float  # the quantile of heldout_nn
    quantile: float
    copying: CopyingResult | None = None

    @property
    def memorisation(self) -> float:
        """Share of samples closer to the training set than ``threshold``."""
        return float((self.distances[:, 0] < self.threshold).mean())

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.distances[:, 0]) / max(np.median(self.heldout_nn), 1e-12))


@dataclass(frozen=True)
class NeighborsResult:
    """Neighbours of the samples and the held-out images in every space."""

    spaces: dict  # space name -> SpaceResult
    n_train: int  # training images searched

    def closest(self, space: str, n: int) -> np.ndarray:
        """The ``n`` samples nearest to the training set in ``space``, nearest first."""
        return np.argsort(self.spaces[space].distances[:, 0], kind="stable")[:n]


Embed = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainStream:
    """Searched training images delivered in chunks: ``chunks()`` yields (offset, images (M, C, H, W))
    covering positions 0..size-1 in order."""

    size: int
    chunks: Callable[[], Iterator[tuple[int, torch.Tensor]]]


def _stream(train: torch.Tensor | TrainStream, chunk: int = CHUNK) -> TrainStream:
    if isinstance(train, TrainStream):
        return train
    return TrainStream(len(train), lambda: ((s, train[s:s + chunk]) for s in range(0, len(train), chunk)))


def compute_neighbors(embeddings: Mapping[str, Embed], generated: torch.Tensor,
                      train: torch.Tensor | TrainStream, heldout: torch.Tensor, k: int = 3,
                      quantile: float = QUANTILE, cells: int = CELLS, min_cell: int = MIN_CELL,
                      seed: int = 0) -> NeighborsResult:
    """Nearest training images of samples and of held-out images in every space, and C_T.

    Args:
        embeddings: space name -> function (N, C, H, W) -> (N, F) whose Euclidean distance is the space's.
        generated: (N, C, H, W) samples. train: (T, C, H, W) searched training images, or a
            :class:`TrainStream` of them (read once, chunk by chunk).
        heldout: (M, C, H, W) real images not in ``train`` (the reference). k: neighbours kept.
        quantile: of the held-out distances, the memorisation threshold.
        cells: k-means cells of the data-copying test (0: no test). min_cell: samples and held-out
            images a cell needs. seed: which training images the k-means is fit on, its seeding.
    Returns:
        :class:`NeighborsResult`.
    """
    ts = _stream(train)
    if ts.size < 1:
        raise UserError("no training images to search")
    rng = np.random.default_rng(seed)
    fit_pos = np.sort(rng.permutation(ts.size)[:KMEANS_FIT])
    queries = {n: (e(generated), e(heldout)) for n, e in embeddings.items()}
    tops = {n: TopK(torch.cat([q, h]), k) for n, (q, h) in queries.items()}  # samples, then held-out
    fit = {n: [] for n in embeddings}
    for offset, images in ts.chunks():
        inside = fit_pos[(fit_pos >= offset) & (fit_pos < offset + len(images))] - offset
        for name, embed in embeddings.items():
            et = embed(images)
            tops[name].add(et, offset)
            fit[name].append(et[torch.as_tensor(inside)])
    spaces = {}
    for name, top in tops.items():
        m = len(generated)
        d, i, dh = top.d[:m].numpy(), top.i[:m].numpy(), top.d[m:, 0].numpy()
        copying = None
        if cells > 0:
            centres = kmeans(torch.cat(fit[name]), cells, seed)
            gq, hq = queries[name]
            copying = data_copying(d[:, 0], dh, sq_dist(gq, centres).argmin(1).numpy(),
                                   sq_dist(hq, centres).argmin(1).numpy(), len(centres), min_cell)
        spaces[name] = SpaceResult(d, i, dh, float(np.quantile(dh, quantile)), float(quantile), copying)
    return NeighborsResult(spaces, ts.size)
