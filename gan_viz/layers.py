"""Layers of any network, one engine for every analysis, the explorer and ``gan-viz layers``.

What this owns:

- **module kinds**: one definition of a convolution, a normalisation, a rectifier and an
  upsampling layer (:func:`kind_of`). Before, four lists in three analyses disagreed.
- **addresses**: a layer is its dotted ``named_modules()`` name (``conv3``, ``main.10``,
  ``blocks.2.act``; ``G.``/``D.`` prefix optional). A module that one forward calls more than
  once (one activation module shared by every block) has one address per call, ``NAME#k``
  (the k-th call, from 0). A bare name of such a module is refused with the list of its calls,
  everywhere: probing, capturing, ablating and editing all read or change the same call.
- **the tracer** (:func:`trace`): every module call of one real forward pass, in the order the
  calls end, with its address and output shape (and, on request, the autograd nodes that tie
  a call's output to the next call's input).
- **the layer an analysis reads** (:func:`default_layer`, :func:`check_layer`) for a role:
  ``"G"`` (forget and the explorer's edits: the second-highest convolution's block output)
  or ``"D"`` (guided backprop and the explorer's D units: the last conv block feeding D's head).
- **plain chains** (:func:`tail_after`, :func:`is_plain_chain`): where replaying a container's
  children in order is what its own ``forward`` computes.

>>> from torch import nn
>>> kind_of(nn.ReLU6()), kind_of(nn.ConvTranspose2d(4, 4, 2)), kind_of(nn.Tanh())
('rectifier', 'conv', None)
>>> split_address("G.blocks.2.act#1", "G")
('blocks.2.act', 1)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .errors import UserError
from .sources import evaluating

CONVS = (nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)
RECTIFIERS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6)
UPSAMPLING = (nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, nn.PixelShuffle)
KINDS = {"conv": CONVS, "norm": NORMS, "rectifier": RECTIFIERS, "upsampling": UPSAMPLING}
# leaf modules that keep a convolutional feature map a feature map (not Sigmoid, Tanh, Flatten, Linear)
MAP_KINDS = NORMS + RECTIFIERS + (nn.Upsample, nn.Identity, nn.Dropout, nn.Dropout2d, nn.AvgPool2d, nn.MaxPool2d)
PASS_THROUGH = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout2d)  # reshapes, no new values
SQUASH = (nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax)
BLOCK = NORMS + RECTIFIERS  # inside a conv block
ROLES = ("G", "D")
_PROBE_SIZES = (64, 32, 128, 28, 16, 256)


def kind_of(module: nn.Module) -> str | None:
    """"conv", "norm", "rectifier", "upsampling", or None for any other module."""
    for name, types in KINDS.items():
        if isinstance(module, types):
            return name
    return None


# --- addresses ----------------------------------------------------------------------------

def layer_names(net: nn.Module) -> list[str]:
    """Every submodule's dotted ``named_modules()`` name, in registration order."""
    return [name for name, _ in net.named_modules() if name]


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) + 1:] if prefix and name.startswith(prefix + ".") else name


def split_address(address: str, prefix: str = "") -> tuple[str, int | None]:
    """``"G.act#2"`` -> ``("act", 2)``; a bare name -> ``(name, None)``."""
    short = _strip(address, prefix)
    if "#" not in short:
        return short, None
    name, _, k = short.rpartition("#")
    if not k.isdigit() or not name:
        raise UserError(f"layer {address!r}: write NAME#k with k a call number from 0 (e.g. act#1, the second "
                        "call); `gan-viz layers` lists the calls")
    return name, int(k)


def resolve_layer(net: nn.Module, name: str, prefix: str = "") -> nn.Module:
    """The submodule an address names (``"conv3"``, ``"blocks.2.act"``, ``"G.act#1"`` with ``prefix="G"``).

    Raises:
        UserError: naming the closest valid names (and how to list them all).
    """
    short, _ = split_address(name, prefix)
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


# --- the tracer ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One module call of a traced forward pass."""

    name: str  # dotted module name
    index: int  # which call of this module (0: its first)
    count: int  # how many times the forward called this module
    module: nn.Module
    shape: tuple  # output shape without the batch dimension
    inputs: tuple = ()  # grad_fn of each tensor input (traced with graph=True)
    output: object = None  # grad_fn of the output (graph=True)

    @property
    def address(self) -> str:
        """``name``, or ``name#index`` for a module called more than once."""
        return self.name if self.count == 1 else f"{self.name}#{self.index}"


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None


def trace(net: nn.Module, x: torch.Tensor, graph: bool = False) -> list[Call]:
    """Every module call of ``net``'s own forward on ``x`` (eval mode), in the order the calls end
    (a container after its layers). Calls whose output holds no tensor are left out. With
    ``graph`` the forward runs with autograd on a copy of ``x`` and each call keeps the nodes of
    its inputs and output (to follow which call feeds which)."""
    raw: list = []
    pending: dict[int, list] = {}
    counts: dict[str, int] = {}
    handles = []

    def pre(m, inp):
        pending.setdefault(id(m), []).append(tuple(t.grad_fn for t in inp if isinstance(t, torch.Tensor)))

    def post(name):
        def hook(m, _inp, out):
            ins = pending[id(m)].pop() if graph else ()
            k = counts.get(name, 0)
            counts[name] = k + 1
            t = _first_tensor(out)
            if t is not None:
                raw.append((name, k, m, tuple(t.shape[1:]), ins, t.grad_fn if graph else None))
        return hook

    try:
        for name, m in net.named_modules():
            if name:
                if graph:
                    handles.append(m.register_forward_pre_hook(pre))
                handles.append(m.register_forward_hook(post(name)))
        with evaluating(net):
            if graph:
                with torch.enable_grad():
                    net(x.detach().clone().requires_grad_(True))
            else:
                with torch.no_grad():
                    net(x)
    finally:
        for h in handles:
            h.remove()
    return [Call(n, k, counts[n], m, s, i, o) for n, k, m, s, i, o in raw]


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


def probe_input(net, role: str, shape: Sequence[int] | int | None = None) -> tuple[nn.Module, torch.Tensor]:
    """(the network module, two zero inputs as its forward takes them) for ``role`` "G" or "D".

    ``net``: a Subject (which knows its z and image shapes) or a module; ``shape``: a module's
    input shape without the batch (G: nz or the whole z shape, default its config's nz; D: (C, H, W),
    default probed)."""
    if role not in ROLES:
        raise ValueError(f"role must be 'G' or 'D', not {role!r}")
    if hasattr(net, "require") and hasattr(net, "generator_fn"):  # a Subject
        module = net.require(role)
        x = net.as_input(torch.zeros(2, net.nz)) if role == "G" else torch.zeros(2, *net.image_shape)
    else:
        module = net
        if role == "D":
            x = torch.zeros(2, *(tuple(shape) if shape is not None else probe_shape(net)))
        else:
            nz = shape if shape is not None else getattr(getattr(net, "config", None), "nz", None)
            if nz is None:
                raise UserError(f"{type(net).__name__} has no config: give nz (its latent size) or pass a Subject")
            x = torch.zeros(2, *((nz,) if isinstance(nz, int) else tuple(nz)))
    p = next(iter(module.parameters()), None)
    return module, (x if p is None else x.to(device=p.device, dtype=p.dtype))


# --- which layer an analysis reads ----------------------------------------------------------

def _leaves(calls: list[Call]) -> list[Call]:
    return [c for c in calls if next(c.module.children(), None) is None]


def _default_g(calls: list[Call]) -> str:
    leaves = _leaves(calls)
    convs = [i for i, c in enumerate(leaves) if isinstance(c.module, CONVS)]
    if len(convs) < 2:
        raise UserError("this generator has fewer than two convolution layers (an MLP GAN?); "
                        "forgetting filters needs a convolutional generator")
    last = convs[-2]
    for i in range(convs[-2] + 1, convs[-1]):
        if isinstance(leaves[i].module, BLOCK):
            last = i  # stay inside the block: stop before an Upsample or the next conv
        else:
            break
    return leaves[last].address


def _producer(calls: Sequence[Call], start: Sequence, skip: nn.Module) -> Call | None:
    """The call whose output the autograd nodes ``start`` are computed from, nearest first
    (through reshapes and functional ops; pass-through modules such as Flatten are looked through).
    Where several calls give the same tensor (a container and its last layer) the rectifier wins,
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


def _default_d(calls: list[Call]) -> str:
    heads = [c for c in calls if isinstance(c.module, CONVS + (nn.Linear,))]
    feed = _producer(calls, heads[-1].inputs, heads[-1].module) if heads else None
    convs_before = feed is not None and any(isinstance(c.module, CONVS) for c in calls[:calls.index(feed) + 1])
    if not convs_before or len(feed.shape) != 3:
        raise UserError("this discriminator has fewer than two convolution layers (an MLP?) or no convolutional "
                        "features feed its head; guided backprop of conv filters needs a convolutional "
                        "discriminator (or name a layer with --layer)")
    return feed.address


def default_layer(net, role: str, shape: Sequence[int] | int | None = None) -> str:
    """The address of the layer an analysis reads by default, found from one traced forward:

    - ``"G"``: the second-highest convolution's block output, after its BN and ReLU (``relu3`` at
      32x32, ``main.8`` in a PyTorch examples G, ``blocks.2.act`` for nested blocks): the feature
      maps as the next layer reads them, where removing a filter removes it.
    - ``"D"``: the module whose output feeds the last convolution or Linear layer called (``lrelu4``
      in a 64x64 gan-viz D, ``main.10`` in a PyTorch examples one, ``features.7`` for a critic).

    ``net``: a module or a Subject; ``shape``: see :func:`probe_input`.

    Raises:
        UserError: a network without such a layer (an MLP).
    """
    module, x = probe_input(net, role, shape)
    if role == "G":
        return _default_g(trace(module, x))
    return _default_d(trace(module, x, graph=True))


def conv_layers(net: nn.Module) -> list[str]:
    """Dotted names of the leaf modules (registration order) whose output is a convolutional feature
    map: a (transposed) convolution, or a norm / rectifier / upsampling / pooling after one."""
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


def calls_of(calls: list[Call], net: nn.Module, address: str, role: str) -> Call:
    """The traced call an address names, or UserError: never called, a bare name of a module called
    more than once (listing its calls), or a call number past the last call."""
    short, k = split_address(address, role)
    mine = [c for c in calls if c.name == short]
    if not mine:
        raise UserError(f"layer {role}.{short} is never called by {type(net).__name__}.forward; choose a layer "
                        "that `gan-viz layers` lists with a shape")
    if k is None and len(mine) > 1:
        raise UserError(f"layer {role}.{short} is called {len(mine)} times by the forward; address one call: "
                        + ", ".join(f"{role}.{c.address}" for c in mine))
    if k is not None and k >= len(mine):
        raise UserError(f"layer {role}.{short}#{k}: the forward calls it {len(mine)} time(s) "
                        f"({', '.join(f'{role}.{c.name}#{c.index}' for c in mine)})")
    return mine[k or 0]


def _check_g(module, calls, call) -> None:
    _default_g(calls)  # refuses a generator without two convolutions (an MLP), as forget needs them
    last_conv = max(i for i, c in enumerate(calls) if isinstance(c.module, CONVS))
    if len(call.shape) != 3 or calls.index(call) >= last_conv:
        raise UserError(f"layer G.{call.address} has output shape {call.shape}, not hidden feature maps (C, H, W); "
                        "choose a hidden conv layer (see gan-viz layers)")


def _check_d(module, calls, call) -> None:
    valid = conv_layers(module)
    known = isinstance(call.module, SQUASH + CONVS + MAP_KINDS + (nn.Linear, nn.Flatten))
    if call.name in valid or (not known and len(call.shape) == 3):
        return
    listed = ", ".join(f"D.{n}" for n in valid[:40]) + (", ..." if len(valid) > 40 else "")
    raise UserError(f"layer D.{call.address} is not convolutional ({type(call.module).__name__}); "
                    f"choose one of {listed}")


def check_layer(net, name: str | None, role: str, shape: Sequence[int] | int | None = None) -> tuple[str, tuple]:
    """(address without the role prefix, output shape (C, h, w)) of the layer ``name`` names for ``role``;
    default :func:`default_layer`. Addresses are canonical: ``act#0`` of a module called once is ``act``.

    A G layer must give hidden feature maps (before G's last convolution); a D layer must be
    convolutional (a conv or a norm / rectifier / pooling after one, or a module of the user's own
    kind whose output is a feature map).

    Raises:
        UserError: the other network's prefix, an unknown name (with close matches), a module the
        forward never calls, an ambiguous bare name (with its calls), or a layer of the wrong kind.
    """
    module, x = probe_input(net, role, shape)
    calls = trace(module, x, graph=role == "D" and name is None)  # one forward serves the default and the check
    if name is None:
        name = _default_g(calls) if role == "G" else _default_d(calls)
    other = "D" if role == "G" else "G"
    if name.startswith(other + "."):
        what = "edits the generator" if role == "G" else "reads the discriminator"
        raise UserError(f"layer {name}: this analysis {what}; give a {role} layer ({role}.NAME, see gan-viz layers)")
    resolve_layer(module, name, role)
    call = calls_of(calls, module, name, role)
    (_check_g if role == "G" else _check_d)(module, calls, call)
    return call.address, call.shape


# --- plain chains -------------------------------------------------------------------------

def is_plain_chain(net: nn.Module) -> bool:
    """Whether running ``net``'s children in order on the input gives each child's output as
    ``net``'s own forward computes it: an ``nn.Sequential`` with ``nn.Sequential.forward``, or one
    whose class says ``chain_before_output = True`` (it only reshapes the chain's output: gan-viz's D)."""
    return isinstance(net, nn.Sequential) and (type(net).forward is nn.Sequential.forward
                                               or getattr(type(net), "chain_before_output", False) is True)


def tail_after(net: nn.Module, layer: str) -> nn.Module | None:
    """``net``'s children after its child ``layer`` as one module (that layer's output -> the
    network's output), or None where that would not be what ``net`` computes: ``net`` is not a
    plain chain (its class runs its own ``forward``, even as an ``nn.Sequential`` subclass) or
    ``layer`` is not one of its direct children. Callers then edit through a hook on ``net``'s
    own forward. A class whose ``forward`` only reshapes its input before the chain says so with
    ``chain_after_input = True`` (gan-viz's generators: z (N, nz) -> (N, nz, 1, 1))."""
    names = [n for n, _ in net.named_children()]
    plain = type(net).forward is nn.Sequential.forward or getattr(type(net), "chain_after_input", False) is True
    if not isinstance(net, nn.Sequential) or not plain or layer not in names:
        return None
    return nn.Sequential(*list(net.children())[names.index(layer) + 1:])

