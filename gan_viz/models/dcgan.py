"""DCGAN (Radford et al. 2016) for square power-of-two images from 16 to 256.

The paper's constraints, exactly: (fractionally-)strided convolutions only, no pooling,
no hidden fully connected layers, BatchNorm everywhere except the generator output and
the discriminator input, ReLU + Tanh in G, LeakyReLU(0.2) in D. Convolutions have no
bias (BatchNorm follows them), as in the PyTorch examples DCGAN, whose checkpoints map
onto these modules one to one (see ``gan_viz.checkpoint``); ``conv_bias=True`` gives
every convolution a bias, the same layout as that DCGAN built with ``bias=True``.

At 64x64 with ngf=ndf=64 (the PyTorch example)::

    G: z (N, 100, 1, 1) -conv1-> (N, 512, 4, 4) -conv2-> (N, 256, 8, 8)
       -conv3-> (N, 128, 16, 16) -conv4-> (N, 64, 32, 32) -conv5-> (N, 3, 64, 64)
    D: x (N, 3, 64, 64) -conv1-> (N, 64, 32, 32) -conv2-> (N, 128, 16, 16)
       -conv3-> (N, 256, 8, 8) -conv4-> (N, 512, 4, 4) -conv5-> (N, 1, 1, 1)
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..config import ModelConfig


def _up(cin: int, cout: int, cfg: ModelConfig) -> list[tuple[str, nn.Module]]:
    """One 2x upsampling convolution, named by the caller's index."""
    if cfg.g_upsample == "transposed":
        return [("conv", nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=cfg.conv_bias))]
    return [("up", nn.Upsample(scale_factor=2, mode="nearest")),
            ("conv", nn.Conv2d(cin, cout, 3, 1, 1, bias=cfg.conv_bias))]


class DCGANGenerator(nn.Sequential):
    """z (N, nz) or (N, nz, 1, 1) -> images (N, nc, S, S) in [-1, 1]."""

    chain_after_input = True  # forward reshapes z, then runs the chain (gan_viz.layers.tail_after)

    def __init__(self, cfg: ModelConfig):
        layers: list[tuple[str, nn.Module]] = []
        nb = cfg.n_blocks
        width = [cfg.ngf * 2 ** (nb - 1 - i) for i in range(nb)]  # e.g. 512, 256, 128, 64
        layers += [("conv1", nn.ConvTranspose2d(cfg.nz, width[0], 4, 1, 0, bias=cfg.conv_bias)),
                   ("bn1", nn.BatchNorm2d(width[0])), ("relu1", nn.ReLU())]
        for i in range(1, nb):
            layers += [(f"{n}{i + 1}", m) for n, m in _up(width[i - 1], width[i], cfg)]
            layers += [(f"bn{i + 1}", nn.BatchNorm2d(width[i])), (f"relu{i + 1}", nn.ReLU())]
        layers += [(f"{n}{nb + 1}", m) for n, m in _up(width[-1], cfg.nc, cfg)]
        layers += [("tanh", nn.Tanh())]
        super().__init__(OrderedDict(layers))
        self.config = cfg

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]  # (N, nz) -> (N, nz, 1, 1)
        return super().forward(z)


class DCGANDiscriminator(nn.Sequential):
    """images (N, nc, S, S) -> probability of real (N,). ``logits`` skips the sigmoid."""

    chain_before_output = True  # forward runs the chain, then flattens the score (gan_viz.layers.is_plain_chain)

    def __init__(self, cfg: ModelConfig):
        nb = cfg.n_blocks
        width = [cfg.ndf * 2 ** i for i in range(nb)]  # e.g. 64, 128, 256, 512
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(cfg.nc, width[0], 4, 2, 1, bias=cfg.conv_bias)),
            ("lrelu1", nn.LeakyReLU(0.2, inplace=False))]
        for i in range(1, nb):
            layers += [(f"conv{i + 1}", nn.Conv2d(width[i - 1], width[i], 4, 2, 1, bias=cfg.conv_bias)),
                       (f"bn{i + 1}", nn.BatchNorm2d(width[i])),
                       (f"lrelu{i + 1}", nn.LeakyReLU(0.2, inplace=False))]
        layers += [(f"conv{nb + 1}", nn.Conv2d(width[-1], 1, 4, 1, 0, bias=cfg.conv_bias)),
                   ("sigmoid", nn.Sigmoid())]
        super().__init__(OrderedDict(layers))
        self.config = cfg

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores (N,), for numerically safe losses (and autocast)."""
        for name, module in self.named_children():
            if name != "sigmoid":
                x = module(x)
        return x.flatten(1).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).flatten(1).squeeze(1)
