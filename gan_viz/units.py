"""Scanning a network's filters (core): filter lists, top responses, receptive-field cones.

Shared by the guided-backprop figure, the filter audit and the explorer. A filter's
*response* on an image is its feature map as the next layer reads it; its *maximal unit*
is the spatial position where that map is largest (the paper's "maximal axis-aligned response").

Layers are addressed as :mod:`gan_viz.layers` defines; a layer's output is read by
:func:`gan_viz.hooks.forward_to` (a hook on the model's own ``forward``, or the children in
order where the model is a plain chain, where the receptive-field cone :class:`UnitCone` applies).

Example:
    >>> layer, _ = check_layer(D, None, "D")         # e.g. "lrelu4" at 64x64, "features.7" for a critic
    >>> top = scan_top(D, layer, source, filters=range(6), k=9)
    >>> top.values.shape, top.positions.shape         # (6, 9), (6, 9, 2)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.hooks import forward_to
from gan_viz.layers import RECTIFIERS, is_plain_chain
from gan_viz.parsing import parse_int_list
from gan_viz.sources import ImageSource, evaluating


# --- filters ---------------------------------------------------------------------------

def parse_filters(spec, channels: int, what: str = "--filters", default: int = 6) -> list[int]:
    """Filters of a layer with ``channels`` filters: None (the first ``default``), ``"all"``,
    ``"0-5"`` / ``"1,4,7"``, or a sequence of ints."""
    if spec is None:
        return list(range(min(default, channels)))
    if isinstance(spec, str):
        return parse_int_list(spec, what, upper=channels)
    out = [int(f) for f in spec]
    bad = [i for i in out if i < 0 or i >= channels]
    if bad or not out:
        raise UserError(f"{what} {','.join(map(str, spec))!r} selects nothing valid (valid: 0-{channels - 1})")
    return out


# --- scan for the maximal responses ---------------------------------------------------

@dataclass(frozen=True)
class TopUnits:
    """For each filter its K best images: response (F, K), image index (F, K), unit (F, K, 2) row/col."""

    values: torch.Tensor
    index: torch.Tensor
    positions: torch.Tensor


def scan_top(net: nn.Module, layer: str, source: ImageSource, filters: Sequence[int], k: int,
             batch_size: int = 256, device: torch.device | str = "cpu", desc: str = "scan") -> TopUnits:
    """Rank the N images of ``source`` per filter by the filter's maximal spatial response; keep the top k.

    Ties keep the earlier image (stable sort), so the result is deterministic.
    """
    f = torch.as_tensor(list(filters), dtype=torch.long)
    vals = torch.empty(len(f), 0)
    idx = torch.empty(len(f), 0, dtype=torch.long)
    pos = torch.empty(len(f), 0, dtype=torch.long)
    width = None
    with evaluating(net), torch.inference_mode():
        net.to(device)
        for start in tqdm(range(0, source.n, batch_size), desc=desc, unit="batch", leave=False):
            rows = np.arange(start, min(source.n, start + batch_size))
            a = forward_to(net, layer, source.fetch(rows).to(device))[:, f.to(device)]  # (B, F, h, w)
            width = a.shape[-1]
            v, p = a.flatten(2).float().max(2)  # (B, F)
            vals = torch.cat([vals, v.cpu().T], 1)
            idx = torch.cat([idx, torch.as_tensor(rows).expand(len(f), -1)], 1)
            pos = torch.cat([pos, p.cpu().T], 1)
            order = torch.sort(vals, dim=1, descending=True, stable=True).indices[:, :k]
            vals, idx, pos = vals.gather(1, order), idx.gather(1, order), pos.gather(1, order)
    pos = torch.stack([pos // width, pos % width], -1)
    return TopUnits(vals.clone(), idx.clone(), pos.clone())  # clones outside inference mode: usable by autograd


# --- receptive fields of DCGAN-style discriminators -------------------------------------

def receptive_chain(net: nn.Module, layer: str) -> tuple[nn.Sequential, int] | None:
    """``net`` up to ``layer`` and its number of stride-2 convolutions ``L``, when that part
    is a chain of 4x4 / stride 2 / padding 1 convolutions with pointwise layers between
    (eval-mode BatchNorm, rectifiers), as in every DCGAN D; otherwise None.

    In such a chain a unit at (i, j) of ``layer`` sees input rows ``[s*i - s + 1, s*i + 2s - 2]``
    (``s = 2**L``, ``3s - 2`` rows), and :class:`UnitCone` computes it and its gradient map
    from those pixels alone.
    """
    children = list(net.named_children())
    names = [n for n, _ in children]
    if not is_plain_chain(net) or layer not in names:
        return None
    upto = children[:names.index(layer) + 1]
    n_conv = 0
    for _, m in upto:
        if isinstance(m, nn.Conv2d):
            if (m.kernel_size, m.stride, m.padding, m.dilation, m.groups) != ((4, 4), (2, 2), (1, 1), (1, 1), 1) \
                    or m.padding_mode != "zeros":
                return None
            n_conv += 1
        elif isinstance(m, nn.BatchNorm2d):
            if m.training:
                return None
        elif not isinstance(m, RECTIFIERS + (nn.Identity,)):
            return None
    return (nn.Sequential(OrderedDict(upto)), n_conv) if n_conv else None


class _ValidConv(nn.Module):
    """A DCGAN 4x4 / stride 2 convolution without padding, on ``conv``'s own parameters.

    On a 4x4 input (a single output unit) it runs as one matrix product: oneDNN's
    convolution backward from a 1x1 output ran at a seventh of the speed of the product.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (4, 4):
            return nn.functional.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]
        return nn.functional.conv2d(x, self.weight, self.bias, stride=2)


class UnitCone(nn.Sequential):
    """A :func:`receptive_chain` evaluated on one unit's cone only, one unit per batch row.

    Built from the chain ``(trunk, L)`` of a D and its input size ``(H, W)``. Its input is,
    per row, the ``3s - 2`` pixel square (``s = 2**L``) that holds the unit's receptive field
    (zeros where it hangs over the image edge); every convolution runs unpadded on the
    window the next level needs (``n -> (n - 4) / 2 + 1``: 22 -> 10 -> 4 -> 1 at L = 3), and
    the positions of each convolution's input that lie outside the full map are zeroed
    first, which is exactly the zero padding of the full-image forward. The output is the
    chain's last layer at the unit alone, ``(R, channels, 1, 1)``: the unit's value and its
    gradient map equal those of the full image, for the work of the cone (a sixth of the
    full image's at L = 3, a quarter at L = 4). Convolutions share the chain's parameters;
    every other module (BatchNorm, rectifiers, their hooks) is the chain's own.
    """

    def __init__(self, trunk: nn.Sequential, n_conv: int, size: Sequence[int]):
        mods = OrderedDict((name, _ValidConv(m) if isinstance(m, nn.Conv2d) else m)
                           for name, m in trunk.named_children())
        super().__init__(mods)
        self.levels = n_conv
        self.window = 3 * 2 ** n_conv - 2
        self.map_sizes = [tuple(int(v) for v in size)]
        for _ in range(n_conv):
            self.map_sizes.append(tuple(v // 2 for v in self.map_sizes[-1]))

    def input_start(self, pos: torch.Tensor, level: int = 0) -> torch.Tensor:
        """(R, 2) unit positions at the last level -> (R, 2) first position of each row's window
        in the map after ``level`` convolutions (0: the image's top-left pixel)."""
        s = 2 ** (self.levels - level)
        return s * pos - (s - 1)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (R, C, n, n) windows from :func:`cone_windows`; pos: (R, 2) each row's unit."""
        level, n = 0, self.window
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout: 12-18% less time
        for m in self:
            if isinstance(m, _ValidConv):
                start = self.input_start(pos, level)  # (R, 2)
                k = torch.arange(n, device=x.device)
                inside = [((start[:, a, None] + k) >= 0) & ((start[:, a, None] + k) < self.map_sizes[level][a])
                          for a in (0, 1)]
                x = x * (inside[0][:, None, :, None] & inside[1][:, None, None, :]).to(x.dtype)
                level, n = level + 1, (n - 4) // 2 + 1
            x = m(x)
        return x


def _window_groups(start: torch.Tensor, n: int, size: Sequence[int]) -> list:
    """Rows grouped by window: ``[(rows, image slice (y0, y1, x0, x1), window slice), ...]`` for each
    distinct ``start`` (R, 2) of an ``n`` x ``n`` window on an image of ``size`` (H, W), clipped to
    the image (a unit of an h x w map has at most h * w distinct windows: one copy per group)."""
    h, w = (int(v) for v in size[-2:])
    starts, inverse = torch.unique(start, dim=0, return_inverse=True)
    groups = []
    for g, (r0, c0) in enumerate(starts.tolist()):
        y0, y1, x0, x1 = max(r0, 0), min(r0 + n, h), max(c0, 0), min(c0 + n, w)
        if y1 > y0 and x1 > x0:  # else the window lies wholly outside the image: zeros
            groups.append(((inverse == g).nonzero().squeeze(1), (y0, y1, x0, x1),
                           (y0 - r0, y1 - r0, x0 - c0, x1 - c0)))
    return groups


def cone_windows(images: torch.Tensor, start: torch.Tensor, n: int) -> tuple[torch.Tensor, list]:
    """Each row's ``n`` x ``n`` window of ``images`` (R, C, H, W) from ``start`` (R, 2), zeros
    outside the image; also the groups that put an (R, C, n, n) map back with :func:`place_windows`."""
    groups = _window_groups(start, n, images.shape)
    windows = images.new_zeros((len(images), images.shape[1], n, n))
    for rows, (y0, y1, x0, x1), (a0, a1, b0, b1) in groups:
        windows[rows, :, a0:a1, b0:b1] = images[rows, :, y0:y1, x0:x1]
    return windows, groups


def place_windows(maps: torch.Tensor, where: list, shape: Sequence[int],
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`cone_windows`: (R, C, n, n) window maps -> (R, C, H, W), zeros elsewhere
    (written into ``out``, an (R, C, H, W) tensor of zeros, where given)."""
    if out is None:
        out = maps.new_zeros((len(maps), shape[1], *shape[-2:]))
    for rows, (y0, y1, x0, x1), (a0, a1, b0, b1) in where:
        out[rows, :, y0:y1, x0:x1] = maps[rows, :, a0:a1, b0:b1].to(out.dtype)
    return out
