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
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

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


# --- the analysis -------------------------------------------------------------------------

def caption(s: dict) -> str:
    """The report's caption: memorisation score and median distances per space."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    num = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    parts = [f"{sp} space: {pct(v.get('memorisation'))} of samples closer to a training image than the "
             f"threshold (expected {pct(v.get('expected_if_like_heldout'))} if like held-out images); median NN "
             f"distance {num(v.get('sample_nn_median'))} vs held-out {num(v.get('heldout_nn_median'))}"
             for sp, v in (s.get("spaces") or {}).items()]
    return (f"Nearest training images of {s.get('n_generated')} samples among {s.get('train_images_searched')} "
            f"training images of {s.get('dataset')}, against {s.get('heldout_images')} held-out images. "
            + "; ".join(parts) + ".")


def _check(n: int, n_train: int, n_heldout: int, k: int, quantile: float, show: int, batch_size: int) -> None:
    for name, v in (("n", n), ("n-heldout", n_heldout), ("k", k), ("show", show), ("batch-size", batch_size)):
        if v < 1:
            raise UserError(f"--{name} must be at least 1")
    if n_train < 0:
        raise UserError("--n-train must be 0 (all) or positive")
    if not 0 < quantile < 1:
        raise UserError(f"--quantile {quantile} must lie in (0, 1)")


@register("neighbors", needs=("G",), title="Figs. 2-3: memorisation (nearest training images)", caption=caption)
def run(ctx: "Context", *, n: int = 256, n_train: int = 5000, n_heldout: int = 1000, k: int = 3,
        quantile: float = QUANTILE, show: int = 8, batch_size: int = 256) -> dict:
    """Nearest training images of ``n`` samples of ``ctx``'s subject in pixel space and (where the
    subject has a D) D-feature space, and the memorisation score against held-out real images.

    ``n_train=0`` searches every training image (for the model's own dataset: the first
    ``dataset_size`` it was trained on). Writes neighbors.png, neighbors_closest.png,
    distances.png (+ PDFs), summary.json and arrays.npz into ``ctx.out``; returns the summary.
    """
    from gan_viz.analyses import classify as K
    from gan_viz.images import to_uint8
    from gan_viz.io import save_figure, write_json, write_npz

    _check(n, n_train, n_heldout, k, quantile, show, batch_size)
    S = ctx.subject
    if not S.has_G:
        S.require("G")
    name = ctx.data
    limit = (S.train_config or {}).get("dataset_size") if name == S.domain else None  # trained on the first N only
    train, held = K.real_pair(S, name, ctx.data_root, n_train or None, n_heldout, ctx.seed, limit=limit)
    z = S.sample_z(n, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, batch_size, ctx.device)
    spaces, layers, d_note = {"pixel": pixel_embedding}, [], None
    if S.D is not None:
        try:
            layers = K.feature_layers(S.D)
        except UserError as e:
            d_note = f"no D space: {e}"
        else:
            spaces["D"] = lambda x: unit_rows(K.d_features(S.D, x, layers, batch_size=batch_size, device=ctx.device))
    result = compute_neighbors(spaces, fake, train.images, held.images, k, quantile)
    pics, train_pics = to_uint8(fake), to_uint8(train.images)
    rows = np.arange(min(show, n))
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = [p.name for p in save_figure(plot_neighbors(result, pics, train_pics, rows,
                                                          "samples 0.. and their nearest training images"),
                                           ctx.out, "neighbors")]
    figures += [p.name for p in save_figure(plot_neighbors(result, pics, train_pics, result.closest(
        "pixel", len(rows)), "the samples nearest to the training set (pixel space)"), ctx.out, "neighbors_closest")]
    figures += [p.name for p in save_figure(plot_distances(result), ctx.out, "distances")]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, d_layers=layers, n_generated=n,
                   heldout_images=len(held.images), seed=ctx.seed, figures=figures,
                   heldout="test split" if name not in K.NO_HELDOUT_SPLIT else "a part of the folder disjoint "
                   "from the searched training images",
                   d_space=d_note if "D" not in spaces else "every D conv block max-pooled to 4x4")
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train.indices,
              heldout_indices=held.indices, d_layers=np.array(layers), seed=np.array(ctx.seed),
              **arrays_of(result))
    return summary
