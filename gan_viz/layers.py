"""Module kinds: one definition of what counts as a convolution, a normalisation, a rectifier
and an upsampling layer, for every analysis, the explorer and ``gan-viz layers``.

Before, four lists in three analyses disagreed (``nn.ReLU6`` was a rectifier in two of them
only); every analysis now reads these.

>>> from torch import nn
>>> kind_of(nn.ReLU6()), kind_of(nn.ConvTranspose2d(4, 4, 2)), kind_of(nn.Tanh())
('rectifier', 'conv', None)
"""

from __future__ import annotations

from torch import nn

CONVS = (nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)
RECTIFIERS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6)
UPSAMPLING = (nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, nn.PixelShuffle)
KINDS = {"conv": CONVS, "norm": NORMS, "rectifier": RECTIFIERS, "upsampling": UPSAMPLING}


def kind_of(module: nn.Module) -> str | None:
    """"conv", "norm", "rectifier", "upsampling", or None for any other module."""
    for name, types in KINDS.items():
        if isinstance(module, types):
            return name
    return None


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
