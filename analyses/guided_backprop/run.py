"""The registered runner of ``gan-viz guided-backprop`` (the report's Fig. 5): options, layer and
image resolution, writing.

Writes guided_backprop, guided_backprop_shared_scale, top_images and (where the images have class
maps) class_energy (PNG + PDF), summary.json and arrays.npz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.layers import check_layer, split_address
from gan_viz.sources import ImageSource, image_source
from gan_viz.units import parse_filters

from .compute import GuidedBackpropResult, compute_guided_backprop
from .maps import check_guidable
from .plot import plot_class_energy, plot_guided_backprop
from .rules import RULES
from .summary import caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NAME = "guided-backprop"


@dataclass(frozen=True)
class Options:
    """The command's options, checked on creation."""

    layer: str | None = None  # a D layer by dotted name (None: gan_viz.layers.default_layer)
    filters: str | Sequence[int] | None = None  # "0-5", "1,4,7", "all" or ints (None: the first 6)
    top: int = 8  # images per filter (K)
    images: int = 1000  # images scanned (N)
    source: str = "auto"  # "auto" (real where available), "real" (ctx.data) or "generated"
    rule: str = "leaky"  # "leaky", "relu" or "plain"
    random_seed: int = 0  # the random-filter baseline's init seed
    batch_size: int = 256  # images per forward / backward pass

    def __post_init__(self):
        for opt, v in (("--top", self.top), ("--images", self.images), ("--batch-size", self.batch_size)):
            if not isinstance(v, int) or v < 1:
                raise UserError(f"{opt} {v}: must be at least 1")
        if self.top > self.images:
            raise UserError(f"--top {self.top} is larger than --images {self.images}; "
                            "each filter keeps its top K of the N images scanned")
        if self.rule not in RULES:
            raise UserError(f"unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")


@dataclass(frozen=True)
class Plan:
    """What :func:`prepare` settled before anything is computed or written."""

    layer: str  # dotted name without "D."
    filters: tuple
    source: ImageSource
    note: str  # why these images


def prepare(ctx: "Context", o: Options) -> Plan:
    """Validate the options ``o`` on ``ctx.subject`` and choose the images (nothing is written).

    Raises:
        UserError: one line on the first bad option (layer, filters, a rule that would be the
        plain gradient, an image source that does not exist).
    """
    subject = ctx.subject
    D = subject.require("D")
    shape = tuple(subject.image_shape)
    layer, out_shape = check_layer(D, o.layer, "D", shape)
    if split_address(layer)[1] is not None:
        raise UserError(f"layer D.{layer}: guided backprop reads a layer through captum's neuron hooks, which "
                        "cannot single out one call of a module the forward calls several times; choose a "
                        "module called once (see gan-viz layers)")
    chosen = parse_filters(o.filters, out_shape[0])
    check_guidable(D, layer, shape, o.rule)
    if subject.G is not None:
        subject.G.to(ctx.device)  # a callable generator (z reshaped for G) runs where G is
    src, note = image_source(subject, o.source, o.images, ctx.seed, ctx.device, ctx.dataset, ctx.data_root)
    return Plan(layer, tuple(chosen), src, note)


def arrays_of(r: GuidedBackpropResult, source: ImageSource) -> dict:
    """Everything needed to recompute or redraw the figure (``arrays.npz``): trained rows, then random."""
    rows = {tag: getattr(r, tag) for tag in ("trained", "random")}
    cat = lambda a: np.concatenate([getattr(rows["trained"], a), getattr(rows["random"], a)])  # noqa: E731
    arrays = {"images": cat("images"), "maps": cat("maps"), "filters": cat("filters"),
              "activations": cat("activations"), "image_index": cat("image_index"), "positions": cat("positions"),
              "network": np.array(["trained"] * len(rows["trained"].filters) + ["random"] * len(rows["random"].filters)),
              "layer": np.array(f"D.{r.layer}"), "rule": np.array(r.rule), "top_k": np.array(r.k),
              "random_seed": np.array(r.random_seed), "selected_filters": np.array(r.filters)}
    if source.z is not None:
        arrays["z"] = source.z.numpy()
    for tag, e in r.energy.items():
        arrays[f"class_energy_{tag}"], arrays[f"class_pixels_{tag}"] = e.energy, e.pixels
    if r.energy:
        arrays["class_names"] = np.array(r.class_names)
    return arrays


@register(NAME, needs=("D",), title="Fig. 5: guided backpropagation of D's features", caption=caption,
          options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Fig. 5 on ``ctx.subject`` with options ``o`` (:class:`Options`, the command's option names):
    validate, compute, write the figures, ``summary.json`` and ``arrays.npz`` into ``ctx.out``;
    returns the summary.

    Raises:
        UserError: a bad option (see :func:`prepare`), or ``--images`` beyond the memory there is.
    """
    from gan_viz.io import save_figure, write_json, write_npz

    S = ctx.subject
    _memory.require("--images", o.images, 4 * _memory.image_bytes(S.image_shape), "D's images and their maps")
    plan = prepare(ctx, o)
    D = S.require("D").cpu()  # the baseline is drawn on the CPU (seeded CPU generator), then both move
    baseline = S.random_copy("D", o.random_seed)
    r = compute_guided_backprop(D, baseline, plan.layer, plan.source, plan.filters, o.top, o.rule, o.random_seed,
                                o.batch_size, ctx.device)
    out = ctx.out
    save_figure(plot_guided_backprop(r, "map"), out, "guided_backprop")
    save_figure(plot_guided_backprop(r, "shared"), out, "guided_backprop_shared_scale")
    save_figure(plot_guided_backprop(r, content="images"), out, "top_images")
    if r.energy:
        save_figure(plot_class_energy(r), out, "class_energy")
    summary = summary_of(r, plan.note, S)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **arrays_of(r, plan.source))
    return summary


__all__ = ["NAME", "Options", "Plan", "arrays_of", "prepare", "run"]
