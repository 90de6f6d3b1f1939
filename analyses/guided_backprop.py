"""Guided backpropagation of the discriminator (paper Fig. 5), real on LeakyReLU networks.

For each selected filter of a layer of D, the N scanned images are ranked by the
filter's maximal spatial response; on each of the top K the guided-backprop map of that
single maximal unit with respect to the image is computed. A freshly initialised D of
the same architecture (the paper's init, seeded) is analysed the same way: the
random-filter baseline.

Backward rules through every rectifier module anywhere in D (``nn.ReLU``,
``nn.LeakyReLU``, ``nn.PReLU``; the forward pass is never changed), with ``g`` the
gradient arriving at the unit, ``x`` its input and ``a`` its negative slope (0.2 in a
DCGAN D, 0 for ``nn.ReLU``, learned for ``nn.PReLU``):

- ``leaky`` (default): ``max(g, 0) * (1 if x > 0 else a)``: only positive gradients
  pass (Springenberg et al. 2015), times the activation's own local slope.
- ``relu``: ``max(g, 0) * [x > 0]``: the units treated as ReLUs.
- ``plain``: the ordinary gradient, for comparison.

captum's GuidedBackprop rewires only ``nn.ReLU``: on a DCGAN discriminator (LeakyReLU
only) it silently returns the plain gradient. :func:`guided_rule` installs the rule on
every rectifier module (scoped forward hooks, removed in ``finally``) and captum's
``NeuronGuidedBackprop`` then computes the maps, every batch row its own unit. A D whose
rectifiers are functional calls (``F.leaky_relu`` in ``forward``) cannot be guided:
:func:`check_guidable` refuses it rather than return the plain gradient.

The registered runner ``run(ctx, ...)`` (``gan-viz guided-backprop``, the report's
Fig. 5) validates, computes, and writes the figures, ``summary.json`` and ``arrays.npz``.

Example:
    >>> D = build_discriminator(ModelConfig(image_size=16, ndf=8)).eval()
    >>> layer = default_layer(D, "D")                  # "lrelu2": read after BN + LeakyReLU
    >>> maps = guided_maps(D, layer, x, filters, positions)  # (R, C, H, W), one unit per row
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.registry import Context, register
from gan_viz.config import ModelConfig
from gan_viz import memory as _memory
from gan_viz.errors import UserError
from gan_viz.hooks import forward_to
from gan_viz.layers import RECTIFIERS, check_layer, resolve_layer, split_address
from gan_viz.sources import ImageSource, evaluating
from gan_viz.units import UnitCone, cone_windows, parse_filters, place_windows, receptive_chain, scan_top
from gan_viz.models import build_discriminator  # noqa: F401 (the module doc's example)

NAME = "guided-backprop"
RULES = ("leaky", "relu", "plain")
STRUCTURE = ("wall", "floor", "ceiling")  # room classes that are not objects


# --- the backward rules ---------------------------------------------------------------

def _guide(out: torch.Tensor, rule: str, inp: torch.Tensor | None = None) -> None:
    """Make the gradient arriving at a rectifier's output ``out`` follow ``rule``.

    A hook on ``out`` clamps the arriving gradient at 0 before the rectifier's own backward,
    which then multiplies by its local slope (1 where the input is positive, its negative
    slope elsewhere): the ``leaky`` rule. For ``relu`` the hook also zeroes the gradient
    where the rectifier's input ``inp`` (default: ``out``) is not positive, so the slope
    below 0 never applies.
    """
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return
    if rule == "leaky":
        out.register_hook(lambda g: g.clamp(min=0))
    else:
        off = (inp if isinstance(inp, torch.Tensor) else out) <= 0
        out.register_hook(lambda g: g.clamp(min=0).masked_fill_(off, 0))


def rectifiers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every rectifier module of ``net`` (:data:`gan_viz.layers.RECTIFIERS`), nested or not."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, RECTIFIERS)]


@contextlib.contextmanager
def guided_rule(net: nn.Module, rule: str = "leaky") -> Iterator[nn.Module]:
    """Apply a backward ``rule`` to every rectifier module of ``net`` during the body.

    The forward pass is unchanged (see :func:`_guide` for how the backward is). In-place
    rectifiers are switched to out-of-place for the body (autograd hooks and in-place
    outputs do not mix) and switched back afterwards; every hook is removed in ``finally``.

    Args:
        net: any module; its rectifiers may be nested anywhere.
        rule: "leaky", "relu" or "plain" (plain installs nothing).
    Raises:
        UserError: unknown rule, or a guided rule on a network without rectifier modules
        (it would silently be the plain gradient).
    """
    if rule not in RULES:
        raise UserError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    rects = [m for _, m in rectifiers(net)] if rule != "plain" else []
    if rule != "plain" and not rects:
        raise UserError(f"the network has no nn.ReLU / nn.LeakyReLU / nn.PReLU / nn.ReLU6 modules, so the {rule!r} rule "
                        "would silently be the plain gradient; use --rule plain")
    handles, switched = [], []
    try:
        for m in rects:
            if getattr(m, "inplace", False):
                m.inplace = False
                switched.append(m)
            handles.append(m.register_forward_hook(lambda _m, inp, out: _guide(out, rule, inp[0] if inp else None)))
        yield net
    finally:
        for h in handles:
            h.remove()
        for m in switched:
            m.inplace = True


def random_discriminator(cfg: ModelConfig, seed: int) -> nn.Module:
    """The random-filter baseline of a gan-viz D: D of ``cfg`` with the paper's init from
    ``torch.Generator(seed)`` (for any D: ``Subject.random_copy("D", seed)``, the same weights here)."""
    from gan_viz.models import random_network

    return random_network(cfg, "D", seed)


# --- guided-backprop maps -------------------------------------------------------------

def _attribution(net: nn.Module, layer: str, rule: str):
    from captum.attr import NeuronGradient, NeuronGuidedBackprop

    module = resolve_layer(net, layer, "D")
    return NeuronGradient(net, module) if rule == "plain" else NeuronGuidedBackprop(net, module)


def _unit_maps(attr, x: torch.Tensor, f: torch.Tensor, i: torch.Tensor, j: torch.Tensor,
               extra: tuple | None = None) -> torch.Tensor:
    """One captum call: row r's map is d out[r, f[r], i[r], j[r]] / d x[r]."""
    x = x.detach().clone().requires_grad_(True)
    rows = torch.arange(len(x), device=x.device)
    f, i, j = (t.to(x.device) for t in (f, i, j))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        return attr.attribute(x, neuron_selector=lambda out: out[rows, f, i, j],
                              additional_forward_args=extra).detach()


def guided_maps(net: nn.Module, layer: str, images: torch.Tensor, filters: torch.Tensor, positions: torch.Tensor,
                rule: str = "leaky", batch_size: int = 256, device: torch.device | str = "cpu",
                progress: bool = True, cone: bool = True) -> torch.Tensor:
    """Guided backprop of one unit per row, all rows batched (``batch_size`` rows per backward pass).

    With ``cone`` (default) and a DCGAN-style D (see :func:`~gan_viz.units.receptive_chain`)
    each row is computed on its unit's cone alone (:class:`~gan_viz.units.UnitCone`):
    the same maps (zero outside the receptive field) for a small part of the work.
    Otherwise (any other D: nested blocks, a Linear head) every row runs on the whole image
    through the model's own forward, the layer's output taken by a hook.

    Args:
        images: (R, C, H, W) inputs. filters: (R,) channel of each row's unit.
        positions: (R, 2) row/col of the unit in the layer's (h, w) map.
    Returns:
        (R, C, H, W) float32 maps on the CPU: d layer[r, filters[r], i, j] / d images[r].
    """
    out = torch.zeros(images.shape, dtype=torch.float32)
    with evaluating(net), guided_rule(net, rule):
        net.to(device)
        chain = receptive_chain(net, layer) if cone else None
        unit = UnitCone(*chain, images.shape[-2:]) if chain else None
        attr = _attribution(unit if unit is not None else net, layer, rule)
        batches = [torch.arange(s, min(len(images), s + batch_size)) for s in range(0, len(images), batch_size)]
        for rows in tqdm(batches, desc=f"guided backprop ({rule})", unit="batch", leave=False, disable=not progress):
            f, pos = filters[rows], positions[rows]
            if unit is None:
                out[rows] = _unit_maps(attr, images[rows].to(device), f, pos[:, 0], pos[:, 1]).float().cpu()
                continue
            x, where = cone_windows(images[rows], unit.input_start(pos), unit.window)
            zero = torch.zeros_like(f)
            maps = _unit_maps(attr, x.to(device), f, zero, zero, (pos.to(device),)).float().cpu()
            out[rows] = place_windows(maps, where, images.shape)
    return out


def guided_maps_per_filter(net: nn.Module, layer: str, images: torch.Tensor, filters: torch.Tensor,
                           positions: torch.Tensor, rule: str = "leaky",
                           device: torch.device | str = "cpu") -> torch.Tensor:
    """The same maps as :func:`guided_maps` with one captum call per filter (the reference loop)."""
    out = torch.empty(images.shape, dtype=torch.float32)
    attr = _attribution(net, layer, rule)
    with evaluating(net), guided_rule(net, rule):
        net.to(device)
        for f in torch.unique(filters).tolist():
            rows = (filters == f).nonzero().squeeze(1)
            out[rows] = _unit_maps(attr, images[rows].to(device), filters[rows], positions[rows, 0],
                                   positions[rows, 1]).float().cpu()
    return out


def check_guidable(net: nn.Module, layer: str, image_shape: Sequence[int], rule: str = "leaky") -> None:
    """Refuse a guided ``rule`` that would silently give the plain gradient of ``layer``.

    Checks that ``net`` has rectifier modules, that one of them runs in its forward before
    ``layer``, and that on a probe input (two seeded random images, up to four filters at
    the map's centre) the guided maps differ from the plain gradient.

    Raises:
        UserError: saying which of the three failed (functional activations such as
        ``F.leaky_relu`` in ``forward`` are invisible to the rule).
    """
    if rule == "plain":
        return
    what = f"D ({type(net).__name__})"
    if not rectifiers(net):
        raise UserError(f"{what} has no rectifier module (nn.ReLU / nn.LeakyReLU / nn.PReLU): its activations "
                        f"are functional calls in forward (e.g. F.leaky_relu), which the {rule!r} rule cannot "
                        "reach, so its maps would be the plain gradient; make them modules or use --rule plain")
    p = next(iter(net.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    x = (torch.rand(2, *image_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    ran: list = []
    handles = [m.register_forward_hook(lambda *_: ran.append(1)) for _, m in rectifiers(net)]
    try:
        with evaluating(net), torch.no_grad():
            a = forward_to(net, layer, x, fast=False)  # (2, C, h, w)
    finally:
        for h in handles:
            h.remove()
    if not ran:
        raise UserError(f"no rectifier module of {what} runs before D.{layer} (functional activations in forward?), "
                        f"so the {rule!r} rule would give the plain gradient; name a deeper layer or use --rule plain")
    c, h, w = a.shape[1:]
    f = torch.arange(min(4, c)).repeat(2)
    rows = torch.arange(2).repeat_interleave(min(4, c))
    pos = torch.tensor([[h // 2, w // 2]]).expand(len(f), 2)
    guided = guided_maps(net, layer, x[rows].cpu(), f, pos, rule, device=device, progress=False, cone=False)
    plain = guided_maps(net, layer, x[rows].cpu(), f, pos, "plain", device=device, progress=False, cone=False)
    scale = float(plain.abs().max())
    if scale > 0 and float((guided - plain).abs().max()) <= 1e-6 * scale:
        raise UserError(f"the {rule!r} rule gives the plain gradient of D.{layer} on a probe input: no rectifier "
                        "module between the input and that layer changes it (functional activations in forward, "
                        "or the first rectifier); name a deeper layer or use --rule plain")


# --- the whole analysis ---------------------------------------------------------------

@dataclass(frozen=True)
class Panel:
    """One network's block of Fig. 5: K rows per filter, filter-major (row = filter_i * K + k)."""

    images: np.ndarray  # (R, C, H, W) float32 in [-1, 1]
    filters: np.ndarray  # (R,) int64
    image_index: np.ndarray  # (R,) index into the scanned images
    positions: np.ndarray  # (R, 2) row, col of the maximal unit in the layer's map
    activations: np.ndarray  # (R,) that unit's response
    maps: np.ndarray  # (R, C, H, W) raw guided-backprop maps
    scan_s: float = 0.0
    backprop_s: float = 0.0


def compute_panel(net: nn.Module, layer: str, source: ImageSource, filters: Sequence[int], k: int,
                  rule: str = "leaky", batch_size: int = 256, device: torch.device | str = "cpu",
                  desc: str = "", check: bool = True) -> Panel:
    """Scan, keep each filter's top ``k`` images, and backprop each one's maximal unit.

    With ``check`` a rule that would be the plain gradient is refused first (:func:`check_guidable`).
    """
    if check:
        check_guidable(net, layer, tuple(source.fetch(np.arange(1)).shape[1:]), rule)
    t0 = time.perf_counter()
    top = scan_top(net, layer, source, filters, k, batch_size, device, desc=f"scan {desc}".strip())
    t1 = time.perf_counter()
    flat_idx = top.index.reshape(-1).numpy()  # (F*K,)
    uniq, inverse = np.unique(flat_idx, return_inverse=True)
    images = torch.cat([source.fetch(uniq[s:s + batch_size]) for s in range(0, len(uniq), batch_size)])[inverse]
    rows_f = torch.as_tensor(np.repeat(np.asarray(filters, np.int64), k))
    positions = top.positions.reshape(-1, 2)
    maps = guided_maps(net, layer, images, rows_f, positions, rule, batch_size, device)
    return Panel(images.numpy().astype(np.float32), rows_f.numpy(), flat_idx, positions.numpy(),
                 top.values.reshape(-1).numpy(), maps.numpy(), t1 - t0, time.perf_counter() - t1)


@dataclass(frozen=True)
class GuidedBackpropResult:
    """Fig. 5 for one layer: the random baseline and the trained D, plus class energies where masks exist."""

    layer: str
    rule: str
    filters: tuple
    k: int
    n_images: int
    source: str  # "real rooms test" or "generated"
    random_seed: int
    trained: Panel
    random: Panel
    class_names: tuple = ()
    energy: dict = field(default_factory=dict)  # "trained"/"random" -> ClassEnergy (rooms only)
    fallback: str = ""  # generated images in place of real ones: why (said in the figure's title)


def compute_guided_backprop(D: nn.Module, baseline: nn.Module, layer: str, source: ImageSource,
                            filters: Sequence[int], k: int, rule: str = "leaky", random_seed: int = 0,
                            batch_size: int = 256, device: torch.device | str = "cpu") -> GuidedBackpropResult:
    """Fig. 5: the trained ``D`` and its random ``baseline`` (same architecture, seeded init,
    e.g. ``subject.random_copy("D", random_seed)``), analysed the same way.

    Raises:
        UserError: ``k`` above the images scanned, or a rule that would be the plain gradient
        (:func:`check_guidable`).
    """
    if k > source.n:
        raise UserError(f"--top {k} is larger than the {source.n} images scanned; lower --top or raise --images")
    panels = {}
    for tag, net in (("trained", D), ("random", baseline)):  # the baseline has D's architecture: checked once
        panels[tag] = compute_panel(net, layer, source, filters, k, rule, batch_size, device, desc=tag,
                                    check=tag == "trained")
    energy = {}
    if source.classmaps is not None:
        for tag, p in panels.items():
            energy[tag] = class_energy(p, source.classmaps(p.image_index), source.class_names, k)
    return GuidedBackpropResult(layer, rule, tuple(int(f) for f in filters), k, source.n, source.words,
                                int(random_seed), panels["trained"], panels["random"],
                                tuple(source.class_names) if energy else (), energy, source.fallback)


@dataclass(frozen=True)
class ClassEnergy:
    """Where a filter's guided-backprop energy (sum of squared map values) falls, per class.

    energy: (F, n_classes) mean over the filter's K images of the energy fraction on each class.
    pixels: (F, n_classes) mean pixel fraction of each class in those images.
    lift: energy / pixels (1 = no preference; nan where the class is absent).
    """

    energy: np.ndarray
    pixels: np.ndarray
    lift: np.ndarray
    object_energy: np.ndarray  # (F,) energy fraction on object classes (all but wall/floor/ceiling)
    object_pixels: np.ndarray  # (F,) pixel fraction of object classes


def class_energy(panel: Panel, classmaps: np.ndarray, class_names: Sequence[str], k: int) -> ClassEnergy:
    """Per-filter class energy fractions of a panel's maps; classmaps (R, H, W) ids into class_names."""
    n_cls = len(class_names)
    e = (panel.maps.astype(np.float64) ** 2).sum(1)  # (R, H, W)
    en = np.stack([np.bincount(c.ravel(), weights=w.ravel(), minlength=n_cls)[:n_cls] for c, w in zip(classmaps, e)])
    px = np.stack([np.bincount(c.ravel(), minlength=n_cls)[:n_cls] for c in classmaps]).astype(np.float64)
    en = en / np.maximum(en.sum(1, keepdims=True), 1e-30)  # (R, n_cls)
    px = px / px.sum(1, keepdims=True)
    en_f = en.reshape(-1, k, n_cls).mean(1)  # (F, n_cls)
    px_f = px.reshape(-1, k, n_cls).mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(px_f > 0, en_f / px_f, np.nan)
    obj = np.array([n not in STRUCTURE for n in class_names])
    return ClassEnergy(en_f, px_f, lift, en_f[:, obj].sum(1), px_f[:, obj].sum(1))


# --- display ---------------------------------------------------------------------------

SCALES = {"map": "each map scaled by its own max |value|",
          "shared": "one scale for all maps of both networks (99.5th percentile of |value|, clipped)"}


def display_maps(maps: np.ndarray, scale: str = "map", ref: np.ndarray | None = None) -> np.ndarray:
    """Raw maps (R, C, H, W) -> (R, H, W, 3) uint8: grey = 0, bright = positive, dark = negative.

    Args:
        scale: "map" (per-map max |value|) or "shared" (the 99.5th percentile of |value| over ``ref``).
        ref: the maps that share the scale (default: ``maps``).
    """
    m = maps.astype(np.float64)
    if scale == "map":
        s = np.abs(m).reshape(len(m), -1).max(1).reshape(-1, 1, 1, 1)
    else:
        s = np.percentile(np.abs(m if ref is None else ref), 99.5)
    v = 0.5 + 0.5 * np.clip(m / np.maximum(s, 1e-30), -1, 1)
    out = np.clip(v * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.repeat(out, 3, -1) if out.shape[-1] == 1 else out


def plot_guided_backprop(result: GuidedBackpropResult, scale: str = "map", content: str = "maps"):
    """The paper's layout: random filters left, trained right, a row per filter, K columns.

    Args:
        scale: display normalisation of the maps, "map" or "shared" (see ``SCALES``).
        content: "maps" (guided backprop) or "images" (the inputs the maps belong to).
    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from gan_viz.images import grid, to_uint8

    nf, k = len(result.filters), result.k
    ref = np.concatenate([result.random.maps, result.trained.maps])
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.75 * k + 0.4), 0.75 * nf + 1.2), squeeze=False)
    for ax, tag in zip(axes[0], ("random", "trained")):
        panel = getattr(result, tag)
        cells = to_uint8(panel.images) if content == "images" else display_maps(panel.maps, scale, ref)
        pad, h = 2, cells.shape[1]
        ax.imshow(grid(cells, nrow=k, pad=pad), interpolation="nearest")  # pixel maps: no smoothing
        ax.set_xticks([])
        ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(nf)])
        ax.set_yticklabels([f"filter {f}" for f in result.filters], fontsize=7)
        name = f"random filters (init seed {result.random_seed})" if tag == "random" else "trained filters"
        ax.set_title(name, fontsize=9)
    what = ("guided backprop" if content == "maps" else "top images") + f" ({result.rule} rule)"
    cap = (f"D.{result.layer}: {what}; each row a filter, its top {k} of {result.n_images} "
           f"{result.source} images by maximal response")
    if content == "maps":
        cap += f"; display: {SCALES[scale]}; grey = 0"
    fig.text(0.5, 0.005, cap, ha="center", va="bottom", fontsize=7, wrap=True)
    top = 1.0
    if result.fallback:  # never only in a log line: the figure itself says its images are not real
        fig.suptitle(f"On GENERATED images, not real ones: {result.fallback}", fontsize=8, color="darkred",
                     wrap=True)
        top = 0.9
    fig.tight_layout(rect=(0, 0.05, 1, top))
    return fig


def plot_class_energy(result: GuidedBackpropResult):
    """Mean over filters of the energy fraction per class, random vs trained, beside the pixel fraction."""
    import matplotlib.pyplot as plt

    names = result.class_names
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 3.2))
    pixels = (result.energy["trained"].pixels.mean(0) + result.energy["random"].pixels.mean(0)) / 2
    ax.bar(x - 0.27, pixels, 0.27, color="0.7", label="pixel fraction (top images)")
    ax.bar(x, result.energy["random"].energy.mean(0), 0.27, color="tab:blue", label="random D: energy")
    ax.bar(x + 0.27, result.energy["trained"].energy.mean(0), 0.27, color="tab:red", label="trained D: energy")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, fontsize=8)
    ax.set_ylabel("fraction")
    ax.set_title(f"Where guided-backprop energy of D.{result.layer} falls ({len(result.filters)} filters, "
                 f"top {result.k} images each)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- the registered runner -------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What :func:`prepare` settled before anything is computed or written."""

    layer: str  # dotted name without "D."
    filters: tuple
    source: ImageSource
    note: str  # why these images


def prepare(subject, layer: str | None = None, filters=None, top: int = 8, images: int = 1000,
            source: str = "auto", rule: str = "leaky", random_seed: int = 0, batch_size: int = 256,
            seed: int = 0, device: torch.device | str = "cpu", dataset: str | None = None,
            data_root: str | None = None) -> Plan:
    """Validate the options of :func:`run` on ``subject`` and choose the images (nothing is written).

    Raises:
        UserError: one line on the first bad option (numbers, layer, filters, a rule that would
        be the plain gradient, an image source that does not exist).
    """
    from gan_viz.sources import image_source

    for opt, v in (("--top", top), ("--images", images), ("--batch-size", batch_size)):
        if not isinstance(v, int) or v < 1:
            raise UserError(f"{opt} {v}: must be at least 1")
    if top > images:
        raise UserError(f"--top {top} is larger than --images {images}; "
                        "each filter keeps its top K of the N images scanned")
    if rule not in RULES:
        raise UserError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    D = subject.require("D")
    shape = tuple(subject.image_shape)
    layer, out_shape = check_layer(D, layer, "D", shape)
    if split_address(layer)[1] is not None:
        raise UserError(f"layer D.{layer}: guided backprop reads a layer through captum's neuron hooks, which "
                        "cannot single out one call of a module the forward calls several times; choose a "
                        "module called once (see gan-viz layers)")
    chosen = parse_filters(filters, out_shape[0])
    check_guidable(D, layer, shape, rule)
    if subject.G is not None:
        subject.G.to(device)  # a callable generator (z reshaped for G) runs where G is
    src, note = image_source(subject, source, images, seed, device, dataset, data_root)
    return Plan(layer, tuple(chosen), src, note)


def summarize(r: GuidedBackpropResult, note: str, subject) -> dict:
    """The figures of merit of a result (``summary.json``)."""
    out = {"checkpoint": subject.where, "checkpoint_source": subject.source, "subject": subject.describe(),
           "layer": f"D.{r.layer}", "rule": r.rule, "filters": list(r.filters), "top_k": r.k,
           "n_images": r.n_images, "images": note, "random_seed": r.random_seed, "display": SCALES}
    if r.fallback:
        out["fallback"] = r.fallback  # why generated images stand in for real ones
    for tag in ("trained", "random"):
        p = getattr(r, tag)
        norms = np.sqrt((p.maps.astype(np.float64) ** 2).reshape(len(p.maps), -1).sum(1))
        out[tag] = {"top_activations": {str(f): np.round(p.activations[i * r.k:(i + 1) * r.k].astype(float), 6).tolist()
                                        for i, f in enumerate(r.filters)},
                    "mean_top_activation": float(p.activations.mean()),
                    "median_map_l2": float(np.median(norms)),
                    "timing_s": {"scan": round(p.scan_s, 3), "backprop": round(p.backprop_s, 3)}}
        if tag in r.energy:
            e = r.energy[tag]
            out[tag]["object_energy_fraction"] = float(e.object_energy.mean())
            out[tag]["object_pixel_fraction"] = float(e.object_pixels.mean())
            out[tag]["per_filter"] = {str(f): _best_class(e, i, r.class_names) for i, f in enumerate(r.filters)}
    return out


def _best_class(e: ClassEnergy, i: int, names) -> dict:
    """The class a filter's energy prefers most over its pixel share (classes >= 1% of pixels)."""
    lift = np.where(e.pixels[i] >= 0.01, e.lift[i], -np.inf)
    c = int(np.argmax(lift))
    return {"best_class": names[c], "lift": round(float(lift[c]), 3), "energy": round(float(e.energy[i, c]), 4),
            "pixels": round(float(e.pixels[i, c]), 4), "object_energy": round(float(e.object_energy[i]), 4)}


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


def caption(s: dict) -> str:
    """The report's caption of a summary."""
    t, r = s.get("trained", {}), s.get("random", {})
    text = f"On generated images, not real ones ({s['fallback']}). " if s.get("fallback") else ""
    text += (f"Guided backpropagation ({s.get('rule')} rule) of the maximal axis-aligned responses of filters "
            f"{s.get('filters')} of {s.get('layer')}, each on its top {s.get('top_k')} of {s.get('n_images')} "
            f"{s.get('images')}; random-filter baseline beside the trained discriminator. Mean top activation "
            f"{t.get('mean_top_activation', float('nan')):.4f} trained vs "
            f"{r.get('mean_top_activation', float('nan')):.4f} random.")
    if "object_energy_fraction" in t:
        text += (f" On the trained D, {100 * t['object_energy_fraction']:.1f}% of the guided-backprop energy lies "
                 f"on object pixels (they cover {100 * t.get('object_pixel_fraction', float('nan')):.1f}%).")
    return text


@register(NAME, needs=("D",), title="Fig. 5: guided backpropagation of D's features", caption=caption)
def run(ctx: Context, *, layer: str | None = None, filters=None, top: int = 8, images: int = 1000,
        source: str = "auto", rule: str = "leaky", random_seed: int = 0, batch_size: int = 256) -> dict:
    """Fig. 5 on ``ctx.subject``: validate, compute, write the figures, ``summary.json`` and
    ``arrays.npz`` into ``ctx.out``; returns the summary.

    Args (the command's option names):
        layer: a D layer by dotted name (default: :func:`gan_viz.layers.default_layer`).
        filters: "0-5", "1,4,7", "all" or a list of ints (default: the first 6).
        top: images per filter (K). images: images scanned (N).
        source: "auto" (real where available), "real" (``ctx.data``) or "generated".
        rule: "leaky", "relu" or "plain". random_seed: the baseline's init seed.
        batch_size: images per forward / backward pass.
    """
    from gan_viz.io import save_figure, write_json, write_npz

    S = ctx.subject
    _memory.require("--images", images, 4 * _memory.image_bytes(S.image_shape), "D's images and their maps")
    plan = prepare(S, layer, filters, top, images, source, rule, random_seed, batch_size, ctx.seed, ctx.device,
                   ctx.dataset, ctx.data_root)
    D = S.require("D").cpu()  # the baseline is drawn on the CPU (seeded CPU generator), then both move
    baseline = S.random_copy("D", random_seed)
    r = compute_guided_backprop(D, baseline, plan.layer, plan.source, plan.filters, top, rule, random_seed,
                                batch_size, ctx.device)
    out = ctx.out
    save_figure(plot_guided_backprop(r, "map"), out, "guided_backprop")
    save_figure(plot_guided_backprop(r, "shared"), out, "guided_backprop_shared_scale")
    save_figure(plot_guided_backprop(r, content="images"), out, "top_images")
    if r.energy:
        save_figure(plot_class_energy(r), out, "class_energy")
    summary = summarize(r, plan.note, S)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **arrays_of(r, plan.source))
    return summary
