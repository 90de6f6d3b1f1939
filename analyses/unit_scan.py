"""Scanning a network's filters: layer addressing, image sources, top responses.

Shared by the guided-backprop figure and the filter audit. A filter's *response* on an
image is its feature map as the next layer reads it; its *maximal unit* is the spatial
position where that map is largest (the paper's "maximal axis-aligned response").

Example:
    >>> layer = default_layer(D)                     # e.g. "lrelu4" at 64x64
    >>> top = scan_top(D, layer, source, filters=range(6), k=9)
    >>> top.values.shape, top.positions.shape         # (6, 9), (6, 9, 2)
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.hooks import resolve_layer

RECTIFIERS = (nn.ReLU, nn.LeakyReLU)
CONVS = (nn.Conv2d, nn.ConvTranspose2d)


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode (BatchNorm running statistics: batch rows independent) for the body."""
    was = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was)


# --- layers ---------------------------------------------------------------------------

def conv_layers(net: nn.Module) -> list[str]:
    """Children whose output is a convolutional feature map: a (transposed) convolution, or a
    BatchNorm / rectifier / upsampling after one (not a Sigmoid, Tanh or Flatten)."""
    names, in_block = [], False
    for name, m in net.named_children():
        if isinstance(m, CONVS):
            in_block = True
        elif not isinstance(m, (nn.BatchNorm2d, nn.Upsample) + RECTIFIERS):
            in_block = False
        if in_block:
            names.append(name)
    return names


def default_layer(net: nn.Module) -> str:
    """The child right before D's output convolution: the last conv layer after its BN and activation."""
    children = [n for n, _ in net.named_children()]
    convs = [n for n, m in net.named_children() if isinstance(m, nn.Conv2d)]
    if len(convs) < 2:
        raise UserError("this discriminator has fewer than two convolution layers (an MLP?); guided "
                        "backprop of conv filters needs a DCGAN discriminator")
    return children[children.index(convs[-1]) - 1]


def check_layer(net: nn.Module, name: str | None, tag: str = "D") -> str:
    """The short child name of ``name`` (``"lrelu3"`` or ``"D.lrelu3"``); default: :func:`default_layer`.

    Raises:
        UserError: the other network's prefix, an unknown name, or a layer that is not convolutional.
    """
    if name is None:
        return default_layer(net)
    other = "G" if tag == "D" else "D"
    if name.startswith(other + "."):
        raise UserError(f"layer {name}: this analysis reads {tag}; give a {tag} layer ({tag}.NAME)")
    module = resolve_layer(net, name, tag)
    short = name[len(tag) + 1:] if name.startswith(tag + ".") else name
    valid = conv_layers(net)
    if short not in valid:
        raise UserError(f"layer {tag}.{short} is not convolutional ({type(module).__name__}); choose one of "
                        + ", ".join(f"{tag}.{n}" for n in valid))
    return short


def forward_to(net: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Run the children of ``net`` up to and including ``layer``: (N, C, H, W) -> its output."""
    for name, m in net.named_children():
        x = m(x)
        if name == layer:
            return x
    raise UserError(f"unknown layer {layer!r}")


@torch.no_grad()
def layer_channels(net: nn.Module, layer: str, image_shape: Sequence[int]) -> int:
    """Number of filters (channels) of ``layer`` for inputs of ``image_shape`` (C, H, W)."""
    with evaluating(net):
        p = next(net.parameters())
        return int(forward_to(net, layer, torch.zeros(1, *image_shape, device=p.device, dtype=p.dtype)).shape[1])


# --- images ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageSource:
    """The N images to scan. ``fetch(indices) -> (B, C, H, W)`` float32 in [-1, 1] on the CPU."""

    kind: str  # "real" or "generated"
    name: str  # dataset name, or "G"
    n: int
    fetch: Callable[[np.ndarray], torch.Tensor]
    z: torch.Tensor | None = None  # (N, nz) for generated images
    classmaps: Callable[[np.ndarray], np.ndarray] | None = None  # indices -> (B, H, W) class ids
    class_names: tuple = ()


def generated_source(G: nn.Module, z: torch.Tensor, device: torch.device | str = "cpu") -> ImageSource:
    """Images G(z[i]) (eval mode), produced on demand: z (N, nz)."""

    @torch.no_grad()
    def fetch(idx: np.ndarray) -> torch.Tensor:
        with evaluating(G):
            return G(z[torch.as_tensor(idx, dtype=torch.long)].to(device)).float().cpu()

    G.to(device)
    return ImageSource("generated", "G", len(z), fetch, z=z)


def dataset_source(ds, name: str, n: int, class_names: Sequence[str] = ()) -> ImageSource:
    """The first ``n`` items of a dataset; class maps from ``ds.sample(i).classmap`` when it has them."""
    if n > len(ds):
        raise UserError(f"--images {n}: the {name} test split has only {len(ds)} images; ask for fewer")

    def fetch(idx: np.ndarray) -> torch.Tensor:
        if hasattr(ds, "get_batch"):
            return ds.get_batch([int(i) for i in idx]).float()
        return torch.stack([ds[int(i)][0] for i in idx]).float()

    maps = None
    if class_names and callable(getattr(ds, "sample", None)):
        def maps(idx: np.ndarray) -> np.ndarray:
            return np.stack([np.asarray(ds.sample(int(i)).classmap) for i in idx])
    return ImageSource("real", name, n, fetch, classmaps=maps, class_names=tuple(class_names) if maps else ())


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
    if not isinstance(net, nn.Sequential) or layer not in names:
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


def cone_windows(images: torch.Tensor, start: torch.Tensor, n: int) -> tuple[torch.Tensor, tuple]:
    """Each row's ``n`` x ``n`` window of ``images`` (R, C, H, W) from ``start`` (R, 2), zeros
    outside the image; also the index that puts an (R, C, n, n) map back with :func:`place_windows`."""
    pad = int(max(0, -int(start.min()), int(start.max()) + n - min(images.shape[-2:])))
    xp = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    k = torch.arange(n)
    r = (start[:, 0, None] + pad + k)[:, None, :, None]
    c = (start[:, 1, None] + pad + k)[:, None, None, :]
    index = (torch.arange(len(images))[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None], r, c)
    return xp[index], (index, pad)


def place_windows(maps: torch.Tensor, where: tuple, shape: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`cone_windows`: (R, C, n, n) window maps -> (R, C, H, W), zeros elsewhere."""
    index, pad = where
    h, w = shape[-2:]
    out = maps.new_zeros((len(maps), shape[1], h + 2 * pad, w + 2 * pad))
    out[index] = maps
    return out[..., pad:pad + h, pad:pad + w]
