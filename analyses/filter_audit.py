"""What did the filters learn? Random vs trained, measured for every conv layer of D (and G).

Per layer (the response as the next layer reads it: after BatchNorm and activation):

- Object alignment in the style of Network Dissection (Bau et al. 2017): each filter's
  threshold is the top ``top_fraction`` (1%) quantile of its activations over the scanned
  set (at the layer's own resolution); its map is upsampled bilinearly to the image size
  and thresholded; IoU with each class mask is summed over the whole set
  (sum |M & L| / sum |M | L|). A filter's label is its best class when that IoU passes
  ``iou_threshold`` (0.04, Network Dissection's value); -1 otherwise.
  Since IoU <= |M| / |L|, a 1% mask can never pass 0.04 on a class covering more than
  ~25% of the pixels (walls, floors, often beds): a second label, by *precision*, names
  the class holding at least half of a filter's mask when that is at least twice the
  class's pixel share (``PRECISION_THRESHOLD``, ``LIFT_THRESHOLD``).
- Measures that need no masks: ``active_fraction`` (share of image positions with a
  positive response), ``selectivity`` (Treves-Rolls lifetime sparsity of the per-image
  maximal response over images: 0 = fires equally on all, 1 = on one image only) and
  ``dead`` (never a positive response).
- Weight statistics of every convolution, and the first layer's filters as images.

Example:
    >>> audits = audit_layers(D, "D", ["lrelu1", "lrelu2"], batches, classmaps, n_cls=10)
    >>> audits[0].labels  # (C,) class id per filter, -1 = no label
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.registry import register
from gan_viz.layers import CONVS, RECTIFIERS
from gan_viz.errors import UserError
from gan_viz.hooks import capture
from gan_viz.sources import evaluating

IOU_THRESHOLD = 0.04
TOP_FRACTION = 0.01
PRECISION_THRESHOLD = 0.5  # a detector's mask lies at least half on its class ...
LIFT_THRESHOLD = 2.0  # ... and at least twice as often as the class's pixel share


@dataclass(frozen=True)
class LayerAudit:
    """One layer of one network (trained or random); C filters."""

    net: str  # "D" or "G"
    layer: str  # child name, e.g. "lrelu3"
    network: str  # "trained" or "random"
    shape: tuple  # (C, h, w)
    max_response: np.ndarray  # (C,) over the scanned set
    active_fraction: np.ndarray  # (C,)
    selectivity: np.ndarray  # (C,) Treves-Rolls lifetime sparsity in [0, 1]
    dead: np.ndarray  # (C,) bool: never a positive response
    top_index: np.ndarray  # (C, K) images with the largest maximal response, best first
    threshold: np.ndarray | None = None  # (C,) top-fraction activation quantile
    iou: np.ndarray | None = None  # (C, n_classes)
    labels: np.ndarray | None = None  # (C,) best class id when its IoU >= the threshold, else -1
    precision: np.ndarray | None = None  # (C, n_classes) share of the filter's mask on each class
    lift: np.ndarray | None = None  # (C, n_classes) precision / class pixel share
    precision_labels: np.ndarray | None = None  # (C,) see precision_labels(); -1 = none
    mask_fraction: np.ndarray | None = None  # (C,) share of pixels in the filter's mask

    @property
    def name(self) -> str:
        return f"{self.net}.{self.layer}"


# leaf modules that keep a conv block going (between its convolution and its activation)
IN_BLOCK = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm, nn.Upsample, nn.Identity, nn.Dropout,
            nn.Dropout2d, nn.AvgPool2d, nn.MaxPool2d)


def _leaves(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if n and next(m.children(), None) is None]


def feature_layers(net: nn.Module) -> list[str]:
    """The response of every hidden conv block, by dotted name: the rectifier module that follows
    each convolution (``lrelu3``, ``main.4``, ``features.7``, ``blocks.1.act``), in registration order.

    A block whose activation is a functional call (no rectifier module) is read at its last
    conv or norm module instead. The output convolution (D's score, G's image: no Linear
    layer after it) is left out.
    """
    leaves = _leaves(net)
    convs = [i for i, (_, m) in enumerate(leaves) if isinstance(m, CONVS)]
    if not convs:
        return []
    output = convs[-1] if not any(isinstance(m, nn.Linear) for _, m in leaves[convs[-1] + 1:]) else None
    names, block, start = [], None, None  # block: where the open block is read; start: its conv's index

    def close():
        if block is not None and start != output:
            names.append(block)

    for i, (name, m) in enumerate(leaves):
        if isinstance(m, CONVS):
            close()
            block, start = name, i
        elif block is None:
            continue
        elif isinstance(m, RECTIFIERS):
            names.append(name)
            block = None
        elif isinstance(m, IN_BLOCK):
            if not isinstance(m, (nn.Upsample, nn.Identity, nn.Dropout, nn.Dropout2d)):
                block = name  # read after the norm / pooling
        else:  # a Linear, Flatten, Sigmoid, Tanh ... ends the block
            close()
            block = None
    close()
    return names


@torch.no_grad()
def collect(net: nn.Module, layers: Sequence[str], batches: Iterable[torch.Tensor],
            device: torch.device | str = "cpu", keep_output: bool = False, call: Callable | None = None):
    """Run ``net`` (eval mode) over ``batches``; return ``{layer: (N, C, h, w)}`` (and the outputs).

    Args:
        batches: inputs (images for D, z for G), CPU tensors.
        keep_output: also return the concatenated network outputs (G's images).
        call: what runs a batch (default ``net``; e.g. a subject's generator, which reshapes z).
    """
    acts: dict[str, list] = {n: [] for n in layers}
    outs = []
    call = call or net
    with evaluating(net), capture(net, list(layers)) as cur:
        net.to(device)
        for x in batches:
            y = call(x.to(device))
            for n in layers:
                acts[n].append(cur[n].float().cpu())
            if keep_output:
                outs.append(y.float().cpu())
    stacked = {n: torch.cat(v) for n, v in acts.items()}
    return (stacked, torch.cat(outs)) if keep_output else stacked


def no_mask_measures(a: torch.Tensor, k: int) -> dict:
    """Measures of one layer's activations (N, C, h, w) that need no masks."""
    r = a.amax((2, 3))  # (N, C) maximal response per image
    n = r.shape[0]
    rp = r.clamp(min=0).double()
    tr = (rp.mean(0) ** 2) / (rp.pow(2).mean(0)).clamp(min=1e-30)  # Treves-Rolls, 1 = uniform
    sel = ((1 - tr) / (1 - 1 / n)).clamp(0, 1) if n > 1 else torch.zeros(r.shape[1], dtype=torch.float64)
    sel = torch.where(rp.sum(0) > 0, sel, torch.zeros_like(sel))
    order = torch.sort(r, dim=0, descending=True, stable=True).indices[:k].T  # (C, k)
    return {"max_response": r.max(0).values.numpy(), "active_fraction": (a > 0).float().mean((0, 2, 3)).numpy(),
            "selectivity": sel.float().numpy(), "dead": (r.max(0).values <= 0).numpy(), "top_index": order.numpy()}


@dataclass(frozen=True)
class Dissection:
    """Network Dissection of one layer: C filters against K classes over the whole set."""

    threshold: np.ndarray  # (C,) each filter's top-fraction activation quantile
    iou: np.ndarray  # (C, K) sum |M & L| / sum |M | L|
    precision: np.ndarray  # (C, K) sum |M & L| / sum |M|: share of the filter's mask on each class
    class_share: np.ndarray  # (K,) share of all pixels in each class
    mask_fraction: np.ndarray  # (C,) share of all pixels in the filter's mask

    @property
    def lift(self) -> np.ndarray:
        """(C, K) precision / class share: 1 = the mask falls on the class as often as chance."""
        return self.precision / np.maximum(self.class_share, 1e-30)[None, :]


def dissect(a: torch.Tensor, classmaps: torch.Tensor, n_cls: int, top_fraction: float = TOP_FRACTION,
            chunk_elems: int = 1 << 23) -> Dissection:
    """Network Dissection IoU (and mask precision) of every filter with every class over the whole set.

    Args:
        a: (N, C, h, w) activations. classmaps: (N, H, W) integer class ids in [0, n_cls).
        top_fraction: share of activations above each filter's threshold (at resolution h x w).
    Returns:
        :class:`Dissection`.
    """
    n, c = a.shape[:2]
    flat = a.transpose(0, 1).reshape(c, -1)
    m = max(1, math.ceil(top_fraction * flat.shape[1]))
    thr = flat.topk(m, dim=1).values[:, -1]  # (C,)
    size = tuple(classmaps.shape[-2:])
    inter = torch.zeros(c, n_cls, dtype=torch.float64)
    msum = torch.zeros(c, dtype=torch.float64)
    lsum = torch.zeros(n_cls, dtype=torch.float64)
    step = max(1, chunk_elems // (c * size[0] * size[1]))
    for s in range(0, n, step):
        up = F.interpolate(a[s:s + step], size=size, mode="bilinear", align_corners=False)
        mask = (up > thr.view(1, c, 1, 1)).float()  # (B, C, H, W)
        onehot = F.one_hot(classmaps[s:s + step].long(), n_cls).permute(0, 3, 1, 2).float()  # (B, K, H, W)
        inter += torch.einsum("bchw,bkhw->ck", mask, onehot).double()
        msum += mask.sum((0, 2, 3)).double()
        lsum += onehot.sum((0, 2, 3)).double()
    union = msum[:, None] + lsum[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-30), torch.zeros_like(inter))
    precision = inter / msum.clamp(min=1)[:, None]
    total = float(n * size[0] * size[1])
    return Dissection(thr.numpy(), iou.float().numpy(), precision.float().numpy(),
                      (lsum / total).float().numpy(), (msum / total).float().numpy())


def label_filters(iou: np.ndarray, threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """(C, K) IoU -> (C,) best class id where its IoU >= ``threshold``, else -1."""
    best = iou.argmax(1)
    return np.where(iou.max(1) >= threshold, best, -1)


def precision_labels(d: Dissection, precision: float = PRECISION_THRESHOLD, lift: float = LIFT_THRESHOLD) -> np.ndarray:
    """(C,) the class holding most of a filter's mask when that share >= ``precision`` and is >= ``lift``
    times the class's pixel share (the IoU label cannot fire for large classes: IoU <= |M| / |L|); else -1."""
    best = d.precision.argmax(1)
    rows = np.arange(len(best))
    ok = (d.precision[rows, best] >= precision) & (d.lift[rows, best] >= lift)
    return np.where(ok, best, -1)


def audit_layers(net: nn.Module, tag: str, network: str, acts: dict, classmaps: torch.Tensor | None,
                 n_cls: int, k: int = 6, iou_threshold: float = IOU_THRESHOLD,
                 top_fraction: float = TOP_FRACTION) -> list[LayerAudit]:
    """Turn collected activations ``{layer: (N, C, h, w)}`` into one :class:`LayerAudit` per layer."""
    out = []
    for layer, a in tqdm(acts.items(), desc=f"audit {network} {tag}", unit="layer", leave=False):
        meas = no_mask_measures(a, min(k, a.shape[0]))
        extra = {}
        if classmaps is not None:
            d = dissect(a, classmaps, n_cls, top_fraction)
            extra = {"threshold": d.threshold, "iou": d.iou, "labels": label_filters(d.iou, iou_threshold),
                     "precision": d.precision, "lift": d.lift, "precision_labels": precision_labels(d),
                     "mask_fraction": d.mask_fraction}
        out.append(LayerAudit(tag, layer, network, tuple(a.shape[1:]), **meas, **extra))
    return out


def weight_stats(net: nn.Module) -> dict:
    """Per convolution module (dotted name): mean, std, max |w|, near-zero share, spread of filter
    norms (std / mean)."""
    stats = {}
    for name, m in net.named_modules():
        if not isinstance(m, CONVS):
            continue
        w = m.weight.detach().double()
        per_filter = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w  # (out, in, k, k)
        norms = per_filter.flatten(1).norm(dim=1)
        stats[name] = {"shape": list(w.shape), "mean": float(w.mean()), "std": float(w.std()),
                       "abs_max": float(w.abs().max()), "near_zero": float((w.abs() < 1e-3).double().mean()),
                       "filter_norm_cv": float(norms.std(correction=0) / norms.mean().clamp(min=1e-30))}
    return stats


def pixel_conv(net: nn.Module, tag: str) -> tuple[str, nn.Module]:
    """(dotted name, module) of the convolution that touches pixels: D's first, G's last."""
    convs = [(n, m) for n, m in _leaves(net) if isinstance(m, CONVS)]
    if not convs:
        raise UserError(f"{tag} has no convolution layers (an MLP GAN?); the filter audit needs conv filters")
    return convs[0] if tag == "D" else convs[-1]


def pixel_conv_words(net: nn.Module, tag: str) -> str:
    """The pixel convolution in words for a figure: "first conv D.main.0", "last transposed conv G.conv5",
    "last conv G.to_rgb" (a plain Conv2d, e.g. after nn.Upsample)."""
    name, m = pixel_conv(net, tag)
    kind = "transposed conv" if isinstance(m, nn.ConvTranspose2d) else "conv"
    return f"{'first' if tag == 'D' else 'last'} {kind} {tag}.{name}"


def first_layer_filters(net: nn.Module, tag: str) -> np.ndarray:
    """The filters that touch pixels as (F, k, k, nc): D's first conv, G's last conv.

    D's filter f reads an (nc, k, k) patch (weight (F, nc, k, k)); G's input channel f of a last
    transposed conv (weight (F, nc, k, k)) stamps an (nc, k, k) patch onto the image, and of a
    last plain conv (weight (nc, F, k, k)) weighs the (k, k) window of feature map f.
    """
    m = pixel_conv(net, tag)[1]
    w = m.weight.detach().float()
    if tag == "G" and not isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(0, 1)  # (F, nc, k, k)
    return w.permute(0, 2, 3, 1).numpy()


def label_counts(audits: Sequence[LayerAudit], class_names: Sequence[str]) -> dict:
    """``{"D.lrelu3": {"trained": {class: n}, "random": {...}}}`` for layers that were dissected."""
    out: dict = {}
    for a in audits:
        if a.labels is None:
            continue
        counts = {c: int((a.labels == i).sum()) for i, c in enumerate(class_names)}
        counts["(none)"] = int((a.labels < 0).sum())
        out.setdefault(a.name, {})[a.network] = counts
    return out


def batches_of(fetch: Callable[[np.ndarray], torch.Tensor], n: int, batch_size: int, desc: str):
    """Yield ``fetch(indices)`` over 0..n-1 in batches, with a progress bar."""
    for s in tqdm(range(0, n, batch_size), desc=desc, unit="batch", leave=False):
        yield fetch(np.arange(s, min(n, s + batch_size)))


# --- the whole audit ----------------------------------------------------------------------

@dataclass(frozen=True)
class AuditResult:
    """Every audited layer of D (and G), trained and random, plus weights and first-layer filters."""

    audits: tuple  # LayerAudit, ...
    class_names: tuple  # () when nothing was dissected
    iou_threshold: float
    top_fraction: float
    n_images: int
    sources: dict  # "D" / "G" -> what the layer saw, in words
    weights: dict  # "trained" / "random" -> "D" / "G" -> weight_stats
    first_layer: dict  # "D" / "G" -> {"trained": (F, k, k, nc), "random": ...}
    strips: dict  # "trained" / "random" -> (F, K, C, H, W) top images of D's last layer's first filters
    random_seed: int = 0
    fallback: str = ""  # D saw generated images in place of real ones: why (said in the figures' titles)
    first_layer_words: dict = field(default_factory=dict)  # "D" / "G" -> "first conv D.main.0", ...


def _top_strips(audit: LayerAudit, fetch, n_filters: int = 8) -> np.ndarray:
    idx = audit.top_index[:n_filters]  # (F, K)
    return fetch(idx.reshape(-1)).numpy().reshape(*idx.shape, *fetch(idx[:1, :1].reshape(-1)).shape[1:])


def audit_discriminators(nets: dict, source, classmaps: torch.Tensor | None, n_cls: int, k: int,
                         iou_threshold: float, top_fraction: float, batch_size: int, device) -> tuple[list, dict]:
    """Audit ``{"trained": D, "random": D0}`` on the same images; returns (audits, strips)."""
    audits, strips = [], {}
    for network, D in nets.items():
        layers = feature_layers(D)
        acts = collect(D, layers, batches_of(source.fetch, source.n, batch_size, f"D {network}"), device)
        la = audit_layers(D, "D", network, acts, classmaps, n_cls, k, iou_threshold, top_fraction)
        del acts
        audits += la
        strips[network] = _top_strips(la[-1], source.fetch)
    return audits, strips


def audit_generators(nets: dict, z: torch.Tensor, segment: Callable | None, n_cls: int, k: int,
                     iou_threshold: float, top_fraction: float, batch_size: int, device,
                     calls: dict | None = None) -> list:
    """Audit ``{"trained": G, "random": G0}``, each on its own images G(z); masks from ``segment``.
    ``calls``: per network, the callable z (B, nz) -> images (default: the module itself)."""
    audits = []
    for network, G in nets.items():
        layers = feature_layers(G)
        batches = (z[s:s + batch_size] for s in range(0, len(z), batch_size))
        acts, images = collect(G, layers, batches, device, keep_output=True, call=(calls or {}).get(network))
        classmaps = segment(images) if segment is not None else None
        audits += audit_layers(G, "G", network, acts, classmaps, n_cls, k, iou_threshold, top_fraction)
    return audits


def random_generator(cfg, seed: int) -> nn.Module:
    """The random-filter baseline for G: the paper's init from ``torch.Generator(seed)``."""
    from gan_viz.models import random_network

    return random_network(cfg, "G", seed)


def _baseline(owner, tag: str, seed: int) -> nn.Module:
    """The random-filter copy of D or G: a Subject's :meth:`random_copy`, or built from a ModelConfig."""
    from gan_viz.subject import Subject

    if isinstance(owner, Subject):
        return owner.random_copy(tag, seed)
    from gan_viz.models import random_network

    return random_network(owner, tag, seed)


def _generator_calls(owner, G0: nn.Module) -> dict | None:
    """How the trained and the random G take z (N, nz): through the subject's reshaping."""
    from gan_viz.subject import Subject

    if not isinstance(owner, Subject):
        return None
    return {"trained": owner.generator_fn(), "random": lambda z: G0(owner.as_input(z))}


def compute_filter_audit(cfg, D: nn.Module | None, G: nn.Module | None, source=None,
                         d_classmaps: torch.Tensor | None = None, z: torch.Tensor | None = None,
                         segment: Callable | None = None, class_names: Sequence[str] = (), k: int = 6,
                         iou_threshold: float = IOU_THRESHOLD, top_fraction: float = TOP_FRACTION,
                         random_seed: int = 0, batch_size: int = 128, device="cpu",
                         sources: dict | None = None) -> AuditResult:
    """The audit of D (on ``source``, masks ``d_classmaps``) and G (on G(z), masks ``segment(images)``).

    Args:
        cfg: a Subject (random baselines: :meth:`~gan_viz.subject.Subject.random_copy`) or the
            ModelConfig both random baselines are built from (seeded paper init).
        source: ImageSource of D's images (None: D is not audited).
        z: (N, nz) latent codes for G (None: G is not audited).
        class_names: names of the class ids in the masks (needed when masks are given).
    """
    n_cls = len(class_names)
    audits, strips, weights, first, words = [], {}, {"trained": {}, "random": {}}, {}, {}
    if D is not None and source is not None:
        nets = {"trained": D, "random": _baseline(cfg, "D", random_seed)}
        la, strips = audit_discriminators(nets, source, d_classmaps, n_cls, k, iou_threshold, top_fraction,
                                          batch_size, device)
        audits += la
        for net_name, net in nets.items():
            weights[net_name]["D"] = weight_stats(net)
        first["D"] = {t: first_layer_filters(n, "D") for t, n in nets.items()}
        words["D"] = pixel_conv_words(D, "D")
    if G is not None and z is not None:
        nets = {"trained": G, "random": _baseline(cfg, "G", random_seed)}
        audits += audit_generators(nets, z, segment, n_cls, k, iou_threshold, top_fraction, batch_size, device,
                                   _generator_calls(cfg, nets["random"]))
        for net_name, net in nets.items():
            weights[net_name]["G"] = weight_stats(net)
        first["G"] = {t: first_layer_filters(n, "G") for t, n in nets.items()}
        words["G"] = pixel_conv_words(G, "G")
    dissected = any(a.iou is not None for a in audits)
    n = source.n if source is not None else (len(z) if z is not None else 0)
    return AuditResult(tuple(audits), tuple(class_names) if dissected else (), iou_threshold, top_fraction, n,
                       dict(sources or {}), weights, first, strips, int(random_seed),
                       source.fallback if source is not None else "", words)


# --- the registered runner -----------------------------------------------------------------

NAME = "filter-audit"


def _check(nets: str, images: int, batch_size: int, iou_threshold: float, top_fraction: float) -> list[str]:
    chosen = [n.strip() for n in str(nets).split(",") if n.strip()]
    if not chosen or set(chosen) - {"D", "G"}:
        raise UserError(f"--nets {nets!r}: choose D, G or D,G")
    if images < 2 or batch_size < 1:
        raise UserError("--images must be at least 2 and --batch-size at least 1")
    if not 0 < iou_threshold <= 1 or not 0 < top_fraction < 1:
        raise UserError("--iou-threshold must be in (0, 1] and --top-fraction in (0, 1)")
    return chosen


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


def prepare(ctx, nets: str = "D,G", images: int = 500, source: str = "auto", masks: str | None = None,
            parser: str | None = None, iou_threshold: float = IOU_THRESHOLD, top_fraction: float = TOP_FRACTION,
            batch_size: int = 128) -> dict:
    """Validate everything and decide images and masks before anything is computed or written."""
    from gan_viz.instruments import absent_reason, resolve_instrument
    from gan_viz.sources import image_source

    chosen = _check(nets, images, batch_size, iou_threshold, top_fraction)
    S = ctx.subject
    plan = {"D": None, "G": None, "source": None, "classmaps": None, "names": (), "segment": None, "notes": {}}
    for tag in chosen:
        net = S.require(tag)
        if not feature_layers(net):
            raise UserError(f"{tag} ({type(net).__name__}) has no convolution layers (an MLP GAN?); the filter "
                            "audit needs conv filters")
    _size_request(S, chosen, images)
    spec = "none" if parser == "none" else ctx.segmenter
    weights = None if parser == "none" else parser
    inst = resolve_instrument(S, spec, parser=weights, device=ctx.device)
    reason = None if inst is not None else absent_reason(S, spec, parser=weights) or "the rooms parser could not be loaded"
    plan["instrument"], plan["reason"] = inst, reason
    if "D" in chosen:
        plan["D"] = S.require("D")
        src, note = image_source(S, source, images, ctx.seed, ctx.device, ctx.dataset, ctx.data_root)
        plan["source"] = src
        plan["classmaps"], plan["names"], extra = _d_masks(src, masks, inst, reason, S.image_shape)
        plan["notes"]["D"] = note + extra
    elif masks is not None:
        raise UserError("--masks label D's real images; audit D (--nets D or D,G) to use them")
    if "G" in chosen:
        plan["G"] = S.require("G")
        segment = inst.segment if inst is not None else None
        seg_note = (f"masks from {inst.name} on the generated images" if inst is not None
                    else f"no masks for generated images ({reason})")
        if plan["names"] and inst is not None and tuple(plan["names"]) != inst.class_names:
            segment, seg_note = None, f"no masks (D's masks name other classes than {inst.name}'s)"
        plan["segment"], plan["names"] = segment, plan["names"] or (inst.class_names if segment else ())
        plan["notes"]["G"] = f"{images} generated images (seed {ctx.seed}); {seg_note}"
    return plan


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


def _layer_summary(a: LayerAudit, names) -> dict:
    d = {"filters": a.shape[0], "map": list(a.shape[1:]), "dead": int(a.dead.sum()),
         "selectivity_median": float(np.median(a.selectivity)),
         "active_fraction_median": float(np.median(a.active_fraction))}
    if a.labels is not None:
        d["labelled"] = int((a.labels >= 0).sum())
        d["labels"] = {c: int((a.labels == i).sum()) for i, c in enumerate(names) if (a.labels == i).any()}
        d["best_iou_median"] = float(np.median(a.iou.max(1)))
        d["best_iou_max"] = float(a.iou.max())
        d["mask_fraction_median"] = float(np.median(a.mask_fraction))
        d["precision_labelled"] = int((a.precision_labels >= 0).sum())
        d["precision_labels"] = {c: int((a.precision_labels == i).sum()) for i, c in enumerate(names)
                                 if (a.precision_labels == i).any()}
        d["best_precision_median"] = float(np.median(a.precision.max(1)))
    return d


def summarize(r: AuditResult, S, plan: dict) -> dict:
    """The figures of merit (``summary.json``): per layer, trained and random."""
    from gan_viz.instruments import instrument_record

    layers: dict = {}
    for a in r.audits:
        layers.setdefault(a.name, {})[a.network] = _layer_summary(a, r.class_names)
    dissected = {tag: any(a.net == tag and a.labels is not None for a in r.audits) for tag in ("D", "G")
                 if plan[tag] is not None}
    return {"checkpoint": S.where, "checkpoint_source": S.source, "n_images": r.n_images,
            "sources": plan["notes"], "class_names": list(r.class_names), "iou_threshold": r.iou_threshold,
            "top_fraction": r.top_fraction, "random_seed": r.random_seed,
            "instrument": instrument_record(plan["instrument"], plan["reason"]), "dissected": dissected,
            "threshold_rule": "top-fraction quantile of each filter's activations at the layer's resolution; "
                              "maps upsampled bilinearly to the image size, then thresholded",
            "precision_rule": f"label = the class holding >= {PRECISION_THRESHOLD} of the filter's mask when "
                              f"that is >= {LIFT_THRESHOLD}x the class's pixel share (IoU <= mask / class "
                              "size, so IoU labels cannot fire on large classes)",
            "layers": layers, "weights": r.weights, **({"fallback": r.fallback} if r.fallback else {})}


def _arrays(r: AuditResult, z: torch.Tensor | None) -> dict:
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


def caption(s: dict) -> str:
    """The report's caption of an audit summary (dissection labels only where masks existed)."""
    from gan_viz.instruments import caption_note

    f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    rows = []
    for name, per in (s.get("layers") or {}).items():
        t, r = per.get("trained", {}), per.get("random", {})
        if "labelled" in t:
            rows.append(f"{name}: {t['labelled']}/{t['filters']} IoU-labelled (random {r.get('labelled')}), "
                        f"{t.get('precision_labelled')} precision-labelled (random {r.get('precision_labelled')}), "
                        f"selectivity {f(t.get('selectivity_median'))} (random {f(r.get('selectivity_median'))})")
        else:
            rows.append(f"{name}: selectivity {f(t.get('selectivity_median'))}, dead {t.get('dead')}/{t.get('filters')}")
    lead = f"D on generated images, not real ones ({s['fallback']}). " if s.get("fallback") else ""
    return lead + (f"Network Dissection on {s.get('n_images')} images ({'; '.join((s.get('sources') or {}).values())}): "
            f"a filter is labelled with a class when its IoU exceeds {s.get('iou_threshold')} (top "
            f"{s.get('top_fraction')} of activations). " + "; ".join(rows) + ". "
            + caption_note(s.get("instrument") or {}))


@register(NAME, needs=(), title="Filter audit (Network Dissection), random vs trained", caption=caption)
def run(ctx, *, nets: str = "D,G", images: int = 500, source: str = "auto", masks: str | None = None,
        parser: str | None = None, iou_threshold: float = IOU_THRESHOLD, top_fraction: float = TOP_FRACTION,
        random_seed: int = 0, batch_size: int = 128) -> dict:
    """The filter audit of ``ctx.subject``'s D and/or G (``nets``): no-mask measures always; dissection
    where masks exist (``masks`` for real images, the dataset's class maps, or the instrument of
    ``ctx``; else absent with the reason in ``sources``). Writes the figures (PNG + PDF),
    ``labels.md``, ``summary.json`` and ``arrays.npz`` into ``ctx.out``; returns the summary.

    Args (the command's option names): nets: "D", "G" or "D,G". images: images (and z) scanned.
        source: D's images, "auto" / "real" (``ctx.data``) / "generated". masks: an .npz of
        ``masks`` (N, H, W) and ``class_names`` for D's real images. parser: rooms parser weights,
        or "none" (no instrument). iou_threshold, top_fraction, random_seed, batch_size.
    """
    from pathlib import Path

    from gan_viz.io import atomic_path, save_figure, write_json, write_npz
    from gan_viz.analyses import filter_audit_plots as figs

    plan = prepare(ctx, nets, images, source, masks, parser, iou_threshold, top_fraction, batch_size)
    S = ctx.subject
    z = S.sample_z(images, torch.Generator().manual_seed(ctx.seed)) if plan["G"] is not None else None
    r = compute_filter_audit(S, plan["D"], plan["G"], plan["source"], plan["classmaps"], z, plan["segment"],
                             plan["names"], 6, iou_threshold, top_fraction, random_seed, batch_size, ctx.device,
                             plan["notes"])
    out = ctx.out
    if r.class_names:
        from gan_viz.instruments import figure_tag, instrument_record

        tag = figure_tag(instrument_record(plan["instrument"], plan["reason"]))
        save_figure(figs.plot_label_counts(r, "iou", tag), out, "label_counts")
        save_figure(figs.plot_label_counts(r, "precision", tag), out, "label_counts_precision")
        with atomic_path(out / "labels.md") as tmp:
            Path(tmp).write_text(figs.labels_table(r))
    save_figure(figs.plot_selectivity(r), out, "selectivity")
    save_figure(figs.plot_first_layer(r), out, "first_layer_filters")
    if r.strips:
        last = [a.layer for a in r.audits if a.net == "D"][-1]
        save_figure(figs.plot_top_strips(r, last), out, "top_strips")
    summary = summarize(r, S, plan)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, z))
    return summary
