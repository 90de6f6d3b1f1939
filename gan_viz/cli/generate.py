"""gan-viz generate: samples from a checkpoint, reproducible from their z."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..images import grid, to_uint8
from ..io import atomic_path, save_png, write_npz
from ..subject import generate_images, load_z  # noqa: F401  (re-exported)
from .common import add_common, device_of, prepare_out, subject_of

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


def run(args) -> int:
    S = subject_of(args)
    if not S.has_G:
        S.require("G")
    if args.z is not None:
        z = load_z(args.z, S.nz)
    else:
        n = 64 if args.n is None else args.n
        if n < 1:
            raise UserError(f"--n {n}: ask for at least one sample")
        z = S.sample_z(n, torch.Generator().manual_seed(args.seed))
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    from ..memory import image_bytes, require

    require("--n", len(z), 3 * image_bytes(S.image_shape), "the samples and images.npy")
    out = prepare_out(args, checkpoint=S.where, subject=S.describe())
    images = S.images(z, args.batch_size, device_of(args))
    pics = to_uint8(images)
    for i, pic in enumerate(pics):
        save_png(out / f"sample_{i:04d}.png", pic)
    save_png(out / "grid.png", grid(pics))
    for name, arr in (("z.npy", z.numpy()), ("images.npy", images.numpy())):
        with atomic_path(out / name, suffix=".npy") as tmp:
            np.save(tmp, arr)
    print(f"wrote {len(pics)} samples to {out}")
    return 0
