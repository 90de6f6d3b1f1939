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
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.unit_scan import CONVS, RECTIFIERS, conv_layers, evaluating
from gan_viz.hooks import capture

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


def feature_layers(net: nn.Module) -> list[str]:
    """The response of every hidden conv block: each rectifier child that follows a convolution.

    The output convolution (D's score, G's image) has no rectifier and is left out.
    """
    children = dict(net.named_children())
    return [n for n in conv_layers(net) if isinstance(children[n], RECTIFIERS)]


@torch.no_grad()
def collect(net: nn.Module, layers: Sequence[str], batches: Iterable[torch.Tensor],
            device: torch.device | str = "cpu", keep_output: bool = False):
    """Run ``net`` (eval mode) over ``batches``; return ``{layer: (N, C, h, w)}`` (and the outputs).

    Args:
        batches: inputs (images for D, z for G), CPU tensors.
        keep_output: also return the concatenated network outputs (G's images).
    """
    acts: dict[str, list] = {n: [] for n in layers}
    outs = []
    with evaluating(net), capture(net, list(layers)) as cur:
        net.to(device)
        for x in batches:
            y = net(x.to(device))
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
    """Per convolution child: mean, std, max |w|, near-zero share, spread of filter norms (std / mean)."""
    stats = {}
    for name, m in net.named_children():
        if not isinstance(m, CONVS):
            continue
        w = m.weight.detach().double()
        per_filter = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w  # (out, in, k, k)
        norms = per_filter.flatten(1).norm(dim=1)
        stats[name] = {"shape": list(w.shape), "mean": float(w.mean()), "std": float(w.std()),
                       "abs_max": float(w.abs().max()), "near_zero": float((w.abs() < 1e-3).double().mean()),
                       "filter_norm_cv": float(norms.std(correction=0) / norms.mean().clamp(min=1e-30))}
    return stats


def first_layer_filters(net: nn.Module, tag: str) -> np.ndarray:
    """The filters that touch pixels as (F, k, k, nc): D's first conv, G's last (transposed) conv.

    Both weights are (F, nc, k, k): D's filter f reads an (nc, k, k) patch; G's input channel f
    stamps an (nc, k, k) patch onto the image.
    """
    convs = [m for m in net.children() if isinstance(m, CONVS)]
    m = convs[0] if tag == "D" else convs[-1]
    return m.weight.detach().float().permute(0, 2, 3, 1).numpy()


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
                     iou_threshold: float, top_fraction: float, batch_size: int, device) -> list:
    """Audit ``{"trained": G, "random": G0}``, each on its own images G(z); masks from ``segment``."""
    audits = []
    for network, G in nets.items():
        layers = feature_layers(G)
        batches = (z[s:s + batch_size, :, None, None] for s in range(0, len(z), batch_size))
        acts, images = collect(G, layers, batches, device, keep_output=True)
        classmaps = segment(images) if segment is not None else None
        audits += audit_layers(G, "G", network, acts, classmaps, n_cls, k, iou_threshold, top_fraction)
    return audits


def random_generator(cfg, seed: int) -> nn.Module:
    """The random-filter baseline for G: the paper's init from ``torch.Generator(seed)``."""
    from gan_viz.models import build_generator, init_weights

    net = build_generator(cfg)
    init_weights(net, generator=torch.Generator().manual_seed(int(seed)))
    return net.eval()


def compute_filter_audit(cfg, D: nn.Module | None, G: nn.Module | None, source=None,
                         d_classmaps: torch.Tensor | None = None, z: torch.Tensor | None = None,
                         segment: Callable | None = None, class_names: Sequence[str] = (), k: int = 6,
                         iou_threshold: float = IOU_THRESHOLD, top_fraction: float = TOP_FRACTION,
                         random_seed: int = 0, batch_size: int = 128, device="cpu",
                         sources: dict | None = None) -> AuditResult:
    """The audit of D (on ``source``, masks ``d_classmaps``) and G (on G(z), masks ``segment(images)``).

    Args:
        cfg: the ModelConfig both random baselines are built from (seeded paper init).
        source: ImageSource of D's images (None: D is not audited).
        z: (N, nz) latent codes for G (None: G is not audited).
        class_names: names of the class ids in the masks (needed when masks are given).
    """
    from gan_viz.analyses.guided_backprop import random_discriminator

    n_cls = len(class_names)
    audits, strips, weights, first = [], {}, {"trained": {}, "random": {}}, {}
    if D is not None and source is not None:
        nets = {"trained": D, "random": random_discriminator(cfg, random_seed)}
        la, strips = audit_discriminators(nets, source, d_classmaps, n_cls, k, iou_threshold, top_fraction,
                                          batch_size, device)
        audits += la
        for net_name, net in nets.items():
            weights[net_name]["D"] = weight_stats(net)
        first["D"] = {t: first_layer_filters(n, "D") for t, n in nets.items()}
    if G is not None and z is not None:
        nets = {"trained": G, "random": random_generator(cfg, random_seed)}
        audits += audit_generators(nets, z, segment, n_cls, k, iou_threshold, top_fraction, batch_size, device)
        for net_name, net in nets.items():
            weights[net_name]["G"] = weight_stats(net)
        first["G"] = {t: first_layer_filters(n, "G") for t, n in nets.items()}
    dissected = any(a.iou is not None for a in audits)
    n = source.n if source is not None else (len(z) if z is not None else 0)
    return AuditResult(tuple(audits), tuple(class_names) if dissected else (), iou_threshold, top_fraction, n,
                       dict(sources or {}), weights, first, strips, int(random_seed))
