"""The registered runner of ``gan-viz classify``: options, labelled real data, D features, writing.

Three feature sets of the same labelled real images: D's blocks (:func:`gan_viz.features.d_features`,
every rectifier block max-pooled to 4x4), the same D freshly initialised (seeded by ``ctx.seed``)
and raw pixels; the SVM protocol of :mod:`.compute` on each. Real data: the labelled training and
test (or held-out) images of ``ctx.data`` (:func:`gan_viz.data.labelled.labelled_pair`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.data.labelled import NO_HELDOUT_SPLIT, labelled_pair, used_notes
from gan_viz.errors import UserError
from gan_viz.features import POOL, check_layers, d_features

from .compute import C_GRID, ClassifyResult, compute_classify, split_protocol
from .plot import FIGURES
from .summary import arrays_of, caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context
    from gan_viz.data.labelled import Labelled


def _c_grid(C_grid: str | Sequence[float]) -> tuple[float, ...]:
    try:
        grid = [float(c) for c in (C_grid.split(",") if isinstance(C_grid, str) else C_grid)]
    except (TypeError, ValueError):
        raise UserError(f"--C-grid {C_grid!r} is not a comma-separated list of numbers") from None
    if not grid or any(not c > 0 for c in grid):
        raise UserError("--C-grid values must be positive")
    return tuple(grid)


@dataclass(frozen=True)
class Options:
    """The ``gan-viz classify`` options (argparse dest names), checked on construction."""

    attribute: str | None = None  # rooms only: the scene attribute used as label (None: n_windows)
    labels: int | None = None  # labelled training images per draw, class-balanced (None: all but validation)
    draws: int = 10  # random label draws
    n_train: int = 2000  # images of the training split (validation + labelled pool)
    n_test: int = 2000  # test images
    val: int | None = None  # validation images for choosing C (None: 20% of the training images, <= 10000)
    C_grid: str | Sequence[float] = C_GRID  # "1e-3,0.1" or numbers; kept as a tuple of floats
    layers: str | Sequence[str] | None = None  # D layers read (None: every rectifier block)
    batch_size: int = 256  # images per D forward pass

    def __post_init__(self):
        for name, v in (("draws", self.draws), ("n-train", self.n_train), ("n-test", self.n_test),
                        ("batch-size", self.batch_size)):
            if v < 1:
                raise UserError(f"--{name} must be at least 1")
        if self.labels is not None and self.labels < 1:
            raise UserError("--labels must be at least 1")
        if self.val is not None and self.val < 1:
            raise UserError("--val must be at least 1")
        object.__setattr__(self, "C_grid", _c_grid(self.C_grid))


NAME = "classify"


@register(NAME, needs=("D",), title="Table 1: D as a feature extractor", caption=caption, options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Table 1 on ``ctx``'s subject and labelled real data (``ctx.data``) with options ``o``
    (:class:`Options`, the ``gan-viz classify`` option names): D features of every conv block vs
    the same D freshly initialised vs raw pixels, a linear L2-SVM on each.

    Writes classify.png/.pdf, summary.json and arrays.npz into ``ctx.out``; returns the summary.

    Raises:
        UserError: ``--val`` leaving no training images, too few labels per class, unlabelled data.
    """
    S = ctx.subject
    _memory.require("--n-train", o.n_train, 6 * _memory.image_bytes(S.image_shape),
                    "the labelled images and their D features", fixed=6 * o.n_test * _memory.image_bytes(S.image_shape))
    D = S.require("D")
    names = check_layers(D, o.layers)
    name, train, test, k = labelled_pair(S, ctx.data, ctx.data_root, o.n_train, o.n_test, ctx.seed, o.attribute)
    n_val = o.val if o.val is not None else min(10000, max(k, len(train.labels) // 5))
    if n_val >= len(train.labels):
        raise UserError(f"--val {n_val} leaves no training images out of {len(train.labels)}; lower it")
    protocol = split_protocol(train.labels, n_val, o.labels, o.draws, ctx.seed, k)
    feats, test_feats = feature_sets(ctx, D, names, train, test, o.batch_size)
    result = compute_classify(feats, train.labels, protocol, test_feats, test.labels, o.C_grid)
    return _write(ctx, o, result, name, names, train, test)


def feature_sets(ctx: "Context", D, names: list[str], train: "Labelled", test: "Labelled",
                 batch_size: int) -> tuple[dict, dict]:
    """(training, test) features of each set: ``trained_D``, ``random_D`` (D freshly initialised,
    seeded by ``ctx.seed``) and ``pixels``; set name -> (N, F)."""
    feats, test_feats = {}, {}
    for set_name, net in (("trained_D", D), ("random_D", ctx.subject.random_copy("D", ctx.seed))):
        feats[set_name] = d_features(net, train.images, names, batch_size=batch_size, device=ctx.device)
        test_feats[set_name] = d_features(net, test.images, names, batch_size=batch_size, device=ctx.device)
    feats["pixels"], test_feats["pixels"] = train.images.flatten(1).numpy(), test.images.flatten(1).numpy()
    return feats, test_feats


def _write(ctx: "Context", o: Options, result: ClassifyResult, name: str, names: list[str], train: "Labelled",
           test: "Labelled") -> dict:
    """Figures, summary.json and arrays.npz into ``ctx.out``; returns the summary."""
    from gan_viz.io import save_figure, write_json, write_npz

    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, fname)]
    summary = summary_of(result)
    summary.update(checkpoint=ctx.subject.where, dataset=name, attribute=o.attribute if name == "rooms" else None,
                   classes=list(train.classes), layers=names, pool=POOL, random_D_seed=ctx.seed,
                   heldout="test split" if name not in NO_HELDOUT_SPLIT else "a part of the folder disjoint "
                   "from the training images", feature_standardisation="per draw, mean/std of the labelled images",
                   seed=ctx.seed, figures=figures, notes=used_notes(name, train, test, o.n_train, o.n_test))
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", train_indices=train.indices, train_labels=train.labels,
              test_indices=test.indices, test_labels=test.labels, layers=np.array(names),
              seed=np.array(ctx.seed), **arrays_of(result))
    return summary


__all__ = ["NAME", "Options", "feature_sets", "run"]
