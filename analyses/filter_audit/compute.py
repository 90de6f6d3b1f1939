"""The filter audit's computation: per layer of D (and G), trained and random, the measures that
need no masks and, where class maps exist, Network Dissection; plus the weights and the filters
that touch pixels.

Example:
    >>> acts = collect(D, feature_layers(D), batches)  # {layer: (N, C, h, w)}
    >>> audits = audit_layers(D, "D", "trained", acts, classmaps, n_cls=10)
    >>> audits[0].labels  # (C,) class id per filter, -1 = no label
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .activations import batches_of, collect, feature_layers
from .dissect import IOU_THRESHOLD, TOP_FRACTION, dissect, label_filters, no_mask_measures, precision_labels
from .weights import first_layer_filters, pixel_conv_words, weight_stats


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
