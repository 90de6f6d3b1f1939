"""The model under audit: any generator and/or discriminator, however it was made.

A :class:`Subject` is what every analysis takes. It holds G and/or D as plain
``nn.Module`` objects (a gan-viz DCGAN, a PyTorch examples DCGAN, or anything the user
built), how to draw z, how to turn z into images (``G(z)`` unless the user passes a
callable, e.g. a conditional G with its class fixed), the image shape (found by one
forward pass), the data domain the model was trained on (a dataset name, or ``None``
for unknown: no instrument is assumed then) and where it came from (file, format,
sha256).

Example:
    >>> S = Subject.from_modules(G, D, nz=128, z_dist="normal")
    >>> z = S.sample_z(16, torch.Generator().manual_seed(0))
    >>> images = S.images(z)                     # (16, C, H, W) in [-1, 1]
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .config import Z_DISTS, ModelConfig
from .errors import UserError

# image shapes tried, in this order, to find what a discriminator alone accepts
_PROBE_SIZES = (64, 32, 128, 28, 16, 256)


@dataclass(frozen=True)
class Provenance:
    """Where a subject came from: ``format`` is e.g. "gan-viz", "pytorch-examples",
    "state-dict", "safetensors", "model-def" or "modules"."""

    path: str | None = None
    format: str = "modules"
    sha256: str | None = None
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "sha256": self.sha256,
                "metadata": {k: v for k, v in self.metadata.items()
                             if isinstance(v, (int, float, str, bool, type(None)))}}


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _first_param(net: nn.Module) -> torch.Tensor | None:
    p = next(iter(net.parameters()), None)
    return p if p is not None else next(iter(net.buffers()), None)


def _device_dtype(net: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = _first_param(net)
    return (p.device, p.dtype if p is not None and p.is_floating_point() else torch.float32) if p is not None \
        else (torch.device("cpu"), torch.float32)


class Subject:
    """A generator and/or discriminator to audit (see the module docstring).

    Args:
        G, D: the networks (either may be None). They are put in eval mode.
        nz: latent size (needed when there is a G).
        z_dist: "normal" or "uniform" (in [-1, 1], the paper's).
        generate: optional callable ``z (N, nz) -> images (N, C, H, W)`` in [-1, 1]; default ``G(z)``.
        image_shape: (C, H, W); found by one forward pass when not given.
        domain: the dataset the model was trained on ("rooms", "mnist", ...) or None (unknown).
        provenance: where the networks came from.
        config: the gan-viz :class:`ModelConfig` where the networks are gan-viz DCGAN/MLP modules.
        step, epoch: how far it was trained, where recorded (None: not recorded).
    """

    def __init__(self, G: nn.Module | None = None, D: nn.Module | None = None, nz: int | None = None,
                 z_dist: str = "normal", generate: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 image_shape: tuple[int, int, int] | None = None, domain: str | None = None,
                 provenance: Provenance | None = None, config: ModelConfig | None = None,
                 step: int | None = None, epoch: int | None = None, train_config: dict | None = None,
                 raw: dict | None = None):
        if G is None and D is None and generate is None:
            raise UserError("a subject needs a generator or a discriminator (both are missing)")
        for what, net in (("G", G), ("D", D)):
            if net is not None and not isinstance(net, nn.Module):
                raise UserError(f"{what} is a {type(net).__name__}, not a torch.nn.Module")
        if z_dist not in Z_DISTS:
            raise UserError(f"z distribution {z_dist!r} is unknown; choose one of {', '.join(Z_DISTS)}")
        if (G is not None or generate is not None) and (not isinstance(nz, int) or isinstance(nz, bool) or nz < 1):
            raise UserError(f"nz={nz!r}: a generator needs the latent size nz as a positive integer")
        self.G = G.eval() if G is not None else None
        self.D = D.eval() if D is not None else None
        self.nz = nz
        self.z_dist = z_dist
        self._generate = generate
        self.domain = domain
        self.provenance = provenance or Provenance()
        self.config = config
        # None: not recorded (a model-def's own modules say nothing of how long they were trained)
        self.step = None if step is None else int(step)
        self.epoch = None if epoch is None else int(epoch)
        self.train_config = train_config
        self.raw = raw or {}
        self.z_shape: tuple[int, ...] = (nz,) if nz is not None else ()  # one z as G takes it
        self.image_shape = tuple(image_shape) if image_shape is not None else self._find_image_shape()

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_modules(cls, G: nn.Module | None = None, D: nn.Module | None = None, nz: int | None = None,
                     **kw: Any) -> "Subject":
        """A subject from the user's own modules (see the class docstring for ``kw``)."""
        return cls(G, D, nz, **kw)

    @classmethod
    def from_config(cls, config: ModelConfig, G: nn.Module | None, D: nn.Module | None, **kw: Any) -> "Subject":
        """A subject of gan-viz-built networks: nz, z distribution and image shape from ``config``."""
        return cls(G, D, config.nz, config.z_dist,
                   image_shape=(config.nc, config.image_size, config.image_size), config=config, **kw)

    # --- what it is ---------------------------------------------------------------------

    @property
    def has_G(self) -> bool:
        return self.G is not None or self._generate is not None

    @property
    def nc(self) -> int:
        return int(self.image_shape[0])

    @property
    def image_size(self) -> int:
        """Side of the (square) images; for non-square images the height."""
        return int(self.image_shape[1])

    @property
    def path(self) -> Path | None:
        return Path(self.provenance.path) if self.provenance.path else None

    @property
    def source(self) -> str:
        return self.provenance.format

    @property
    def dataset(self) -> str | None:
        """The data domain (alias of ``domain``, the name checkpoints record)."""
        return self.domain

    @property
    def where(self) -> str:
        """How to name this subject in messages."""
        return str(self.provenance.path) if self.provenance.path else f"the {self.provenance.format} subject"

    def require(self, net: str) -> nn.Module:
        """The network ``"G"`` or ``"D"``, or a clear error when this subject lacks it."""
        model = self.G if net == "G" else self.D
        if model is None:
            what = "generator" if net == "G" else "discriminator"
            hint = ("put its netG_/netD_epoch_N.pth beside it, pass a file holding both, or return it "
                    "from --model-def")
            raise UserError(f"{self.where} holds no {what}, and this analysis needs one; {hint}")
        return model

    def describe(self) -> dict:
        """A JSON-able record of the subject for run.json / summaries."""
        return {"provenance": self.provenance.to_dict(), "nz": self.nz, "z_dist": self.z_dist,
                "image_shape": list(self.image_shape), "domain": self.domain,
                "G": None if self.G is None else type(self.G).__name__,
                "D": None if self.D is None else type(self.D).__name__,
                "config": None if self.config is None else self.config.to_dict()}

    # --- z and images -------------------------------------------------------------------

    def sample_z(self, n: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        """Latent codes (n, nz) from the subject's distribution."""
        if self.nz is None:
            raise UserError(f"{self.where} has no generator, so it has no latent space")
        if self.z_dist == "uniform":
            z = torch.rand(n, self.nz, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, self.nz, generator=generator)
        return z.to(device)

    def generator_fn(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The callable z (N, nz) -> images (the user's, or G's forward, z reshaped as G takes it)."""
        if self._generate is not None:
            return self._generate
        G = self.require("G")
        if len(self.z_shape) == 1:
            return G
        shape = self.z_shape
        return lambda z: G(z.reshape(len(z), *shape))

    def as_input(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, nz) reshaped the way G takes it (e.g. (N, nz, 1, 1) for a PyTorch examples G)."""
        return z.reshape(len(z), *self.z_shape)

    @torch.no_grad()
    def images(self, z: torch.Tensor, batch_size: int = 256, device: torch.device | str = "cpu") -> torch.Tensor:
        """Generated images for z, batched, in eval mode: (N, C, H, W) float32 in [-1, 1] on the CPU."""
        if self._generate is not None and self.G is None:
            return torch.cat([self._generate(z[i:i + batch_size].to(device)).float().cpu()
                              for i in range(0, len(z), batch_size)])
        return generate_images(self.generator_fn(), z, batch_size, device, module=self.G)

    def _find_image_shape(self) -> tuple[int, int, int]:
        if self.has_G:
            z = self.sample_z(2, torch.Generator().manual_seed(0))
            device = _device_dtype(self.G)[0] if self.G is not None else "cpu"
            shapes = [(self.nz,)] if self._generate is not None else [(self.nz,), (self.nz, 1, 1)]
            for i, shape in enumerate(shapes):  # G(z) takes (N, nz) or, as PyTorch examples, (N, nz, 1, 1)
                self.z_shape = shape
                try:
                    x = self.images(z, device=device)
                    break
                except UserError:
                    raise
                except Exception as e:  # the user's code: say what failed, in one line
                    if i + 1 < len(shapes):
                        continue
                    msg = str(e).strip().splitlines()[0][:150] if str(e).strip() else ""
                    raise UserError(f"the generator failed on z of shape (2, {self.nz}) and (2, {self.nz}, 1, 1): "
                                    f"{type(e).__name__}: {msg}; check nz") from None
            if x.dim() != 4:
                raise UserError(f"the generator returned shape {tuple(x.shape)} for 2 latent codes; "
                                "it must return images (N, C, H, W)")
            return tuple(int(s) for s in x.shape[1:])
        device, dtype = _device_dtype(self.D)
        for size in _PROBE_SIZES:
            for c in (3, 1):
                try:
                    with torch.no_grad():
                        out = self.D(torch.zeros(2, c, size, size, device=device, dtype=dtype))
                except Exception:
                    continue
                if out.numel() == 2:
                    return (c, size, size)
        raise UserError("could not find the image shape this discriminator takes (tried 1 or 3 channels at "
                        f"{', '.join(map(str, _PROBE_SIZES))} px); give image_shape=(C, H, W)")

    # --- baselines ----------------------------------------------------------------------

    def random_copy(self, net: str, seed: int) -> nn.Module:
        """A copy of G or D with the same architecture and freshly drawn weights (the paper's
        init: N(0, 0.02) weights, BatchNorm gamma N(1, 0.02); other layers reset their own)."""
        from .models import init_weights

        source = self.require(net)
        device = _device_dtype(source)[0]
        model = copy.deepcopy(source).cpu()  # drawn on the CPU: the same weights on any device
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()
                elif hasattr(m, "reset_parameters") and not isinstance(
                        m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    m.reset_parameters()
            init_weights(model, generator=gen)
        model.to(device)
        return model.eval()


@torch.no_grad()
def generate_images(G: nn.Module | Callable, z: torch.Tensor, batch_size: int = 256,
                    device: torch.device | str = "cpu", module: nn.Module | None = None) -> torch.Tensor:
    """G(z) in eval mode, batched: (N, nz) -> (N, C, H, W) float32 in [-1, 1] on the CPU.

    ``G`` is a module or any callable; ``module`` (default: ``G`` when it is a module) is
    put in eval mode and on ``device`` for the call and restored after.
    """
    net = module if module is not None else (G if isinstance(G, nn.Module) else None)
    was = net.training if net is not None else False
    if net is not None:
        net.eval().to(device)
    try:
        # contiguous: a channels-last network (gan_viz.checkpoint.fast_layout) returns channels-last images
        return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(z), batch_size)]
                         ).contiguous()
    finally:
        if net is not None:
            net.train(was)


def load_z(path: str | Path, nz: int) -> torch.Tensor:
    """Read latent codes from a .npy file, checked against the model's nz."""
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"--z file {path} does not exist") from None
    except (ValueError, OSError) as e:
        raise UserError(f"--z file {path} is not a .npy array ({str(e)[:80]})") from None
    if z.ndim == 4 and z.shape[2:] == (1, 1):
        z = z[:, :, 0, 0]
    if z.ndim != 2 or z.shape[1] != nz or z.shape[0] == 0:
        raise UserError(f"--z has shape {tuple(z.shape)} but this model needs (N, {nz}) or (N, {nz}, 1, 1)")
    if not np.issubdtype(z.dtype, np.floating) or not np.isfinite(z).all():
        raise UserError(f"--z file {path} must hold finite floating-point numbers")
    return torch.from_numpy(z.astype(np.float32))
