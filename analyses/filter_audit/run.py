"""The registered runner of ``gan-viz filter-audit``: options, images and masks, writing.

D's images come from :func:`gan_viz.sources.image_source`; their masks are ``--masks`` (real
images), the dataset's own class maps, or the instrument's (``ctx.segmenter``); G is audited on
G(z) with the instrument's masks. Without masks the dissection is absent, with the reason in the
summary's ``sources``. Writes label_counts, label_counts_precision (where something was dissected),
selectivity, first_layer_filters, top_strips (where D was audited) as PNG + PDF, labels.md,
summary.json and arrays.npz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.sources import ImageSource, image_source

from .activations import feature_layers
from .compute import AuditResult, compute_filter_audit
from .dissect import IOU_THRESHOLD, TOP_FRACTION
from .plot import labels_table, plot_first_layer, plot_label_counts, plot_selectivity, plot_top_strips
from .summary import caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NAME = "filter-audit"
TOP_K = 6  # top images kept per filter


@dataclass(frozen=True)
class Options:
    """The command's options, checked on creation."""

    nets: str = "D,G"  # networks to audit: "D", "G" or "D,G"
    images: int = 500  # images (and z) scanned
    source: str = "auto"  # D's images: "auto" / "real" (ctx.data) / "generated"
    masks: str | None = None  # an .npz of masks (N, H, W) and class_names for D's real images
    parser: str | None = None  # rooms parser weights, or "none" (no instrument)
    iou_threshold: float = IOU_THRESHOLD
    top_fraction: float = TOP_FRACTION
    random_seed: int = 0  # the random baselines' init seed
    batch_size: int = 128

    def __post_init__(self):
        chosen = self.chosen
        if not chosen or set(chosen) - {"D", "G"}:
            raise UserError(f"--nets {self.nets!r}: choose D, G or D,G")
        if self.images < 2 or self.batch_size < 1:
            raise UserError("--images must be at least 2 and --batch-size at least 1")
        if not 0 < self.iou_threshold <= 1 or not 0 < self.top_fraction < 1:
            raise UserError("--iou-threshold must be in (0, 1] and --top-fraction in (0, 1)")

    @property
    def chosen(self) -> list[str]:
        """The networks ``nets`` names, in its order."""
        return [n.strip() for n in str(self.nets).split(",") if n.strip()]


@dataclass(frozen=True)
class Plan:
    """What :func:`prepare` settled before anything is computed or written."""

    D: torch.nn.Module | None  # None: D is not audited
    G: torch.nn.Module | None  # None: G is not audited
    source: ImageSource | None  # D's images
    classmaps: torch.Tensor | None  # (N, H, W) class ids of D's images, or None
    names: Sequence[str]  # class names of the masks (() without masks)
    segment: Callable | None  # images -> class maps for G's images, or None
    notes: dict  # "D" / "G" -> what the network saw, in words
    instrument: object  # the Instrument, or None
    reason: str | None  # why there is no instrument


def _d_masks(source, masks: str | None, inst, reason: str | None, shape) -> tuple:
    """(class maps (N, H, W) or None, class names, note) for D's images: user masks, the dataset's
    own class maps, the instrument's, or none (and why)."""
    from gan_viz.instruments import Masks

    if masks is not None:
        if source.kind != "real":
            raise UserError("--masks belong to real images; this run scans generated ones (pass the dataset)")
        m = Masks.from_npz(masks, source.n, shape[1:])
        return torch.from_numpy(m.masks), m.class_names, f"; masks from {masks}"
    if source.classmaps is not None:
        return (torch.from_numpy(source.classmaps(np.arange(source.n))), tuple(source.class_names),
                f"; {source.name} class maps")
    if inst is not None:
        images = torch.cat([source.fetch(np.arange(s, min(source.n, s + 256))) for s in range(0, source.n, 256)])
        return inst.segment(images), inst.class_names, f"; masks from {inst.name} on the {source.kind} images"
    return None, (), f"; no masks ({reason}): selectivity and sparsity only"


def _g_masks(inst, reason: str | None, names, images: int, seed: int) -> tuple:
    """(segment or None, class names, note) for G's images: the instrument's masks, unless D's
    masks name other classes."""
    segment = inst.segment if inst is not None else None
    seg_note = (f"masks from {inst.name} on the generated images" if inst is not None
                else f"no masks for generated images ({reason})")
    if names and inst is not None and tuple(names) != inst.class_names:
        segment, seg_note = None, f"no masks (D's masks name other classes than {inst.name}'s)"
    return segment, names or (inst.class_names if segment else ()), \
        f"{images} generated images (seed {seed}); {seg_note}"


def _instrument(ctx: "Context", parser: str | None) -> tuple:
    """(instrument or None, why there is none) for ``ctx`` and ``--parser``."""
    from gan_viz.instruments import absent_reason, resolve_instrument

    S = ctx.subject
    spec = "none" if parser == "none" else ctx.segmenter
    weights = None if parser == "none" else parser
    inst = resolve_instrument(S, spec, parser=weights, device=ctx.device)
    reason = None if inst is not None else absent_reason(S, spec, parser=weights) or "the rooms parser could not be loaded"
    return inst, reason


def prepare(ctx: "Context", o: Options) -> Plan:
    """Validate everything and decide images and masks before anything is computed or written."""
    S = ctx.subject
    for tag in o.chosen:
        net = S.require(tag)
        if not feature_layers(net):
            raise UserError(f"{tag} ({type(net).__name__}) has no convolution layers (an MLP GAN?); the filter "
                            "audit needs conv filters")
    _size_request(S, o.chosen, o.images)
    inst, reason = _instrument(ctx, o.parser)
    D = G = src = classmaps = segment = None
    names, notes = (), {}
    if "D" in o.chosen:
        D = S.require("D")
        src, note = image_source(S, o.source, o.images, ctx.seed, ctx.device, ctx.dataset, ctx.data_root)
        classmaps, names, extra = _d_masks(src, o.masks, inst, reason, S.image_shape)
        notes["D"] = note + extra
    elif o.masks is not None:
        raise UserError("--masks label D's real images; audit D (--nets D or D,G) to use them")
    if "G" in o.chosen:
        G = S.require("G")
        segment, names, notes["G"] = _g_masks(inst, reason, names, o.images, ctx.seed)
    return Plan(D, G, src, classmaps, names, segment, notes, inst, reason)


def _size_request(S, chosen, images: int) -> None:
    """Refuse an ``--images`` whose activations cannot be held in memory (before any work): every
    audited layer's outputs for every image, twice (the batches and their concatenation), plus the
    images and their class maps."""
    from gan_viz.memory import image_bytes, layer_bytes, require

    per = 0
    for tag in chosen:
        net = S.require(tag)
        if tag == "D":
            x, call = torch.zeros(1, *S.image_shape, device=next(net.parameters()).device), None
        else:
            x, call = S.sample_z(1, torch.Generator().manual_seed(0)), S.generator_fn()
        per = max(per, 2 * layer_bytes(net, feature_layers(net), x, call))
    C, H, W = S.image_shape
    require("--images", images, per + 2 * image_bytes(S.image_shape) + 8 * H * W, "the audited layers' activations")


def arrays_of(r: AuditResult, z: torch.Tensor | None) -> dict:
    """Every layer's measures, labels and first-layer filters (``arrays.npz``), beside z."""
    arrays = {"class_names": np.array(r.class_names), "random_seed": np.array(r.random_seed),
              "layer_names": np.array(sorted({a.name for a in r.audits})), "image_index": np.arange(r.n_images)}
    if z is not None:
        arrays["z"] = z.numpy()
    for a in r.audits:
        key = f"{a.name.replace('.', '_')}__{a.network}__"
        for name in ("max_response", "active_fraction", "selectivity", "dead", "top_index", "threshold", "iou",
                     "labels", "precision", "lift", "precision_labels", "mask_fraction"):
            if getattr(a, name) is not None:
                arrays[key + name] = getattr(a, name)
    for net, ws in r.first_layer.items():
        for network, w in ws.items():
            arrays[f"first_layer_{net}__{network}"] = w
    return arrays


def write_figures(r: AuditResult, plan: Plan, out) -> None:
    """The audit's figures (PNG + PDF) and, where something was dissected, ``labels.md``, into ``out``."""
    from pathlib import Path

    from gan_viz.instruments import figure_tag, instrument_record
    from gan_viz.io import atomic_path, save_figure

    if r.class_names:
        tag = figure_tag(instrument_record(plan.instrument, plan.reason))
        save_figure(plot_label_counts(r, "iou", tag), out, "label_counts")
        save_figure(plot_label_counts(r, "precision", tag), out, "label_counts_precision")
        with atomic_path(out / "labels.md") as tmp:
            Path(tmp).write_text(labels_table(r))
    save_figure(plot_selectivity(r), out, "selectivity")
    save_figure(plot_first_layer(r), out, "first_layer_filters")
    if r.strips:
        last = [a.layer for a in r.audits if a.net == "D"][-1]
        save_figure(plot_top_strips(r, last), out, "top_strips")


@register(NAME, needs=(), title="Filter audit (Network Dissection), random vs trained", caption=caption,
          options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """The filter audit of ``ctx.subject``'s D and/or G (``o.nets``; :class:`Options`, the command's
    option names): no-mask measures always; dissection where masks exist (``o.masks`` for real
    images, the dataset's class maps, or the instrument of ``ctx``; else absent with the reason in
    ``sources``). Writes the figures (PNG + PDF), ``labels.md``, ``summary.json`` and ``arrays.npz``
    into ``ctx.out``; returns the summary.
    """
    from gan_viz.io import write_json, write_npz

    plan = prepare(ctx, o)
    S = ctx.subject
    z = S.sample_z(o.images, torch.Generator().manual_seed(ctx.seed)) if plan.G is not None else None
    r = compute_filter_audit(S, plan.D, plan.G, plan.source, plan.classmaps, z, plan.segment, plan.names, TOP_K,
                             o.iou_threshold, o.top_fraction, o.random_seed, o.batch_size, ctx.device, plan.notes)
    write_figures(r, plan, ctx.out)
    summary = summary_of(r, S, plan)
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **arrays_of(r, z))
    return summary


__all__ = ["NAME", "TOP_K", "Options", "Plan", "arrays_of", "prepare", "run", "write_figures"]
