"""Frozen, self-validating model configuration.

Every checkpoint and every output folder stores a :class:`ModelConfig`, so a model is
rebuilt from the file alone (nothing to remember, nothing read from globals).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import UserError

ARCHS = ("dcgan", "mlp")
Z_DISTS = ("uniform", "normal")
G_UPSAMPLES = ("transposed", "nearest-conv")


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters that define a generator / discriminator pair.

    Example:
        >>> ModelConfig(image_size=32, nc=3).n_blocks
        3
    """

    arch: str = "dcgan"  # "dcgan" (Radford et al.) or "mlp" (Goodfellow et al.)
    image_size: int = 64  # square, power of two, 16..256
    nc: int = 3  # image channels: 1 (grayscale) or 3 (RGB)
    nz: int = 100  # latent dimension
    ngf: int = 64  # generator width (channels of its last hidden layer)
    ndf: int = 64  # discriminator width (channels of its first layer)
    z_dist: str = "normal"  # "uniform" in [-1, 1] (paper) or "normal" (PyTorch example)
    g_upsample: str = "transposed"  # "transposed" or "nearest-conv" (resize + 3x3 conv)
    mlp_hidden: int = 1024  # hidden width of the MLP GAN (arch="mlp" only)
    conv_bias: bool = False  # DCGAN convolutions with a bias (the PyTorch examples DCGAN with bias=True)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise UserError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        s = self.image_size
        if not isinstance(s, int) or s < 16 or s > 256 or s & (s - 1):
            raise UserError(f"image size {s!r} is not supported; use a power of two from 16 to 256")
        if self.nc not in (1, 3):
            raise UserError(f"nc={self.nc!r}: images must have 1 or 3 channels")
        for name in ("nz", "ngf", "ndf", "mlp_hidden"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise UserError(f"{name}={v!r} must be a positive integer")
        if self.z_dist not in Z_DISTS:
            raise UserError(f"unknown z distribution {self.z_dist!r}; choose one of {', '.join(Z_DISTS)}")
        if not isinstance(self.conv_bias, bool):
            raise UserError(f"conv_bias={self.conv_bias!r} must be true or false")
        if self.g_upsample not in G_UPSAMPLES:
            raise UserError(f"unknown upsampling {self.g_upsample!r}; choose one of {', '.join(G_UPSAMPLES)}")

    @property
    def n_blocks(self) -> int:
        """Hidden up/down-sampling blocks of the DCGAN: log2(size) - 2 (4 at 64x64)."""
        return self.image_size.bit_length() - 3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        if not isinstance(d, Mapping):
            raise UserError("the model config in this file is not a mapping; the file is not a gan-viz checkpoint")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown model config keys {unknown}; the file was written by a newer gan-viz?")
        return cls(**dict(d))

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)
