"""Generator and discriminator builders.

Every network is an ``nn.Sequential`` with readable, stable child names
(``conv1``, ``bn1``, ``relu1``, ...); those names are what ``gan-viz layers`` prints
and what ``--layer`` takes (optionally prefixed with ``G.`` or ``D.``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator


def build_generator(cfg: ModelConfig) -> nn.Module:
    net = DCGANGenerator(cfg) if cfg.arch == "dcgan" else MLPGenerator(cfg)
    init_weights(net)
    return net


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    net = DCGANDiscriminator(cfg) if cfg.arch == "dcgan" else MLPDiscriminator(cfg)
    init_weights(net)
    return net


@torch.no_grad()
def init_weights(net: nn.Module, generator: torch.Generator | None = None) -> None:
    """The paper's init: weights N(0, 0.02); BatchNorm gamma N(1, 0.02), beta 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.normal_(0.0, 0.02, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, 0.02, generator=generator)
            m.bias.zero_()


def random_network(cfg: ModelConfig, net: str, seed: int) -> nn.Module:
    """The random-filter baseline of a gan-viz G or D (``net`` "G" or "D"): the network of ``cfg``
    with the paper's init from ``torch.Generator(seed)``, in eval mode. For any model,
    :meth:`gan_viz.subject.Subject.random_copy` draws the same weights for a gan-viz one."""
    if net not in ("G", "D"):
        raise ValueError(f"net must be 'G' or 'D', not {net!r}")
    model = build_generator(cfg) if net == "G" else build_discriminator(cfg)
    init_weights(model, generator=torch.Generator().manual_seed(int(seed)))
    return model.eval()


def sample_z(cfg: ModelConfig, n: int, generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """Latent codes (n, nz): uniform in [-1, 1] (paper) or standard normal (PyTorch example)."""
    if cfg.z_dist == "uniform":
        z = torch.rand(n, cfg.nz, generator=generator) * 2 - 1
    else:
        z = torch.randn(n, cfg.nz, generator=generator)
    return z.to(device)


__all__ = ["build_generator", "build_discriminator", "init_weights", "random_network", "sample_z",
           "DCGANGenerator", "DCGANDiscriminator", "MLPGenerator", "MLPDiscriminator"]
