"""The registered runner of ``gan-viz neighbors``: options, the searched and held-out real images,
the embeddings (pixel; D features where the subject has a D), figures and writing.

The D space reads :func:`gan_viz.features.d_features` (every rectifier block max-pooled to 4x4,
as ``gan-viz classify``), each image's vector scaled to unit length (:func:`.search.unit_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.features import d_features, feature_layers

from .compute import CELLS, QUANTILE, NeighborsResult, compute_neighbors
from .plot import plot_distances, plot_neighbors
from .search import pixel_embedding, unit_rows
from .stream import items, train_stream
from .summary import SEEN_C_T, SEEN_MEMORISATION, arrays_of, cannot_tell, caption, small_data, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context
    from gan_viz.subject import Subject

NAME = "neighbors"
SPACES = ("pixel", "D")


@dataclass(frozen=True)
class Options:
    """The ``gan-viz neighbors`` options (argparse dest names), checked on construction."""

    n: int = 256  # generated samples
    n_train: int = 0  # training images searched (0: all the model was trained on)
    n_heldout: int = 1000  # held-out real images (the reference)
    k: int = 3  # neighbours kept per sample and space
    quantile: float = QUANTILE  # of the held-out distances: the memorisation threshold
    cells: int = CELLS  # k-means cells of the data-copying test (0: no test)
    spaces: str = "pixel,D"  # "pixel", "D" or "pixel,D"
    show: int = 8  # samples per figure
    batch_size: int = 256  # images per forward pass
    heldout_root: str | None = None  # a folder of images G never saw, the held-out reference

    def __post_init__(self):
        for name, v in (("n", self.n), ("n-heldout", self.n_heldout), ("k", self.k), ("show", self.show),
                        ("batch-size", self.batch_size)):
            if v < 1:
                raise UserError(f"--{name} must be at least 1")
        if self.n_train < 0:
            raise UserError("--n-train must be 0 (all) or positive")
        if self.cells < 0:
            raise UserError("--cells must be 0 (no data-copying test) or positive")
        if not 0 < self.quantile < 1:
            raise UserError(f"--quantile {self.quantile} must lie in (0, 1)")
        if not self.space_names or any(w not in SPACES for w in self.space_names):
            raise UserError(f"--spaces {self.spaces!r}: give pixel, D or pixel,D")

    @property
    def space_names(self) -> list[str]:
        return [w.strip() for w in self.spaces.split(",") if w.strip()]


@register(NAME, needs=("G",), title="Figs. 2-3: memorisation (nearest training images)", caption=caption,
          options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Nearest training images of ``o.n`` samples of ``ctx``'s subject in pixel space and (where the
    subject has a D) D-feature space, the memorisation score against held-out real images and the
    data-copying test C_T; options ``o`` (:class:`Options`, the ``gan-viz neighbors`` option names).

    ``n_train=0`` (default) searches every training image (for the model's own dataset: the first
    ``dataset_size`` it was trained on). The held-out images are ``heldout_root`` (a folder of
    images G never saw; the whole dataset is then searched), else the dataset's test split, else
    (a folder) a part of the folder: G trained on those, so the summary says so, the memorisation
    score is a lower bound and C_T is absent with that reason. Writes neighbors.png,
    neighbors_closest.png, distances.png (+ PDFs), summary.json and arrays.npz into ``ctx.out``;
    returns the summary.
    """
    from gan_viz.io import write_json, write_npz

    S = ctx.subject
    _memory.require("--n", o.n, 4 * _memory.image_bytes(S.image_shape), "the samples and held-out images",
                    fixed=4 * o.n_heldout * _memory.image_bytes(S.image_shape))
    if not S.has_G:
        S.require("G")
    name = ctx.data
    if name is None:
        raise UserError(f"{S.where} does not record its dataset; pass --dataset (and --data-root)")
    train, train_idx, train_size, held, ds, about = train_stream(S, name, ctx.data_root, o.n_train, o.n_heldout,
                                                                 ctx.seed, o.heldout_root)
    fetch = (lambda pos: train[torch.as_tensor(pos)]) if ds is None else (lambda pos: items(ds, train_idx[pos]))
    z = S.sample_z(o.n, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, o.batch_size, ctx.device)
    embeds, layers, d_note = embeddings(S, o.space_names, o.batch_size, ctx.device)
    result = compute_neighbors(embeds, fake, train, held.images, o.k, o.quantile,
                               0 if about["seen_by_G"] else o.cells, seed=ctx.seed)
    figures = _figures(ctx, result, fake, fetch, o.show, cannot_tell(o.n, len(held.images), o.quantile))
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, d_layers=layers, n_generated=o.n, train_size=train_size,
                   heldout_images=len(held.images), seed=ctx.seed, figures=figures, heldout=about["heldout"],
                   heldout_source=about["source"], heldout_root=o.heldout_root, heldout_seen_by_G=about["seen_by_G"],
                   d_space=d_note if "D" not in embeds else "every D conv block max-pooled to 4x4")
    summary = _readings(summary, result, o, about, name)
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train_idx,
              heldout_indices=held.indices, d_layers=np.array(layers), seed=np.array(ctx.seed),
              **arrays_of(result))
    return summary


def embeddings(S: "Subject", wanted: list[str], batch_size: int, device) -> tuple[dict, list[str], str | None]:
    """(space name -> embedding (N, C, H, W) -> (N, F), D layers read, why the D space is absent or None).

    Raises:
        UserError: no space left (``--spaces D`` on a subject whose D has no feature layers).
    """
    embeds, layers, d_note = {"pixel": pixel_embedding} if "pixel" in wanted else {}, [], None
    if "D" not in wanted:
        d_note = "not measured (--spaces)"
    elif S.D is not None:
        try:
            layers = feature_layers(S.D)
        except UserError as e:
            d_note = f"no D space: {e}"
        else:
            embeds["D"] = lambda x: unit_rows(d_features(S.D, x, layers, batch_size=batch_size, device=device))
    if not embeds:
        raise UserError("--spaces D needs a discriminator with conv or rectifier layers; add pixel")
    return embeds, layers, d_note


def _figures(ctx: "Context", result: NeighborsResult, fake: torch.Tensor, fetch: Callable[[np.ndarray], torch.Tensor],
             show: int, verdict: str) -> list[str]:
    """neighbors, neighbors_closest and distances (PNG + PDF) into ``ctx.out``; the file names.
    Only the training images shown are fetched (``fetch``: searched positions -> images)."""
    from gan_viz.images import to_uint8
    from gan_viz.io import save_figure

    pics = to_uint8(fake)
    rows = np.arange(min(show, len(fake)))
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
    figures += [p.name for p in save_figure(plot_distances(result, verdict), ctx.out, "distances")]
    return figures


def _readings(summary: dict, result: NeighborsResult, o: Options, about: dict, name: str) -> dict:
    """The summary's readings of the held-out images: what a score against images G saw means, the
    notes where fewer images were used than asked ("cannot tell" below the calibrated sizes), and
    held-out images identical to a searched training image."""
    if about["seen_by_G"]:
        summary["memorisation_reading"] = SEEN_MEMORISATION
        if o.cells > 0:
            summary["data_copying_absent"] = SEEN_C_T
    n_held, train_size = summary["heldout_images"], summary["train_size"]
    why = {"folder part": "a folder has no test split: at most a fifth of its "
                          f"{train_size + n_held} images is held out",
           "heldout root": f"--heldout-root {o.heldout_root} holds {n_held}",
           "recorded held-out": f"gan-viz train held {n_held} images of the folder out",
           "test split": f"the {name} test split holds {n_held}"}[about["source"]]
    summary = small_data(summary, {"n": o.n, "n_train": o.n_train, "n_heldout": o.n_heldout}, o.quantile, why)
    if "pixel" in result.spaces:  # a held-out image equal to a searched training image is not held out
        same = int((result.spaces["pixel"].heldout_nn < 1e-6).sum())
        summary["heldout_identical_to_training"] = same
        if same:
            summary["notes"].append(f"{same} of the {n_held} held-out images equal a searched training "
                                    "image (pixel distance 0 after preprocessing): those are not held out")
    return summary


__all__ = ["NAME", "SPACES", "Options", "embeddings", "run"]
