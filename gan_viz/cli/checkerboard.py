"""gan-viz checkerboard: power spectrum of generated vs real images, checkerboard score per G layer."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import checkerboard as C
from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out

NAME = "checkerboard"
HELP = ("mean power spectrum of generated vs real images and a checkerboard score per G upsampling layer "
        "(Odena et al. 2016)")
EXAMPLES = ["gan-viz checkerboard --out out/checkerboard",
            "gan-viz checkerboard --ckpt runs/rooms_nn/checkpoints/last.pt --out out/cb_nearest",
            "gan-viz checkerboard --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/cb"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--n", type=int, default=512, help="generated and real images averaged (default: 512)")
    p.add_argument("--dataset", default=None,
                   help="real images: the checkpoint's dataset by default (required for PyTorch-examples files)")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder of a real dataset (default: the one recorded in the checkpoint)")
    p.add_argument("--no-real", action="store_true", help="skip real images (generated spectrum only)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")


def real_images(ck, name: str | None, root: str | None, n: int, seed: int) -> tuple[torch.Tensor, str, np.ndarray]:
    """(M, C, S, S) held-out real images of ``name`` (default: the checkpoint's dataset)."""
    from ..data import build_dataset

    name = name or ck.dataset
    if name is None:
        raise UserError(f"{ck.path} does not record its dataset; pass --dataset (and --data-root) "
                        "or --no-real")
    root = root or ((ck.train_config or {}).get("data_root") if name == ck.dataset else None)
    cfg = ck.config
    ds = build_dataset(name, cfg.image_size, cfg.nc, "test", root, seed=0)
    if len(ds) == 0:
        raise UserError(f"the {name} test split is empty; pass another --dataset")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    if hasattr(ds, "get_batch"):
        x = ds.get_batch(idx)
    else:
        x = torch.stack([ds[int(i)][0] for i in idx])
    if tuple(x.shape[1:]) != (cfg.nc, cfg.image_size, cfg.image_size):
        raise UserError(f"{name} images have shape {tuple(x.shape[1:])} but the model makes "
                        f"{(cfg.nc, cfg.image_size, cfg.image_size)}; pass a matching --dataset")
    return x.float(), name, idx


def run(args) -> int:
    if args.n < 1 or args.batch_size < 1:
        raise UserError("--n and --batch-size must be at least 1")
    ck = load_checkpoint(args.ckpt)
    G = ck.require("G")
    if ck.config.arch != "dcgan":
        raise UserError(f"{ck.path} holds an {ck.config.arch} generator; checkerboards concern the DCGAN's "
                        "convolutions")
    real, name, idx = (None, None, np.zeros(0, int)) if args.no_real else \
        real_images(ck, args.dataset, args.data_root, args.n, args.seed)
    device = device_of(args)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict(), dataset=name)
    z = sample_z(ck.config, args.n, torch.Generator().manual_seed(args.seed))
    result = C.compute_checkerboard(G, z, real, args.batch_size, device)
    figures = []
    for fname, plot in C.FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, fname)]
    summary = C.summary_of(result)
    summary.update(checkpoint=str(ck.path), g_upsample=ck.config.g_upsample, dataset=name, n=args.n,
                   seed=args.seed, figures=figures)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", z=z.numpy(), real_indices=idx, seed=np.array(args.seed), **C.arrays_of(result))
    gen = ", ".join(f"{k} {v:.2f}" for k, v in result.generated.items())
    layers = ", ".join(f"G.{k} {v['score']:.2f}" for k, v in result.per_layer.items())
    print(f"checkerboard ({ck.config.g_upsample}): generated {gen}; per layer {layers}; wrote {out}")
    return 0
