"""Scanning a network's filters: layer addressing, image sources, top responses.

Shared by the guided-backprop figure and the filter audit. A filter's *response* on an
image is its feature map as the next layer reads it; its *maximal unit* is the spatial
position where that map is largest (the paper's "maximal axis-aligned response").

Layers are addressed by their dotted ``named_modules()`` names (``lrelu3`` in a gan-viz
DCGAN, ``main.7`` in a PyTorch examples one, ``features.7`` or ``blocks.2.act`` in a
user's model); a layer's output is captured by a hook on the model's own ``forward``.
Where the model is a plain chain (see :func:`is_plain_chain`) its children run in order
instead, and the receptive-field cone (:class:`UnitCone`) applies.

Example:
    >>> layer = default_layer(D)                     # e.g. "lrelu4" at 64x64, "features.7" for a critic
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
from gan_viz.parsing import parse_int_list
from gan_viz.hooks import resolve_layer
from gan_viz.layers import CONVS, NORMS, RECTIFIERS  # noqa: F401 (re-exported)
from gan_viz.models import DCGANDiscriminator
from gan_viz.sources import ImageSource, dataset_source, evaluating, generated_source  # noqa: F401 (re-exported)

# leaf modules that keep a convolutional feature map a feature map (not Sigmoid, Tanh, Flatten, Linear)
MAP_KINDS = NORMS + RECTIFIERS + (nn.Upsample, nn.Identity, nn.Dropout, nn.Dropout2d, nn.AvgPool2d, nn.MaxPool2d)
PASS_THROUGH = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout2d)  # reshapes, no new values
SQUASH = (nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax)
_PROBE_SIZES = (64, 32, 128, 28, 16, 256)


# --- how a model runs -------------------------------------------------------------------

def is_plain_chain(net: nn.Module) -> bool:
    """Whether ``net`` is a plain chain: an ``nn.Sequential`` whose forward runs its children in
    registration order on the input itself (``nn.Sequential.forward``, or a gan-viz DCGAN D,
    which only flattens the score after). Then running the children up to a layer is its output."""
    if not isinstance(net, nn.Sequential):
        return False
    return type(net).forward is nn.Sequential.forward or type(net) is DCGANDiscriminator


class _Reached(Exception):
    """Raised by :func:`forward_to`'s hook to stop the forward once the layer has run."""


def forward_to(net: nn.Module, layer: str, x: torch.Tensor, stop: bool = True,
               fast: bool = True) -> torch.Tensor:
    """The output of ``layer`` (a dotted name) when ``net`` runs its own forward on ``x``.

    A forward hook on the layer captures its output (its first call, if it runs several
    times); with ``stop`` the hook ends the forward there. With ``fast`` and a plain chain
    (:func:`is_plain_chain`) whose child ``layer`` is, the children run in order instead:
    the same tensor without hooks.

    Raises:
        UserError: the layer does not exist, or the forward never calls it.
    """
    if fast and is_plain_chain(net) and layer in net._modules:
        for name, m in net.named_children():
            x = m(x)
            if name == layer:
                return x
    module = resolve_layer(net, layer)
    got: list = []

    def hook(_m, _inp, out):
        if not got:
            got.append(out)
            if stop:
                raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        net(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not got:
        raise UserError(f"layer {layer!r} is never called by {type(net).__name__}.forward; choose a layer "
                        "that `gan-viz layers` lists with a shape")
    return got[0]


def probe_shape(net: nn.Module) -> tuple[int, int, int]:
    """The image shape (C, H, W) a discriminator takes: its config's, else the first that gives one score per image."""
    cfg = getattr(net, "config", None)
    if cfg is not None and hasattr(cfg, "image_size"):
        return (cfg.nc, cfg.image_size, cfg.image_size)
    p = next(iter(net.parameters()), None)
    device, dtype = (p.device, p.dtype) if p is not None else ("cpu", torch.float32)
    with evaluating(net), torch.no_grad():
        for size in _PROBE_SIZES:
            for c in (3, 1):
                try:
                    out = net(torch.zeros(2, c, size, size, device=device, dtype=dtype))
                except Exception:  # the user's model rejects this shape: try the next
                    continue
                if isinstance(out, torch.Tensor) and out.numel() == 2:
                    return (c, size, size)
    raise UserError("could not find the image shape this discriminator takes; give the subject's image_shape")


@dataclass(frozen=True)
class Call:
    """One module call in a traced forward: its dotted name, module, input and output autograd nodes."""

    name: str
    module: nn.Module
    inputs: tuple  # grad_fn of each tensor input (None for the network's input)
    output: object  # grad_fn of the output
    shape: tuple  # output shape, batch included


def trace(net: nn.Module, x: torch.Tensor) -> list[Call]:
    """Every module call of ``net``'s forward on ``x`` (eval mode), in the order the calls end."""
    calls: list[Call] = []
    pending: dict[int, list] = {}
    handles = []

    def pre(m, inp):
        pending.setdefault(id(m), []).append(tuple(t.grad_fn for t in inp if isinstance(t, torch.Tensor)))

    def post(name):
        def hook(m, _inp, out):
            t = out if isinstance(out, torch.Tensor) else next((o for o in out if isinstance(o, torch.Tensor)), None) \
                if isinstance(out, (tuple, list)) else None
            ins = pending[id(m)].pop()
            if t is not None:
                calls.append(Call(name, m, ins, t.grad_fn, tuple(t.shape)))
        return hook

    try:
        for name, m in net.named_modules():
            if name:
                handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post(name))]
        with evaluating(net), torch.enable_grad():
            net(x.detach().clone().requires_grad_(True))
    finally:
        for h in handles:
            h.remove()
    return calls


def _producer(calls: Sequence[Call], start: Sequence, skip: nn.Module) -> Call | None:
    """The module call whose output the autograd nodes ``start`` are computed from, nearest first
    (through reshapes and functional ops; pass-through modules such as Flatten are looked through).
    Where several modules give the same tensor (a container and its last layer) the rectifier wins,
    then the innermost, then the last called."""
    by_node: dict = {}
    for i, c in enumerate(calls):
        if c.output is not None and c.module is not skip:
            by_node.setdefault(c.output, []).append((i, c))
    seen, queue = set(), [n for n in start if n is not None]
    while queue:
        node = queue.pop(0)
        if node in seen:
            continue
        seen.add(node)
        hits = by_node.get(node)
        if hits:
            _, best = max(hits, key=lambda h: (isinstance(h[1].module, RECTIFIERS), h[1].name.count("."), h[0]))
            if not isinstance(best.module, PASS_THROUGH):
                return best
        queue += [n for n, _ in node.next_functions if n is not None]
    return None


# --- layers ---------------------------------------------------------------------------

def conv_layers(net: nn.Module) -> list[str]:
    """Dotted names of the layers (leaf modules, registration order) whose output is a convolutional
    feature map: a (transposed) convolution, or a norm / rectifier / upsampling / pooling after one
    (not a Sigmoid, Tanh, Flatten or Linear)."""
    names, in_block = [], False
    for name, m in net.named_modules():
        if not name or next(m.children(), None) is not None:
            continue
        if isinstance(m, CONVS):
            in_block = True
        elif not isinstance(m, MAP_KINDS):
            in_block = False
        if in_block:
            names.append(name)
    return names


def default_layer(net: nn.Module, image_shape: Sequence[int] | None = None) -> str:
    """The last conv block's activation before D's head, found from the graph of one forward pass:
    the module whose output feeds the last convolution or Linear layer called (``lrelu4`` in a
    64x64 gan-viz D, ``main.10`` in a PyTorch examples one, ``features.7`` for a critic with a Linear head).

    Args:
        image_shape: (C, H, W) of D's input (default: from ``net.config``, else probed).
    """
    shape = tuple(image_shape) if image_shape is not None else probe_shape(net)
    p = next(iter(net.parameters()), None)
    x = torch.zeros(2, *shape) if p is None else torch.zeros(2, *shape, device=p.device, dtype=p.dtype)
    calls = trace(net, x)
    heads = [c for c in calls if isinstance(c.module, CONVS + (nn.Linear,))]
    feed = _producer(calls, heads[-1].inputs, heads[-1].module) if heads else None
    convs_before = feed is not None and any(isinstance(c.module, CONVS) for c in calls[:calls.index(feed) + 1])
    if not convs_before or len(feed.shape) != 4:
        raise UserError("this discriminator has fewer than two convolution layers (an MLP?) or no convolutional "
                        "features feed its head; guided backprop of conv filters needs a convolutional "
                        "discriminator (or name a layer with --layer)")
    return feed.name


def check_layer(net: nn.Module, name: str | None, tag: str = "D", input_shape: Sequence[int] | None = None) -> str:
    """The dotted name of ``name`` without its prefix (``"lrelu3"`` for ``"D.lrelu3"``, ``"features.7"``
    for ``"D.features.7"``); default: :func:`default_layer`.

    A layer is convolutional when :func:`conv_layers` lists it, or (a container or a module of
    the user's own kind) when its output on ``input_shape`` (D: the image shape, probed when
    not given) is a 4-D feature map and it is not a squashing output (Sigmoid, Tanh).

    Raises:
        UserError: the other network's prefix, an unknown name (with close matches), or a layer that
        is not convolutional (with the valid ones).
    """
    if name is None:
        return default_layer(net, input_shape)
    other = "G" if tag == "D" else "D"
    if name.startswith(other + "."):
        raise UserError(f"layer {name}: this analysis reads {tag}; give a {tag} layer ({tag}.NAME)")
    module = resolve_layer(net, name, tag)
    short = name[len(tag) + 1:] if name.startswith(tag + ".") else name
    valid = conv_layers(net)
    if short in valid or _gives_map(net, short, module, tag, input_shape):
        return short
    listed = ", ".join(f"{tag}.{n}" for n in valid[:40]) + (", ..." if len(valid) > 40 else "")
    raise UserError(f"layer {tag}.{short} is not convolutional ({type(module).__name__}); choose one of {listed}")


def _gives_map(net: nn.Module, name: str, module: nn.Module, tag: str, input_shape) -> bool:
    if isinstance(module, SQUASH + CONVS + MAP_KINDS + (nn.Linear, nn.Flatten)):
        return False  # known kinds are judged by conv_layers
    if input_shape is None and tag != "D":
        return False
    shape = tuple(input_shape) if input_shape is not None else probe_shape(net)
    with evaluating(net), torch.no_grad():
        p = next(iter(net.parameters()), None)
        x = torch.zeros(1, *shape) if p is None else torch.zeros(1, *shape, device=p.device, dtype=p.dtype)
        try:
            out = forward_to(net, name, x)
        except UserError:
            return False
    return isinstance(out, torch.Tensor) and out.dim() == 4


@torch.no_grad()
def layer_channels(net: nn.Module, layer: str, image_shape: Sequence[int]) -> int:
    """Number of filters (channels) of ``layer`` for inputs of ``image_shape`` (C, H, W)."""
    with evaluating(net):
        p = next(net.parameters())
        return int(forward_to(net, layer, torch.zeros(1, *image_shape, device=p.device, dtype=p.dtype)).shape[1])


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
