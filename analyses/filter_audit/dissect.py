"""Network Dissection of one layer (Bau et al. 2017) and the measures that need no masks.

Each filter's threshold is the top ``top_fraction`` (1%) quantile of its activations over the
scanned set (at the layer's own resolution); its map is upsampled bilinearly to the image size
and thresholded; IoU with each class mask is summed over the whole set
(sum |M & L| / sum |M | L|). A filter's label is its best class when that IoU passes
``iou_threshold`` (0.04, Network Dissection's value); -1 otherwise. Since IoU <= |M| / |L|, a
1% mask can never pass 0.04 on a class covering more than ~25% of the pixels (walls, floors,
often beds): a second label, by *precision*, names the class holding at least half of a
filter's mask when that is at least twice the class's pixel share (``PRECISION_THRESHOLD``,
``LIFT_THRESHOLD``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IOU_THRESHOLD = 0.04
TOP_FRACTION = 0.01
PRECISION_THRESHOLD = 0.5  # a detector's mask lies at least half on its class ...
LIFT_THRESHOLD = 2.0  # ... and at least twice as often as the class's pixel share


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
