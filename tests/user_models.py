"""Models a user brings that are not gan-viz's own (for the "your own model" tests).

- :class:`PTGenerator` / :class:`PTDiscriminator`: the PyTorch examples DCGAN, verbatim
  layout (``main`` Sequential; G takes z (N, nz, 1, 1)).
- :class:`NestedGenerator`: a ModuleList of Upsample + Conv + BN + ReLU blocks.
- :class:`Critic`: a WGAN-GP-style critic: no BatchNorm (optional LayerNorm), LeakyReLU
  modules, a Linear head, no sigmoid.
- :class:`FunctionalCritic`: the same, but its activations are functional calls in
  ``forward`` (guided backprop cannot be applied to it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PTGenerator(nn.Module):
    def __init__(self, nz=16, ngf=8, nc=3, bias=False):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=bias), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=bias), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=bias), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=bias), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class PTDiscriminator(nn.Module):
    def __init__(self, ndf=8, nc=3, bias=False):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=bias), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=bias), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=bias), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(self.up(x))))


class NestedGenerator(nn.Module):
    """z (N, nz) -> (N, nc, 32, 32): Linear to 4x4, three upsampling blocks, a 3x3 conv + tanh."""

    def __init__(self, nz=16, width=16, nc=3):
        super().__init__()
        self.width = width
        self.fc = nn.Linear(nz, width * 4 * 4)
        self.blocks = nn.ModuleList([Block(width, width), Block(width, width // 2), Block(width // 2, width // 2)])
        self.to_rgb = nn.Conv2d(width // 2, nc, 3, 1, 1)

    def forward(self, z):
        x = self.fc(z.flatten(1)).view(len(z), self.width, 4, 4)
        for b in self.blocks:
            x = b(x)
        return torch.tanh(self.to_rgb(x))


class Critic(nn.Module):
    """(N, nc, 32, 32) -> (N,) scores: conv blocks (LayerNorm or none) + LeakyReLU modules + Linear head."""

    def __init__(self, nc=3, width=8, norm="layer"):
        super().__init__()
        layers = []
        c, size = nc, 32
        for i in range(3):
            size //= 2
            layers += [nn.Conv2d(c, width * 2 ** i, 4, 2, 1)]
            if norm == "layer" and i > 0:
                layers += [nn.LayerNorm([width * 2 ** i, size, size])]
            layers += [nn.LeakyReLU(0.2)]
            c = width * 2 ** i
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * size * size, 1)

    def forward(self, x):
        return self.head(self.features(x).flatten(1)).squeeze(1)


class FunctionalCritic(nn.Module):
    """A critic whose rectifiers are F.leaky_relu calls: no rectifier module to guide."""

    def __init__(self, nc=3, width=8):
        super().__init__()
        self.c1 = nn.Conv2d(nc, width, 4, 2, 1)
        self.c2 = nn.Conv2d(width, width * 2, 4, 2, 1)
        self.c3 = nn.Conv2d(width * 2, width * 4, 4, 2, 1)
        self.head = nn.Linear(width * 4 * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(self.c2(x), 0.2)
        x = F.leaky_relu(self.c3(x), 0.2)
        return self.head(x.flatten(1)).squeeze(1)


def png_folder(folder, n: int, seed: int):
    """n smooth grayscale 16x16 PNGs (blobs: a 2x2 grid of values upsampled, plus a little noise)."""
    from gan_viz.io import save_png

    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(n, 1, 2, 2, generator=g), size=16, mode="bilinear")
    imgs = ((base + 0.03 * torch.randn(n, 1, 16, 16, generator=g)).clamp(0, 1) * 255).round().byte()
    for i in range(n):
        save_png(folder / f"{i:04d}.png", imgs[i, 0].numpy())
    return folder


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` with weights drawn from ``seed`` (N(0, 0.1): far enough from zero to give structure)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


class RoomsBank(nn.Module):
    """A planted 'generator' that draws real rendered rooms (train split) in turn, whatever z is:
    images the rooms parser's applicability check must accept."""

    def __init__(self, size: int = 32, n: int = 64):
        super().__init__()
        from gan_viz.data import build_dataset
        from gan_viz.training.loop import load_batch

        self.register_buffer("bank", load_batch(build_dataset("rooms", size, 3, "train", n=n), torch.arange(n)))

    def forward(self, z):
        return self.bank[torch.arange(len(z)) % len(self.bank)]


def rooms_subject(size: int = 32, D: nn.Module | None = None):
    """A Subject of domain rooms whose G draws real rooms (nz 8)."""
    from gan_viz.config import ModelConfig
    from gan_viz.subject import Subject

    return Subject.from_config(ModelConfig(image_size=size, nc=3, nz=8, ngf=8, ndf=8), RoomsBank(size), D,
                               domain="rooms")


class SharedReLUGenerator(nn.Module):
    """A DCGAN-style G (z (N, nz) -> (N, 3, 32, 32)) that reuses ONE ReLU module in every block:
    ``act`` is called three times per forward, addressed ``act#0`` (4x4), ``act#1`` (8x8), ``act#2`` (16x16)."""

    def __init__(self, nz: int = 8, w: int = 4):
        super().__init__()
        self.c1, self.b1 = nn.ConvTranspose2d(nz, 4 * w, 4, 1, 0), nn.BatchNorm2d(4 * w)
        self.c2, self.b2 = nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w)
        self.c3, self.b3 = nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w)
        self.c4 = nn.ConvTranspose2d(w, 3, 4, 2, 1)
        self.act = nn.ReLU()

    def forward(self, z):
        x = z.view(len(z), -1, 1, 1)
        for conv, bn in ((self.c1, self.b1), (self.c2, self.b2), (self.c3, self.b3)):
            x = self.act(bn(conv(x)))
        return torch.tanh(self.c4(x))
