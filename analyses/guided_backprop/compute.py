"""Fig. 5's computation: each filter's top images, the guided-backprop map of its maximal unit on
each, for the trained D and its random-filter baseline; where class maps exist, the share of each
map's energy on each class.

For each selected filter of a layer of D, the N scanned images are ranked by the
filter's maximal spatial response; on each of the top K the guided-backprop map of that
single maximal unit with respect to the image is computed (:func:`~.maps.guided_maps`). A
freshly initialised D of the same architecture (the paper's init, seeded) is analysed the
same way: the random-filter baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.sources import ImageSource
from gan_viz.units import scan_top

from .maps import check_guidable, guided_maps

STRUCTURE = ("wall", "floor", "ceiling")  # room classes that are not objects


def random_discriminator(cfg: ModelConfig, seed: int) -> nn.Module:
    """The random-filter baseline of a gan-viz D: D of ``cfg`` with the paper's init from
    ``torch.Generator(seed)`` (for any D: ``Subject.random_copy("D", seed)``, the same weights here)."""
    from gan_viz.models import random_network

    return random_network(cfg, "D", seed)



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
