"""Scoped hooks on addressed layers: read, stop at or rewrite one call of a layer, always removed.

Layers are addressed as :mod:`gan_viz.layers` defines (``G.conv3``, ``D.lrelu4``, ``blocks.2.act``;
``NAME#k`` for the k-th call of a module the forward calls more than once). Every hook here acts
on exactly the addressed call: a bare name of a module that one forward calls twice is refused
(with the calls to choose from) instead of silently reading its first or last call or editing
every call. Every hook lives in a context manager and is removed in ``finally``, also when the
body raises.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from .errors import UserError
from .layers import is_plain_chain, layer_names, resolve_layer, split_address, trace


@contextlib.contextmanager
def on_call(net: nn.Module, address: str, fn: Callable, prefix: str = "") -> Iterator[None]:
    """Run ``fn(output)`` on the addressed call of a layer during the body (``fn`` may return a
    replacement output). ``NAME#k`` acts on the k-th call of each forward of ``net``; a bare
    ``NAME`` on its only call, and a forward of ``net`` that calls it a second time raises UserError.
    Calls are counted per forward of ``net`` (its pre-hook resets the count); a module run outside
    ``net``'s forward (a replayed chain) is acted on at every call."""
    short, k = split_address(address, prefix)
    module = resolve_layer(net, address, prefix)
    state = {"calls": 0, "root": False}

    def start(_m, _inp):
        state["calls"], state["root"] = 0, True

    def hook(_m, _inp, out):
        i = state["calls"]
        state["calls"] += 1
        if k is None:
            if state["root"] and i >= 1:
                p = f"{prefix}." if prefix else ""
                raise UserError(f"layer {p}{short} is called more than once by the forward; address one call "
                                f"as {p}{short}#0, {p}{short}#1, ... (`gan-viz layers` lists them)")
            return fn(out)
        return fn(out) if (i == k or not state["root"]) else None

    handles = [net.register_forward_pre_hook(start)] if module is not net else []
    handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture(net: nn.Module, names: Sequence[str], prefix: str = "", detach: bool = True) -> Iterator[dict]:
    """Retain the outputs of the addressed layers during the body: ``{address: tensor}``.

    Example:
        >>> with capture(G, ["conv4"]) as acts:
        ...     G(z)
        >>> acts["conv4"].shape  # (N, C, H, W)
    """
    acts: dict[str, torch.Tensor] = {}
    with contextlib.ExitStack() as stack:
        for n in names:
            def keep(out, key=n):
                acts[key] = out.detach() if detach and isinstance(out, torch.Tensor) else out

            stack.enter_context(on_call(net, n, keep, prefix))
        yield acts


def edit(x: torch.Tensor, ablation: torch.Tensor | float, replacement: torch.Tensor | float = 0.0) -> torch.Tensor:
    """The edit rule ``x * (1 - a) + r * a`` (``a``, ``r`` broadcast against ``x``; see :func:`edit_layer`)."""
    a = torch.as_tensor(ablation, dtype=x.dtype, device=x.device)
    r = torch.as_tensor(replacement, dtype=x.dtype, device=x.device)
    return x * (1 - a) + r * a


@contextlib.contextmanager
def edit_layer(net: nn.Module, name: str, ablation: torch.Tensor | float,
               replacement: torch.Tensor | float = 0.0, prefix: str = "") -> Iterator[nn.Module]:
    """Rewrite the addressed call's output as ``x * (1 - a) + r * a`` during the body.

    ``ablation`` broadcasts against the output (N, C, H, W): a per-channel vector of 0/1
    shaped (C, 1, 1) zeroes those filters (with ``replacement=0``), a replacement of
    per-channel means gives mean-ablation, and a (1, H, W) mask edits a region. The model
    is unchanged after the body, also when the body raises.
    """
    with on_call(net, name, lambda out: edit(out, ablation, replacement), prefix):
        yield net


class _Reached(Exception):
    """Raised by :func:`forward_to`'s hook to stop the forward once the layer has run."""


def forward_to(net: nn.Module, layer: str, x: torch.Tensor, stop: bool = True, fast: bool = True) -> torch.Tensor:
    """The output of the addressed call of ``layer`` when ``net`` runs its own forward on ``x``.

    With ``stop`` the forward ends there. With ``fast`` and a plain chain
    (:func:`gan_viz.layers.is_plain_chain`) whose direct child ``layer`` is, the children run in
    order instead: the same tensor without hooks.

    Raises:
        UserError: the layer does not exist, or the forward never calls it.
    """
    if fast and is_plain_chain(net) and layer in net._modules:
        for name, m in net.named_children():
            x = m(x)
            if name == layer:
                return x
    got: list = []

    def keep(out):
        if not got:
            got.append(out)
            if stop:
                raise _Reached

    try:
        with on_call(net, layer, keep):
            net(x)
    except _Reached:
        pass
    if not got:
        raise UserError(f"layer {layer!r} is never called by {type(net).__name__}.forward; choose a layer "
                        "that `gan-viz layers` lists with a shape")
    return got[0]


@dataclass(frozen=True)
class LayerInfo:
    net: str  # "G" or "D"
    name: str  # address, e.g. "conv3" or "act#1" (a module called more than once: one row per call)
    kind: str  # module class name, e.g. "ConvTranspose2d"
    shape: tuple  # output shape without the batch dimension, e.g. (256, 8, 8); () if never called
    called: bool = True  # whether the forward pass called the module

    @property
    def full_name(self) -> str:
        return f"{self.net}.{self.name}"


@torch.no_grad()
def layer_table(G: nn.Module | None, D: nn.Module | None, nz: int | Sequence[int] | None,
                image_shape: Sequence[int]) -> list[LayerInfo]:
    """Every addressable layer of G and D with its output shape, from one traced forward pass each:
    one row per module in registration order, one per call (``NAME#k``) for a module called more
    than once. ``nz``: the latent size, or the whole shape of one z as G takes it (e.g. (nz, 1, 1))."""
    rows: list[LayerInfo] = []
    z_shape = (nz,) if isinstance(nz, int) else tuple(nz or ())
    for tag, net, shape in (("G", G, z_shape), ("D", D, tuple(image_shape))):
        if net is None:
            continue
        p = next(iter(net.parameters()), None)
        x = torch.zeros(2, *shape) if p is None else torch.zeros(2, *shape, device=p.device, dtype=p.dtype)
        by_name: dict[str, list] = {}
        for c in trace(net, x):
            by_name.setdefault(c.name, []).append(c)
        mods = dict(net.named_modules())
        for n in layer_names(net):
            kind = type(mods[n]).__name__
            calls = by_name.get(n)
            if not calls:
                rows.append(LayerInfo(tag, n, kind, (), False))
            rows += [LayerInfo(tag, c.address, kind, c.shape) for c in calls or ()]
    return rows


def count_hooks(net: nn.Module) -> int:
    """Forward, pre-forward and backward hooks still attached anywhere in ``net``."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in net.modules())
