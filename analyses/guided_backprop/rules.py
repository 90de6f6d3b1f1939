"""The backward rules of guided backprop through every rectifier module of a network.

Backward rules through every rectifier module anywhere in D (``nn.ReLU``,
``nn.LeakyReLU``, ``nn.PReLU``, ``nn.ReLU6``; the forward pass is never changed), with ``g``
the gradient arriving at the unit, ``x`` its input and ``a`` its negative slope (0.2 in a
DCGAN D, 0 for ``nn.ReLU``, learned for ``nn.PReLU``):

- ``leaky`` (default): ``max(g, 0) * (1 if x > 0 else a)``: only positive gradients
  pass (Springenberg et al. 2015), times the activation's own local slope.
- ``relu``: ``max(g, 0) * [x > 0]``: the units treated as ReLUs.
- ``plain``: the ordinary gradient, for comparison.

captum's GuidedBackprop rewires only ``nn.ReLU``: on a DCGAN discriminator (LeakyReLU
only) it silently returns the plain gradient. :func:`guided_rule` installs the rule on
every rectifier module (scoped forward hooks, removed in ``finally``).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from gan_viz.errors import UserError
from gan_viz.layers import RECTIFIERS

RULES = ("leaky", "relu", "plain")


def _guide(out: torch.Tensor, rule: str, inp: torch.Tensor | None = None) -> None:
    """Make the gradient arriving at a rectifier's output ``out`` follow ``rule``.

    A hook on ``out`` clamps the arriving gradient at 0 before the rectifier's own backward,
    which then multiplies by its local slope (1 where the input is positive, its negative
    slope elsewhere): the ``leaky`` rule. For ``relu`` the hook also zeroes the gradient
    where the rectifier's input ``inp`` (default: ``out``) is not positive, so the slope
    below 0 never applies.
    """
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return
    if rule == "leaky":
        out.register_hook(lambda g: g.clamp(min=0))
    else:
        off = (inp if isinstance(inp, torch.Tensor) else out) <= 0
        out.register_hook(lambda g: g.clamp(min=0).masked_fill_(off, 0))


def rectifiers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every rectifier module of ``net`` (:data:`gan_viz.layers.RECTIFIERS`), nested or not."""
    return [(n, m) for n, m in net.named_modules() if isinstance(m, RECTIFIERS)]


@contextlib.contextmanager
def guided_rule(net: nn.Module, rule: str = "leaky") -> Iterator[nn.Module]:
    """Apply a backward ``rule`` to every rectifier module of ``net`` during the body.

    The forward pass is unchanged (see :func:`_guide` for how the backward is). In-place
    rectifiers are switched to out-of-place for the body (autograd hooks and in-place
    outputs do not mix) and switched back afterwards; every hook is removed in ``finally``.

    Args:
        net: any module; its rectifiers may be nested anywhere.
        rule: "leaky", "relu" or "plain" (plain installs nothing).
    Raises:
        UserError: unknown rule, or a guided rule on a network without rectifier modules
        (it would silently be the plain gradient).
    """
    if rule not in RULES:
        raise UserError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    rects = [m for _, m in rectifiers(net)] if rule != "plain" else []
    if rule != "plain" and not rects:
        raise UserError(f"the network has no nn.ReLU / nn.LeakyReLU / nn.PReLU / nn.ReLU6 modules, so the {rule!r} rule "
                        "would silently be the plain gradient; use --rule plain")
    handles, switched = [], []
    try:
        for m in rects:
            if getattr(m, "inplace", False):
                m.inplace = False
                switched.append(m)
            handles.append(m.register_forward_hook(lambda _m, inp, out: _guide(out, rule, inp[0] if inp else None)))
        yield net
    finally:
        for h in handles:
            h.remove()
        for m in switched:
            m.inplace = True
