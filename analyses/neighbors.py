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

Example:
    >>> r = compute_neighbors({"pixel": pix_fn}, fake, train, heldout, k=3)
    >>> r.spaces["pixel"].memorisation, r.spaces["pixel"].copying.C_T
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz import memory as _memory
from gan_viz.errors import UserError

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

QUANTILE = 0.05
CELLS = 5  # k-means cells of the data-copying test
MIN_CELL = 10  # samples and held-out images a cell needs to enter C_T
# Below these the memorisation score is "cannot tell" (its measured value is kept beside). Measured on
# the calibration's blobs (3000 training images; novel-generator null <= 0.10, replay >= 0.5): with 128
# samples the null holds in 5/5 held-out draws at 100 held-out images, 4/5 at 50, 3/5 at 25; with 300
# held-out images it holds in 5/5 sample draws at 64 samples, 2/5 at 32, 1/5 at 16.
MIN_SAMPLES = 64
MIN_HELDOUT = 100  # and at least 5 held-out images below the threshold quantile (5 / --quantile)
KMEANS_FIT = 2000  # searched training images the k-means is fit on
CHUNK = 2048  # training images per search step


def pixel_embedding(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*H*W) float32 / sqrt(C*H*W): Euclidean distance becomes per-pixel RMS."""
    x = images.flatten(1).float()
    return x / x.shape[1] ** 0.5


def unit_rows(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, F) -> (N, F) float32 rows of unit length (zero rows stay zero)."""
    f = torch.as_tensor(np.asarray(features)).float()
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, F), (M, F) -> (N, M) squared Euclidean distances by one matrix product (clamped at 0)."""
    return ((a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None]).clamp_min_(0)


def nearest(a: torch.Tensor, b: torch.Tensor, k: int, chunk: int = 512, spare: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``b`` (M, F) to each row of ``a`` (N, F), Euclidean.

    Candidates are ranked by :func:`sq_dist` (a matrix product, about twice as fast as
    ``torch.cdist``); the ``k + spare`` best get their distance recomputed exactly from the
    differences and are re-sorted, so rounding in the product cannot change a distance.

    Returns:
        (distances (N, k) ascending, indices into b (N, k)).
    """
    k = min(k, len(b))
    c = min(k + spare, len(b))
    dist, idx = [], []
    for s in range(0, len(a), chunk):
        q = a[s:s + chunk]
        cand = sq_dist(q, b).topk(c, dim=1, largest=False).indices  # (n, c)
        exact = (q[:, None, :] - b[cand]).norm(dim=2)  # (n, c)
        v, order = exact.sort(dim=1, stable=True)
        dist.append(v[:, :k])
        idx.append(cand.gather(1, order[:, :k]))
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


class TopK:
    """Running ``k`` nearest of each query row over chunks of the searched set."""

    def __init__(self, queries: torch.Tensor, k: int):
        self.q, self.k = queries, k
        self.d = torch.full((len(queries), 0), float("inf"))
        self.i = torch.zeros((len(queries), 0), dtype=torch.long)

    def add(self, block: torch.Tensor, offset: int) -> None:
        """``block`` (M, F): searched rows ``offset .. offset + M - 1``."""
        v, i = nearest(self.q, block, self.k)
        d = torch.cat([self.d, torch.as_tensor(v)], 1)
        idx = torch.cat([self.i, torch.as_tensor(i) + offset], 1)
        v, order = d.sort(dim=1, stable=True)  # earlier positions first among equal distances
        self.d, self.i = v[:, :self.k], idx.gather(1, order[:, :self.k])


# --- data copying (Meehan et al. 2020) ----------------------------------------------------

def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 25) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding: (N, F) -> centres (k, F), deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    k = min(k, len(x))
    centres = [x[torch.randint(len(x), (1,), generator=g)]]
    for _ in range(1, k):
        d2 = sq_dist(x, torch.cat(centres)).min(1).values
        p = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1 / len(d2))
        centres.append(x[torch.multinomial(p, 1, generator=g)])
    c = torch.cat(centres)
    for _ in range(iters):
        assign = sq_dist(x, c).argmin(1)
        onehot = torch.nn.functional.one_hot(assign, k).to(x.dtype)  # (N, k)
        counts = onehot.sum(0)[:, None]
        new = torch.where(counts > 0, onehot.T @ x / counts.clamp_min(1), c)
        if torch.allclose(new, c):
            break
        c = new
    return c


def mann_whitney_z(gen: np.ndarray, held: np.ndarray) -> float:
    """Z_U of Meehan et al.: U = #{(i, j): gen_i > held_j} (+ 1/2 per tie), standardised under H0."""
    m, n = len(gen), len(held)
    g, h = np.asarray(gen, np.float64)[:, None], np.asarray(held, np.float64)[None]
    u = float((g > h).sum() + 0.5 * (g == h).sum())
    return (u - m * n / 2) / np.sqrt(m * n * (m + n + 1) / 12)


@dataclass(frozen=True)
class CopyingResult:
    """The three-sample data-copying test in one space."""

    C_T: float | None  # held-out-share-weighted mean Z_U over the kept cells (None: no cell kept)
    z_u: np.ndarray  # (cells,) Z_U per cell, nan where the cell is not kept
    gen_counts: np.ndarray  # (cells,) samples per cell
    held_counts: np.ndarray  # (cells,) held-out images per cell
    min_cell: int

    @property
    def kept(self) -> np.ndarray:
        return ~np.isnan(self.z_u)


def data_copying(gen_d: np.ndarray, held_d: np.ndarray, gen_cell: np.ndarray, held_cell: np.ndarray,
                 cells: int, min_cell: int = MIN_CELL) -> CopyingResult:
    """C_T from nearest-training distances of samples (``gen_d``) and held-out images (``held_d``)
    and the cells they fall in."""
    gc, hc = np.bincount(gen_cell, minlength=cells), np.bincount(held_cell, minlength=cells)
    z = np.full(cells, np.nan)
    for j in range(cells):
        if gc[j] >= min_cell and hc[j] >= min_cell:
            z[j] = mann_whitney_z(gen_d[gen_cell == j], held_d[held_cell == j])
    keep = ~np.isnan(z)
    c_t = float(np.sum(hc[keep] * z[keep]) / hc[keep].sum()) if keep.any() else None
    return CopyingResult(c_t, z, gc, hc, int(min_cell))


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


def summary_of(r: NeighborsResult) -> dict:
    out = {}
    for name, s in r.spaces.items():
        out[name] = {"memorisation": s.memorisation, "expected_if_like_heldout": s.quantile,
                     "threshold": s.threshold, "median_ratio": s.median_ratio,
                     "sample_nn_median": float(np.median(s.distances[:, 0])),
                     "heldout_nn_median": float(np.median(s.heldout_nn)),
                     "sample_nn_min": float(s.distances[:, 0].min())}
        c = s.copying
        if c is not None:
            out[name]["data_copying"] = {
                "C_T": c.C_T, "Z_U_per_cell": [None if np.isnan(v) else float(v) for v in c.z_u],
                "samples_per_cell": c.gen_counts.tolist(), "heldout_per_cell": c.held_counts.tolist(),
                "cells_kept": int(c.kept.sum()), "min_per_cell": c.min_cell,
                "reading": "C_T ~ 0: like held-out data; negative: samples closer to the training set than "
                           "held-out images (copying); positive: further"}
    return {"spaces": out, "train_searched": r.n_train, "train_images_searched": r.n_train,
            "distance": {"pixel": "per-pixel RMS", "D": "Euclidean between unit-length D feature vectors"},
            "data_copying_test": "Meehan et al. 2020 C_T: k-means cells of the training data, per-cell "
                                 "Mann-Whitney z of sample vs held-out nearest-training distances, averaged "
                                 "weighted by held-out share"}


def arrays_of(r: NeighborsResult) -> dict:
    arrays = {}
    for name, s in r.spaces.items():
        arrays.update({f"{name}_distances": s.distances, f"{name}_indices": s.indices,
                       f"{name}_heldout_nn": s.heldout_nn})
        if s.copying is not None:
            arrays[f"{name}_copying_z_u"] = s.copying.z_u
    return arrays


def plot_neighbors(r: NeighborsResult, samples: np.ndarray, train: Mapping | np.ndarray, rows: np.ndarray, title: str = ""):
    """Each chosen sample beside its nearest training images in every space.

    Args:
        samples: (N, H, W, 3) uint8 generated. train: searched position -> (H, W, 3) uint8 training image (an array or a dict of those shown).
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


def plot_distances(r: NeighborsResult, verdict: str = ""):
    """Histograms of nearest-training distances: samples vs held-out real, threshold marked.
    ``verdict``: :func:`cannot_tell`'s reason, said in the titles instead of a score."""
    import matplotlib.pyplot as plt

    names = list(r.spaces)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = r.spaces[name]
        bins = np.linspace(0, max(s.distances[:, 0].max(), s.heldout_nn.max()) * 1.02, 40)
        ax.hist(s.heldout_nn, bins, alpha=0.6, density=True, color="#a0a0a0", label="held-out real")
        ax.hist(s.distances[:, 0], bins, alpha=0.6, density=True, color="#3b6fb6", label="generated")
        ax.axvline(s.threshold, color="#d04040", ls="--", lw=1, label=f"{100 * s.quantile:g}% of held-out")
        score = f"cannot tell (measured {100 * s.memorisation:.1f}%)" if verdict else f"{100 * s.memorisation:.1f}%"
        ax.set_title(f"{name}: memorisation {score} (like held-out: {100 * s.quantile:g}%)", fontsize=9)
        if s.copying is not None and s.copying.C_T is not None:
            ax.text(0.98, 0.6, f"data copying C_T {s.copying.C_T:.2f}", transform=ax.transAxes, ha="right",
                    fontsize=7)
        ax.set_xlabel("distance to nearest training image")
        ax.legend(fontsize=7)
    if verdict:
        fig.suptitle(f"Memorisation score {verdict}", fontsize=8, color="darkred", wrap=True)
        fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig



# --- the analysis -------------------------------------------------------------------------

def min_heldout(quantile: float) -> int:
    """Held-out images the memorisation threshold (their ``quantile``) needs: at least
    ``MIN_HELDOUT`` and 5 below the quantile."""
    return max(MIN_HELDOUT, int(np.ceil(5 / quantile - 1e-9)))


def cannot_tell(n: int, n_heldout: int, quantile: float) -> str:
    """Why the memorisation score of ``n`` samples against ``n_heldout`` held-out images cannot
    tell memorised from novel ("" where its calibration holds)."""
    short = [f"{n_heldout} held-out images (it needs {min_heldout(quantile)})" if n_heldout < min_heldout(quantile)
             else "", f"{n} samples (it needs {MIN_SAMPLES})" if n < MIN_SAMPLES else ""]
    short = [w for w in short if w]
    return f"cannot tell: {' and '.join(short)}; its calibration holds from those sizes up" if short else ""


def small_data(summary: dict, asked: Mapping, quantile: float, why_heldout: str) -> dict:
    """State where fewer images were used than asked (``notes``) and mark the memorisation score
    "cannot tell" below the sizes its calibration holds at (``MIN_SAMPLES``, :func:`min_heldout`):
    ``memorisation`` None, the value measured kept as ``memorisation_measured``."""
    notes, held, searched = [], summary["heldout_images"], summary["train_searched"]
    if held < asked["n_heldout"]:
        notes.append(f"{held} held-out images used of the {asked['n_heldout']} asked ({why_heldout})")
    if asked["n_train"] and searched < asked["n_train"]:
        notes.append(f"{searched} training images searched of the {asked['n_train']} asked (the training "
                     f"split holds {summary['train_size']})")
    reason = cannot_tell(summary["n_generated"], held, quantile)
    if reason:
        for v in summary["spaces"].values():
            v["memorisation_measured"], v["memorisation"] = v["memorisation"], None
            v["memorisation_verdict"] = reason
        summary["cannot_tell"] = reason
    summary["asked"], summary["notes"] = dict(asked), notes
    return summary


def caption(s: dict) -> str:
    """The report's caption: memorisation score, data copying and median distances per space."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    num = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731

    def copying(v):
        c = v.get("data_copying") or {}
        return "" if not c else (f"; data-copying C_T {num(c.get('C_T'))} over {c.get('cells_kept')} cells "
                                 "(negative = copying)")
    parts = [f"{sp} space: {pct(v.get('memorisation'))} of samples closer to a training image than the "
             f"threshold (expected {pct(v.get('expected_if_like_heldout'))} if like held-out images); median NN "
             f"distance {num(v.get('sample_nn_median'))} vs held-out {num(v.get('heldout_nn_median'))}"
             + copying(v) for sp, v in (s.get("spaces") or {}).items()]
    said = "".join(f"{n[0].upper()}{n[1:]}. " for n in s.get("notes") or [])
    said += f"Memorisation score {s['cannot_tell']}. " if s.get("cannot_tell") else ""
    held = f" ({s['heldout']})" if s.get("heldout") else ""
    seen = ""
    if s.get("heldout_seen_by_G"):
        seen = f" The memorisation score is {s.get('memorisation_reading')}" + (
            f"; data copying is {s['data_copying_absent']}" if s.get("data_copying_absent") else "") + "."
    return (said + f"Nearest training images of {s.get('n_generated')} samples, searched among "
            f"{s.get('train_searched')} of the {s.get('train_size')} training images of {s.get('dataset')}, against "
            f"{s.get('heldout_images')} held-out images{held}. " + "; ".join(parts) + "." + seen)


def _check(n: int, n_train: int, n_heldout: int, k: int, quantile: float, show: int, batch_size: int,
           cells: int, spaces: str) -> list[str]:
    for name, v in (("n", n), ("n-heldout", n_heldout), ("k", k), ("show", show), ("batch-size", batch_size)):
        if v < 1:
            raise UserError(f"--{name} must be at least 1")
    if n_train < 0:
        raise UserError("--n-train must be 0 (all) or positive")
    if cells < 0:
        raise UserError("--cells must be 0 (no data-copying test) or positive")
    if not 0 < quantile < 1:
        raise UserError(f"--quantile {quantile} must lie in (0, 1)")
    names = [w.strip() for w in spaces.split(",") if w.strip()]
    if not names or any(w not in ("pixel", "D") for w in names):
        raise UserError(f"--spaces {spaces!r}: give pixel, D or pixel,D")
    return names


def _render_rooms(args) -> np.ndarray:
    from gan_viz.data.rooms import render_image

    seed, idx, size, stream = args
    return np.stack([render_image(seed, int(i), size, stream) for i in idx])


def rendered_rooms(ds, progress: bool = True) -> np.ndarray:
    """Every room of ``ds`` as a read-only (N, H, W, 3) uint8 memory map, rendered once (worker
    processes, one per core) into the user's cache folder and reused by later runs. The rooms are
    a pure function of seed, split, stream, size, index and the renderer, so the file's name holds
    :func:`gan_viz.data.rooms.renderer_key` of them all (the renderer's source included): a changed
    renderer renders anew, and the files of the same rooms by an earlier renderer are deleted."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from gan_viz.data.cache import default_cache_dir
    from gan_viz.data.rooms import renderer_key

    size = ds.image_size
    stem = f"rooms-seed{ds.seed}-{ds.split}-{size}px-{ds.n}"
    key = renderer_key(ds.seed, ds.split, size, ds.n, ds.stream)
    path = default_cache_dir().parent / "rendered" / f"{stem}-{key}.u8"
    shape = (ds.n, size, size, 3)
    if path.exists() and path.stat().st_size == int(np.prod(shape)):
        return np.memmap(path, np.uint8, "r", shape=shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    buf = np.memmap(tmp, np.uint8, "w+", shape=shape)
    parts = [np.arange(s, min(s + CHUNK, ds.n)) for s in range(0, ds.n, CHUNK)]
    from tqdm import tqdm

    with ProcessPoolExecutor(max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        jobs = [(ds.seed, p, size, ds.stream) for p in parts]
        for p, imgs in tqdm(zip(parts, pool.map(_render_rooms, jobs)), total=len(parts), disable=not progress,
                            desc="render rooms once (cached)", unit="chunk", leave=False):
            buf[p[0]:p[-1] + 1] = imgs
    buf.flush()
    del buf
    os.replace(tmp, path)
    # the same rooms by another renderer (or unkeyed, as before): never served again
    for old in [*path.parent.glob(f"{stem}-*.u8"), path.parent / f"{stem}.u8"]:
        if old != path:
            old.unlink(missing_ok=True)
    return np.memmap(path, np.uint8, "r", shape=shape)


def _render_chunks(ds, positions: np.ndarray, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Rooms ``positions`` rendered by worker processes (one per core), in order, chunk by chunk."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from gan_viz.data.rooms import to_tensor

    parts = [positions[s:s + chunk] for s in range(0, len(positions), chunk)]
    with ProcessPoolExecutor(max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        jobs = [(ds.seed, p, ds.image_size, ds.stream) for p in parts]
        offset = 0
        for p, imgs in zip(parts, pool.map(_render_rooms, jobs)):
            yield offset, to_tensor(imgs, ds.nc)
            offset += len(p)


def _chunks_of(ds, positions: np.ndarray, chunk: int = CHUNK) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, images) of ``ds`` items ``positions`` in chunks; rooms come from :func:`rendered_rooms`."""
    if hasattr(ds, "stream") and hasattr(ds, "image_size") and getattr(ds, "_cache", None) is None:
        from gan_viz.data.rooms import to_tensor

        if 2 * len(positions) < ds.n:  # a subset (or a run trained on the first N): render only those
            yield from _render_chunks(ds, positions, chunk)
            return
        rooms = rendered_rooms(ds)
        for s in range(0, len(positions), chunk):
            yield s, to_tensor(np.asarray(rooms[positions[s:s + chunk]]), ds.nc)
        return
    for s in range(0, len(positions), chunk):
        yield s, _items(ds, positions[s:s + chunk])


def _items(ds, idx: Iterable[int]) -> torch.Tensor:
    idx = [int(i) for i in idx]
    if hasattr(ds, "get_batch"):
        return ds.get_batch(idx).float()
    return torch.stack([ds[i][0] for i in idx]).float()


SEEN = ("G was trained on the whole folder (a PyTorch examples run and gan-viz train read every image of it), so "
        "these held-out images were part of its training data")
SEEN_MEMORISATION = ("a lower bound: a sample that copies one of the held-out images (which G trained on) counts "
                     "as novel")
SEEN_C_T = ("absent: the data-copying test C_T (Meehan et al. 2020) needs held-out images independent of training, "
            "and these were part of G's training data; pass --heldout-root DIR with images G never saw")


def _train_stream(S, name: str, data_root: str | None, n_train: int, n_heldout: int, seed: int,
                  heldout_root: str | None = None):
    """(searched images: a tensor or a :class:`TrainStream`, their item indices, training-split size,
    held-out :class:`Labelled`, the opened dataset or None where the images are in memory, what the
    held-out images are: {"source", "heldout", "seen_by_G"})."""
    from gan_viz.analyses.labelled import NO_HELDOUT_SPLIT, _open, load_split, real_pair, recorded_split

    limit = (S.train_config or {}).get("dataset_size") if name == S.domain else None  # trained on the first N
    root = data_root or ((S.train_config or {}).get("data_root") if name == S.domain else None)
    recorded = recorded_split(S, name, root, limit) if heldout_root is None else None
    if recorded is not None:  # the images gan-viz train held out of the folder: G never trained on them
        train, held = real_pair(S, name, data_root, n_train or None, n_heldout, seed, limit=limit)
        about = {"source": "recorded held-out", "seen_by_G": False,
                 "heldout": f"{len(held.indices)} of the {len(recorded[1])} images gan-viz train held out of the "
                            f"folder {root} (recorded in the checkpoint; G never trained on them)"}
        return train.images, train.indices, len(recorded[0]), held, None, about
    if name in NO_HELDOUT_SPLIT and heldout_root is None:  # held-out images: a disjoint part of the folder
        train, held = real_pair(S, name, data_root, n_train or None, n_heldout, seed, limit=limit)
        _, total = _open(name, S.image_shape[1], S.image_shape[0], "train", root, None, limit)
        about = {"source": "folder part", "seen_by_G": True,
                 "heldout": f"a part of the folder {root} disjoint from the searched images; {SEEN}"}
        return train.images, train.indices, total - len(held.indices), held, None, about
    C, H, W = S.image_shape
    if H != W:
        raise UserError(f"the model's images are {H}x{W}; real datasets load square images only")
    ds, total = _open(name, H, C, "train", root, None, limit)
    order = np.random.default_rng(seed).permutation(total)
    idx = np.sort(order[: n_train or total])
    if heldout_root is not None:
        held = _heldout_folder(heldout_root, C, H, n_heldout, seed, root if name in NO_HELDOUT_SPLIT else None)
        about = {"source": "heldout root", "seen_by_G": False,
                 "heldout": f"the images of --heldout-root {heldout_root}, given as images G never saw"}
    else:
        held = load_split(name, H, C, "test", root, n_heldout, seed)
        about = {"source": "test split", "seen_by_G": False,
                 "heldout": f"the {name} test split (G is trained on the training split)"}
    return TrainStream(len(idx), lambda: _chunks_of(ds, idx)), idx, total, held, ds, about


def _heldout_folder(heldout_root: str, C: int, H: int, n: int, seed: int, train_root: str | None):
    """Up to ``n`` images of ``heldout_root`` at the model's shape; refused where one of them is an
    image of the training folder ``train_root`` (the same file, by resolved path)."""
    from pathlib import Path

    from gan_viz.analyses.labelled import load_split
    from gan_viz.data.folder import list_images

    held_dir = Path(heldout_root).expanduser()
    if not held_dir.is_dir():
        raise UserError(f"--heldout-root {heldout_root} is not a folder; give a folder of images G never saw")
    if train_root is not None and Path(train_root).expanduser().is_dir():
        seen = {p.resolve() for p in list_images(Path(train_root).expanduser())[0]}
        both = [p for p in list_images(held_dir)[0] if p.resolve() in seen]
        if both:
            raise UserError(f"--heldout-root {heldout_root}: {len(both)} of its images are training images under "
                            f"{train_root} (first: {both[0]}); held-out images must be ones G never saw")
    return load_split("folder", H, C, "train", str(held_dir), n, seed)


@register("neighbors", needs=("G",), title="Figs. 2-3: memorisation (nearest training images)", caption=caption)
def run(ctx: "Context", *, n: int = 256, n_train: int = 0, n_heldout: int = 1000, k: int = 3,
        quantile: float = QUANTILE, cells: int = CELLS, spaces: str = "pixel,D", show: int = 8,
        batch_size: int = 256, heldout_root: str | None = None) -> dict:
    """Nearest training images of ``n`` samples of ``ctx``'s subject in pixel space and (where the
    subject has a D) D-feature space, the memorisation score against held-out real images and the
    data-copying test C_T.

    ``n_train=0`` (default) searches every training image (for the model's own dataset: the first
    ``dataset_size`` it was trained on). The held-out images are ``heldout_root`` (a folder of
    images G never saw; the whole dataset is then searched), else the dataset's test split, else
    (a folder) a part of the folder: G trained on those, so the summary says so, the memorisation
    score is a lower bound and C_T is absent with that reason. Writes neighbors.png,
    neighbors_closest.png, distances.png (+ PDFs), summary.json and arrays.npz into ``ctx.out``;
    returns the summary.
    """
    from gan_viz.analyses import classify as K
    from gan_viz.images import to_uint8
    from gan_viz.io import save_figure, write_json, write_npz

    wanted = _check(n, n_train, n_heldout, k, quantile, show, batch_size, cells, spaces)
    S = ctx.subject
    _memory.require("--n", n, 4 * _memory.image_bytes(S.image_shape), "the samples and held-out images",
                    fixed=4 * n_heldout * _memory.image_bytes(S.image_shape))
    if not S.has_G:
        S.require("G")
    name = ctx.data
    if name is None:
        raise UserError(f"{S.where} does not record its dataset; pass --dataset (and --data-root)")
    train, train_idx, train_size, held, ds, about = _train_stream(S, name, ctx.data_root, n_train, n_heldout,
                                                                  ctx.seed, heldout_root)
    fetch = (lambda pos: train[torch.as_tensor(pos)]) if ds is None else (lambda pos: _items(ds, train_idx[pos]))
    z = S.sample_z(n, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, batch_size, ctx.device)
    embeds, layers, d_note = {"pixel": pixel_embedding} if "pixel" in wanted else {}, [], None
    if "D" not in wanted:
        d_note = "not measured (--spaces)"
    elif S.D is not None:
        try:
            layers = K.feature_layers(S.D)
        except UserError as e:
            d_note = f"no D space: {e}"
        else:
            embeds["D"] = lambda x: unit_rows(K.d_features(S.D, x, layers, batch_size=batch_size,
                                                           device=ctx.device))
    if not embeds:
        raise UserError("--spaces D needs a discriminator with conv or rectifier layers; add pixel")
    result = compute_neighbors(embeds, fake, train, held.images, k, quantile, 0 if about["seen_by_G"] else cells,
                               seed=ctx.seed)
    pics = to_uint8(fake)
    rows = np.arange(min(show, n))
    first = next(iter(result.spaces))
    shown = np.concatenate([rows, result.closest(first, len(rows))])
    need = np.unique(np.concatenate([result.spaces[sp].indices[shown].ravel() for sp in result.spaces]))
    train_pics = dict(zip(need.tolist(), to_uint8(fetch(need))))
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = [p.name for p in save_figure(plot_neighbors(result, pics, train_pics, rows,
                                                          "samples 0.. and their nearest training images"),
                                           ctx.out, "neighbors")]
    figures += [p.name for p in save_figure(plot_neighbors(result, pics, train_pics, result.closest(
        first, len(rows)), f"the samples nearest to the training set ({first} space)"), ctx.out,
        "neighbors_closest")]
    verdict = cannot_tell(n, len(held.images), quantile)
    figures += [p.name for p in save_figure(plot_distances(result, verdict), ctx.out, "distances")]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, d_layers=layers, n_generated=n, train_size=train_size,
                   heldout_images=len(held.images), seed=ctx.seed, figures=figures, heldout=about["heldout"],
                   heldout_source=about["source"], heldout_root=heldout_root, heldout_seen_by_G=about["seen_by_G"],
                   d_space=d_note if "D" not in embeds else "every D conv block max-pooled to 4x4")
    if about["seen_by_G"]:
        summary["memorisation_reading"] = SEEN_MEMORISATION
        if cells > 0:
            summary["data_copying_absent"] = SEEN_C_T
    why = {"folder part": "a folder has no test split: at most a fifth of its "
                          f"{train_size + len(held.images)} images is held out",
           "heldout root": f"--heldout-root {heldout_root} holds {len(held.images)}",
           "recorded held-out": f"gan-viz train held {len(held.images)} images of the folder out",
           "test split": f"the {name} test split holds {len(held.images)}"}[about["source"]]
    summary = small_data(summary, {"n": n, "n_train": n_train, "n_heldout": n_heldout}, quantile, why)
    if "pixel" in result.spaces:  # a held-out image equal to a searched training image is not held out
        same = int((result.spaces["pixel"].heldout_nn < 1e-6).sum())
        summary["heldout_identical_to_training"] = same
        if same:
            summary["notes"].append(f"{same} of the {len(held.images)} held-out images equal a searched training "
                                    "image (pixel distance 0 after preprocessing): those are not held out")
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train_idx,
              heldout_indices=held.indices, d_layers=np.array(layers), seed=np.array(ctx.seed),
              **arrays_of(result))
    return summary
