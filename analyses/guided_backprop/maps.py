"""Guided-backprop maps of single units of a D layer, every batch row its own unit.

:func:`~.rules.guided_rule` installs the backward rule on every rectifier module and captum's
``NeuronGuidedBackprop`` (``NeuronGradient`` for the plain rule) then computes the maps. On a
DCGAN-style D each row runs on its unit's receptive cone alone (:class:`gan_viz.units.UnitCone`).
A D whose rectifiers are functional calls (``F.leaky_relu`` in ``forward``) cannot be guided:
:func:`check_guidable` refuses it rather than return the plain gradient.

Example:
    >>> D = build_discriminator(ModelConfig(image_size=16, ndf=8)).eval()
    >>> layer = default_layer(D, "D")                  # "lrelu2": read after BN + LeakyReLU
    >>> maps = guided_maps(D, layer, x, filters, positions)  # (R, C, H, W), one unit per row
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn
from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.hooks import forward_to
from gan_viz.layers import resolve_layer
from gan_viz.sources import evaluating
from gan_viz.units import UnitCone, cone_windows, place_windows, receptive_chain

from .rules import guided_rule, rectifiers


def _attribution(net: nn.Module, layer: str, rule: str):
    from captum.attr import NeuronGradient, NeuronGuidedBackprop

    module = resolve_layer(net, layer, "D")
    return NeuronGradient(net, module) if rule == "plain" else NeuronGuidedBackprop(net, module)


def _unit_maps(attr, x: torch.Tensor, f: torch.Tensor, i: torch.Tensor, j: torch.Tensor,
               extra: tuple | None = None) -> torch.Tensor:
    """One captum call: row r's map is d out[r, f[r], i[r], j[r]] / d x[r]."""
    x = x.detach().clone().requires_grad_(True)
    rows = torch.arange(len(x), device=x.device)
    f, i, j = (t.to(x.device) for t in (f, i, j))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        return attr.attribute(x, neuron_selector=lambda out: out[rows, f, i, j],
                              additional_forward_args=extra).detach()


def guided_maps(net: nn.Module, layer: str, images: torch.Tensor, filters: torch.Tensor, positions: torch.Tensor,
                rule: str = "leaky", batch_size: int = 256, device: torch.device | str = "cpu",
                progress: bool = True, cone: bool = True) -> torch.Tensor:
    """Guided backprop of one unit per row, all rows batched (``batch_size`` rows per backward pass).

    With ``cone`` (default) and a DCGAN-style D (see :func:`~gan_viz.units.receptive_chain`)
    each row is computed on its unit's cone alone (:class:`~gan_viz.units.UnitCone`):
    the same maps (zero outside the receptive field) for a small part of the work.
    Otherwise (any other D: nested blocks, a Linear head) every row runs on the whole image
    through the model's own forward, the layer's output taken by a hook.

    Args:
        images: (R, C, H, W) inputs. filters: (R,) channel of each row's unit.
        positions: (R, 2) row/col of the unit in the layer's (h, w) map.
    Returns:
        (R, C, H, W) float32 maps on the CPU: d layer[r, filters[r], i, j] / d images[r].
    """
    out = torch.zeros(images.shape, dtype=torch.float32)
    with evaluating(net), guided_rule(net, rule):
        net.to(device)
        chain = receptive_chain(net, layer) if cone else None
        unit = UnitCone(*chain, images.shape[-2:]) if chain else None
        attr = _attribution(unit if unit is not None else net, layer, rule)
        batches = [slice(s, min(len(images), s + batch_size)) for s in range(0, len(images), batch_size)]
        for rows in tqdm(batches, desc=f"guided backprop ({rule})", unit="batch", leave=False, disable=not progress):
            f, pos = filters[rows], positions[rows]
            if unit is None:
                out[rows] = _unit_maps(attr, images[rows].to(device), f, pos[:, 0], pos[:, 1]).float().cpu()
                continue
            x, where = cone_windows(images[rows], unit.input_start(pos), unit.window)
            zero = torch.zeros_like(f)
            maps = _unit_maps(attr, x.to(device), f, zero, zero, (pos.to(device),)).cpu()
            place_windows(maps, where, images.shape, out=out[rows])  # each window into its row of zeros
    return out


def guided_maps_per_filter(net: nn.Module, layer: str, images: torch.Tensor, filters: torch.Tensor,
                           positions: torch.Tensor, rule: str = "leaky",
                           device: torch.device | str = "cpu") -> torch.Tensor:
    """The same maps as :func:`guided_maps` with one captum call per filter (the reference loop)."""
    out = torch.empty(images.shape, dtype=torch.float32)
    attr = _attribution(net, layer, rule)
    with evaluating(net), guided_rule(net, rule):
        net.to(device)
        for f in torch.unique(filters).tolist():
            rows = (filters == f).nonzero().squeeze(1)
            out[rows] = _unit_maps(attr, images[rows].to(device), filters[rows], positions[rows, 0],
                                   positions[rows, 1]).float().cpu()
    return out


def check_guidable(net: nn.Module, layer: str, image_shape: Sequence[int], rule: str = "leaky") -> None:
    """Refuse a guided ``rule`` that would silently give the plain gradient of ``layer``.

    Checks that ``net`` has rectifier modules, that one of them runs in its forward before
    ``layer``, and that on a probe input (two seeded random images, up to four filters at
    the map's centre) the guided maps differ from the plain gradient.

    Raises:
        UserError: saying which of the three failed (functional activations such as
        ``F.leaky_relu`` in ``forward`` are invisible to the rule).
    """
    if rule == "plain":
        return
    what = f"D ({type(net).__name__})"
    if not rectifiers(net):
        raise UserError(f"{what} has no rectifier module (nn.ReLU / nn.LeakyReLU / nn.PReLU): its activations "
                        f"are functional calls in forward (e.g. F.leaky_relu), which the {rule!r} rule cannot "
                        "reach, so its maps would be the plain gradient; make them modules or use --rule plain")
    p = next(iter(net.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    x = (torch.rand(2, *image_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    ran: list = []
    handles = [m.register_forward_hook(lambda *_: ran.append(1)) for _, m in rectifiers(net)]
    try:
        with evaluating(net), torch.no_grad():
            a = forward_to(net, layer, x, fast=False)  # (2, C, h, w)
    finally:
        for h in handles:
            h.remove()
    if not ran:
        raise UserError(f"no rectifier module of {what} runs before D.{layer} (functional activations in forward?), "
                        f"so the {rule!r} rule would give the plain gradient; name a deeper layer or use --rule plain")
    c, h, w = a.shape[1:]
    f = torch.arange(min(4, c)).repeat(2)
    rows = torch.arange(2).repeat_interleave(min(4, c))
    pos = torch.tensor([[h // 2, w // 2]]).expand(len(f), 2)
    guided = guided_maps(net, layer, x[rows].cpu(), f, pos, rule, device=device, progress=False, cone=False)
    plain = guided_maps(net, layer, x[rows].cpu(), f, pos, "plain", device=device, progress=False, cone=False)
    scale = float(plain.abs().max())
    if scale > 0 and float((guided - plain).abs().max()) <= 1e-6 * scale:
        raise UserError(f"the {rule!r} rule gives the plain gradient of D.{layer} on a probe input: no rectifier "
                        "module between the input and that layer changes it (functional activations in forward, "
                        "or the first rectifier); name a deeper layer or use --rule plain")
