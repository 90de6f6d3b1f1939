"""Addressing layers by name, and scoped hooks that are always removed.

Layers are addressed by the names ``gan-viz layers`` prints: ``G.conv3``, ``D.lrelu4``
(the ``G.``/``D.`` prefix is optional where the network is implied). A wrong name raises
a :class:`UserError` listing the valid ones. Every hook lives in a context manager and is
removed in ``finally``, also when the body raises.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from .errors import UserError


def layer_names(net: nn.Module) -> list[str]:
    """Addressable layers of a network, in forward order (its named children)."""
    return [name for name, _ in net.named_children()]


def resolve_layer(net: nn.Module, name: str, prefix: str = "") -> nn.Module:
    """The child called ``name`` (``"conv3"`` or ``"G.conv3"`` when ``prefix="G"``)."""
    short = name
    if prefix and name.startswith(prefix + "."):
        short = name[len(prefix) + 1:]
    modules = dict(net.named_children())
    if short not in modules:
        valid = ", ".join(f"{prefix + '.' if prefix else ''}{n}" for n in modules)
        raise UserError(f"unknown layer {name!r}; valid layers are: {valid}")
    return modules[short]


@dataclass(frozen=True)
class LayerInfo:
    net: str  # "G" or "D"
    name: str  # e.g. "conv3"
    kind: str  # module class name, e.g. "ConvTranspose2d"
    shape: tuple  # output shape without the batch dimension, e.g. (256, 8, 8)

    @property
    def full_name(self) -> str:
        return f"{self.net}.{self.name}"


@torch.no_grad()
def layer_table(G: nn.Module | None, D: nn.Module | None, nz: int, image_shape: Sequence[int]) -> list[LayerInfo]:
    """Every addressable layer of G and D with its output shape, from one forward pass."""
    rows: list[LayerInfo] = []
    for tag, net, x in (("G", G, torch.zeros(2, nz)), ("D", D, torch.zeros(2, *image_shape))):
        if net is None:
            continue
        with capture(net, layer_names(net)) as acts:
            was_training = net.training
            net.eval()
            try:
                net(x)
            finally:
                net.train(was_training)
        mods = dict(net.named_children())
        rows += [LayerInfo(tag, n, type(mods[n]).__name__, tuple(acts[n].shape[1:])) for n in layer_names(net)]
    return rows


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
                acts[key] = out.detach() if detach else out

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
