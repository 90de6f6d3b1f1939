"""gan-viz generate: samples from a checkpoint, reproducible from their z."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..images import grid, to_uint8
from ..io import atomic_path, save_png, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out

NAME = "generate"
HELP = "generate samples (PNG grid, one PNG each, z.npy and images.npy)"
EXAMPLES = ["gan-viz generate --n 64 --seed 1 --out out/samples",
            "gan-viz generate --ckpt netG_epoch_24.pth --z out/samples/z.npy --out out/again"]


def add_arguments(p):
    add_common(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--n", type=int, default=None, help="number of samples (default 64)")
    src.add_argument("--z", default=None, metavar="FILE.npy", help="latent codes, shape (N, nz) or (N, nz, 1, 1)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


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


@torch.no_grad()
def generate_images(G: torch.nn.Module, z: torch.Tensor, batch_size: int = 256,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """G(z) in eval mode, batched: (N, nz) -> (N, C, H, W) float32 in [-1, 1] on the CPU."""
    was = G.training
    G.eval().to(device)
    try:
        return torch.cat([G(z[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(z), batch_size)])
    finally:
        G.train(was)


def run(args) -> int:
    ck = load_checkpoint(args.ckpt)
    G = ck.require("G")
    if args.z is not None:
        z = load_z(args.z, ck.config.nz)
    else:
        n = 64 if args.n is None else args.n
        if n < 1:
            raise UserError(f"--n {n}: ask for at least one sample")
        z = sample_z(ck.config, n, torch.Generator().manual_seed(args.seed))
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict())
    images = generate_images(G, z, args.batch_size, device_of(args))
    pics = to_uint8(images)
    for i, pic in enumerate(pics):
        save_png(out / f"sample_{i:04d}.png", pic)
    save_png(out / "grid.png", grid(pics))
    for name, arr in (("z.npy", z.numpy()), ("images.npy", images.numpy())):
        with atomic_path(out / name, suffix=".npy") as tmp:
            np.save(tmp, arr)
    print(f"wrote {len(pics)} samples to {out}")
    return 0
