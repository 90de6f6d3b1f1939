"""The vanilla GAN of Goodfellow et al. (2014): MLP generator and discriminator.

The original used maxout and dropout in D; we use LeakyReLU(0.2) so that the same
analyses (guided backprop included) apply to both architectures.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..config import ModelConfig


class MLPGenerator(nn.Sequential):
    """z (N, nz) -> images (N, nc, S, S) in [-1, 1]."""

    chain_after_input = True  # forward flattens z, then runs the chain (gan_viz.layers.tail_after)

    def __init__(self, cfg: ModelConfig):
        h, d = cfg.mlp_hidden, cfg.nc * cfg.image_size ** 2
        super().__init__(OrderedDict([
            ("fc1", nn.Linear(cfg.nz, h)), ("relu1", nn.ReLU()),
            ("fc2", nn.Linear(h, h)), ("relu2", nn.ReLU()),
            ("fc3", nn.Linear(h, d)), ("tanh", nn.Tanh()),
            ("unflatten", nn.Unflatten(1, (cfg.nc, cfg.image_size, cfg.image_size))),
        ]))
        self.config = cfg

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(z.flatten(1))  # (N, nz, 1, 1) is accepted too


class MLPDiscriminator(nn.Sequential):
    """images (N, nc, S, S) -> probability of real (N,)."""

    def __init__(self, cfg: ModelConfig):
        h, d = cfg.mlp_hidden, cfg.nc * cfg.image_size ** 2
        super().__init__(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(d, h)), ("lrelu1", nn.LeakyReLU(0.2, inplace=False)),
            ("fc2", nn.Linear(h, h // 2)), ("lrelu2", nn.LeakyReLU(0.2, inplace=False)),
            ("fc3", nn.Linear(h // 2, 1)), ("sigmoid", nn.Sigmoid()),
        ]))
        self.config = cfg

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        for name, module in self.named_children():
            if name != "sigmoid":
                x = module(x)
        return x.squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(1)
