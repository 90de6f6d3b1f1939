"""The registered runner of ``gan-viz modes``: options, labelled real data, the classifier, writing.

The classifier (:func:`.classifier.train_classifier`) is trained on the labelled training images
of ``ctx.data`` (:func:`gan_viz.data.labelled.labelled_pair`) and judged on its test (or
held-out) images, whose histogram is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.data.labelled import labelled_pair, used_notes
from gan_viz.errors import UserError
from gan_viz.images import area_resize

from .classifier import train_classifier
from .compute import MIN_SHARE, compute_modes
from .plot import plot_by_class, plot_histogram
from .summary import arrays_of, caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context


@dataclass(frozen=True)
class Options:
    """The ``gan-viz modes`` options (argparse dest names), checked on construction."""

    attribute: str | None = None  # rooms only: the scene attribute used as class (None: n_windows)
    n: int = 1000  # generated samples
    n_train: int = 5000  # real training images for the classifier
    n_test: int = 2000  # held-out real images (the reference histogram)
    epochs: int = 8  # classifier training epochs
    min_share: float = MIN_SHARE  # covered: sample share >= min_share x real share
    per_class: int = 8  # samples shown per class
    batch_size: int = 256  # samples per G forward pass
    classifier_size: int | None = None  # train and apply the classifier on images averaged to this size

    def __post_init__(self):
        for name, v in (("n", self.n), ("n-train", self.n_train), ("n-test", self.n_test), ("epochs", self.epochs),
                        ("per-class", self.per_class), ("batch-size", self.batch_size)):
            if v < 1:
                raise UserError(f"--{name} must be at least 1")
        if not 0 < self.min_share <= 1:
            raise UserError(f"--min-share {self.min_share} must lie in (0, 1]")
        if self.classifier_size is not None and self.classifier_size < 8:
            raise UserError(f"--classifier-size {self.classifier_size}: the classifier needs images of at least "
                            "8 pixels")


NAME = "modes"


@register(NAME, needs=("G",), title="Mode coverage", caption=caption, options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Mode coverage of ``ctx``'s subject on the labelled real data ``ctx.data`` with options ``o``
    (:class:`Options`, the ``gan-viz modes`` option names): a small CNN trained here labels ``o.n``
    samples; histograms, coverage, KL, collapse.

    Writes modes.png/.pdf, samples_by_class.png/.pdf, summary.json and arrays.npz into ``ctx.out``;
    returns the summary.
    """
    from gan_viz.images import to_uint8
    from gan_viz.io import save_figure, write_json, write_npz

    S = ctx.subject
    _memory.require("--n-train", o.n_train, 4 * _memory.image_bytes(S.image_shape), "the labelled real images",
                    fixed=4 * (o.n + o.n_test) * _memory.image_bytes(S.image_shape))
    if not S.has_G:
        S.require("G")  # says what is missing
    name, train, test, k = labelled_pair(S, ctx.data, ctx.data_root, o.n_train, o.n_test, ctx.seed, o.attribute)
    size = o.classifier_size if o.classifier_size and o.classifier_size < min(S.image_shape[-2:]) else None
    clf = train_classifier(area_resize(train.images, size), train.labels, k, o.epochs, ctx.seed)
    z = S.sample_z(o.n, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, o.batch_size, ctx.device)
    classes = train.classes if len(train.classes) == k else tuple(str(i) for i in range(k))
    result = compute_modes(clf, area_resize(fake, size), area_resize(test.images, size), test.labels, classes, o.min_share)
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = [p.name for p in save_figure(plot_histogram(result), ctx.out, "modes")]
    figures += [p.name for p in save_figure(plot_by_class(result, to_uint8(fake), o.per_class), ctx.out,
                                            "samples_by_class")]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, attribute=o.attribute if name == "rooms" else None,
                   classifier=f"SmallCNN, {o.epochs} epochs on {len(train.labels)} real training images"
                   + (f", every image averaged down to {size}x{size}" if size else ""), classifier_size=size,
                   seed=ctx.seed, figures=figures, notes=used_notes(name, train, test, o.n_train, o.n_test))
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train.indices,
              test_indices=test.indices, test_labels=test.labels, seed=np.array(ctx.seed), **arrays_of(result))
    return summary


__all__ = ["NAME", "Options", "run"]
