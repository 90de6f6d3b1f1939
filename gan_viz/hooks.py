"""Addressing layers by name, and scoped hooks that are always removed.

Layers are addressed by the names ``gan-viz layers`` prints: ``G.conv3``, ``D.lrelu4``
(the ``G.``/``D.`` prefix is optional where the network is implied). A wrong name raises
a :class:`UserError` listing the valid ones. Every hook lives in a context manager and is
removed in ``finally``, also when the body raises.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from .errors import UserError


def layer_names(net: nn.Module) -> list[str]:
    """Addressable layers of a network: every submodule by its dotted ``named_modules()`` name
    (``conv3`` for gan-viz models, ``main.10`` or ``blocks.2.act`` for others), in registration order."""
    return [name for name, _ in net.named_modules() if name]


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) + 1:] if prefix and name.startswith(prefix + ".") else name


def resolve_layer(net: nn.Module, name: str, prefix: str = "") -> nn.Module:
    """The submodule called ``name`` (``"conv3"``, ``"blocks.2.act"``, or ``"G.conv3"`` when ``prefix="G"``).

    Raises:
        UserError: naming the closest valid names (and how to list them all).
    """
    short = _strip(name, prefix)
    modules = dict(net.named_modules())
    modules.pop("", None)
    if short not in modules:
        p = f"{prefix}." if prefix else ""
        names = list(modules)
        close = difflib.get_close_matches(short, names, n=5, cutoff=0.5)
        if len(names) <= 12:
            hint = "valid layers are: " + ", ".join(p + n for n in names)
        else:
            hint = (f"closest: {', '.join(p + n for n in close)}; " if close else "") + \
                "`gan-viz layers` lists them all"
        raise UserError(f"unknown layer {name!r}; {hint}")
    return modules[short]


@dataclass(frozen=True)
class LayerInfo:
    net: str  # "G" or "D"
    name: str  # e.g. "conv3"
    kind: str  # module class name, e.g. "ConvTranspose2d"
    shape: tuple  # output shape without the batch dimension, e.g. (256, 8, 8); () if never called
    called: bool = True  # whether the forward pass called the module

    @property
    def full_name(self) -> str:
        return f"{self.net}.{self.name}"


@torch.no_grad()
def layer_table(G: nn.Module | None, D: nn.Module | None, nz: int | Sequence[int] | None,
                image_shape: Sequence[int]) -> list[LayerInfo]:
    """Every addressable layer of G and D with its output shape, from one forward pass.

    ``nz``: the latent size, or the whole shape of one z as G takes it (e.g. (nz, 1, 1)).
    """
    rows: list[LayerInfo] = []
    z_shape = (nz,) if isinstance(nz, int) else tuple(nz or ())
    for tag, net, shape in (("G", G, z_shape), ("D", D, tuple(image_shape))):
        if net is None:
            continue
        p = next(iter(net.parameters()), None)
        x = torch.zeros(2, *shape) if p is None else torch.zeros(2, *shape, device=p.device, dtype=p.dtype)
        with capture(net, layer_names(net)) as acts:
            was_training = net.training
            net.eval()
            try:
                net(x)
            finally:
                net.train(was_training)
        mods = dict(net.named_modules())
        rows += [LayerInfo(tag, n, type(mods[n]).__name__, _shape(acts.get(n)), n in acts) for n in layer_names(net)]
    return rows


def _shape(out) -> tuple:
    """Output shape without the batch dimension; () for a module the forward never called."""
    if isinstance(out, torch.Tensor):
        return tuple(out.shape[1:])
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return tuple(out[0].shape[1:])
    return ()


@contextlib.contextmanager
def capture(net: nn.Module, names: Sequence[str], prefix: str = "", detach: bool = True) -> Iterator[dict]:
    """Retain the outputs of the named layers during the body: ``{name: tensor}``.

    Example:
        >>> with capture(G, ["conv4"]) as acts:
        ...     G(z)
        >>> acts["conv4"].shape  # (N, C, H, W)
    """
    acts: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for n in names:
            module = resolve_layer(net, n, prefix)

            def hook(_m, _inp, out, key=n):
                acts[key] = out.detach() if detach and isinstance(out, torch.Tensor) else out

            handles.append(module.register_forward_hook(hook))
        yield acts
    finally:
        for h in handles:
            h.remove()


def edit(x: torch.Tensor, ablation: torch.Tensor | float, replacement: torch.Tensor | float = 0.0) -> torch.Tensor:
    """The edit rule ``x * (1 - a) + r * a`` (``a``, ``r`` broadcast against ``x``; see :func:`edit_layer`)."""
    a = torch.as_tensor(ablation, dtype=x.dtype, device=x.device)
    r = torch.as_tensor(replacement, dtype=x.dtype, device=x.device)
    return x * (1 - a) + r * a


@contextlib.contextmanager
def edit_layer(net: nn.Module, name: str, ablation: torch.Tensor | float,
               replacement: torch.Tensor | float = 0.0, prefix: str = "") -> Iterator[nn.Module]:
    """Rewrite a layer's output as ``x * (1 - a) + r * a`` during the body.

    ``ablation`` broadcasts against the output (N, C, H, W): a per-channel vector of 0/1
    shaped (C, 1, 1) zeroes those filters (with ``replacement=0``), a replacement of
    per-channel means gives mean-ablation, and a (1, H, W) mask edits a region. The model
    is unchanged after the body, also when the body raises.
    """
    module = resolve_layer(net, name, prefix)

    def hook(_m, _inp, out):
        return edit(out, ablation, replacement)

    handle = module.register_forward_hook(hook)
    try:
        yield net
    finally:
        handle.remove()


def count_hooks(net: nn.Module) -> int:
    """Forward, pre-forward and backward hooks still attached anywhere in ``net``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in net.modules())
