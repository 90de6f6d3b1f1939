"""gan-viz neighbors: nearest training images of samples (pixel and D-feature space), memorisation score."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import classify as K
from ..analyses import neighbors as N
from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..images import to_uint8
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .common import add_common, device_of, prepare_out
from ..subject import generate_images

NAME = "neighbors"
HELP = ("nearest training images of generated samples in pixel and D-feature space; memorisation score "
        "against held-out real images")
EXAMPLES = ["gan-viz neighbors --out out/neighbors",
            "gan-viz neighbors --ckpt runs/digits/checkpoints/last.pt --n-train 0 --out out/nn_digits",
            "gan-viz neighbors --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/nn"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--dataset", default=None, help="training data searched (default: the checkpoint's)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of a real dataset")
    p.add_argument("--n", type=int, default=256, help="generated samples (default: 256)")
    p.add_argument("--n-train", type=int, default=5000,
                   help="training images searched, a random subset; 0 = all the model was trained on "
                        "(default: 5000)")
    p.add_argument("--n-heldout", type=int, default=1000, help="held-out real images (reference; default: 1000)")
    p.add_argument("--k", type=int, default=3, help="neighbours shown per sample and space (default: 3)")
    p.add_argument("--quantile", type=float, default=N.QUANTILE,
                   help="held-out distance quantile used as memorisation threshold (default: %(default)s)")
    p.add_argument("--show", type=int, default=8, help="samples per figure (default: 8)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")


def _check_args(args) -> None:
    for name in ("n", "n_heldout", "k", "show", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if args.n_train < 0:
        raise UserError("--n-train must be 0 (all) or positive")
    if not 0 < args.quantile < 1:
        raise UserError(f"--quantile {args.quantile} must lie in (0, 1)")


def _real(args, ck):
    name = args.dataset or ck.dataset
    if name is None:
        raise UserError(f"{ck.path} does not record its dataset; pass --dataset (and --data-root)")
    same = name == ck.dataset
    root = args.data_root or ((ck.train_config or {}).get("data_root") if same else None)
    limit = (ck.train_config or {}).get("dataset_size") if same else None  # trained on the first N only
    cfg = ck.config
    train = K.load_split(name, cfg.image_size, cfg.nc, "train", root, args.n_train or None, args.seed, limit=limit)
    held = K.load_split(name, cfg.image_size, cfg.nc, "test", root, args.n_heldout, args.seed)
    return name, train, held


def run(args) -> int:
    _check_args(args)
    ck = load_checkpoint(args.ckpt)
    G = ck.require("G")
    name, train, held = _real(args, ck)
    device = device_of(args)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict(), dataset=name)
    z = sample_z(ck.config, args.n, torch.Generator().manual_seed(args.seed))
    fake = generate_images(G, z, args.batch_size, device)
    spaces = {"pixel": N.pixel_embedding}
    layers = []
    if ck.D is not None:
        layers = K.feature_layers(ck.D)
        spaces["D"] = lambda x: N.unit_rows(K.d_features(ck.D, x, layers, batch_size=args.batch_size, device=device))
    result = N.compute_neighbors(spaces, fake, train.images, held.images, args.k, args.quantile)
    pics, train_pics = to_uint8(fake), to_uint8(train.images)
    show = np.arange(min(args.show, args.n))
    figures = [p.name for p in save_figure(N.plot_neighbors(result, pics, train_pics, show,
                                                            "samples 0.. and their nearest training images"),
                                           out, "neighbors")]
    figures += [p.name for p in save_figure(N.plot_neighbors(result, pics, train_pics, result.closest(
        "pixel", len(show)), "the samples nearest to the training set (pixel space)"), out, "neighbors_closest")]
    figures += [p.name for p in save_figure(N.plot_distances(result), out, "distances")]
    summary = N.summary_of(result)
    summary.update(checkpoint=str(ck.path), dataset=name, d_layers=layers, n_generated=args.n,
                   heldout_images=len(held.images), seed=args.seed, figures=figures,
                   d_space=None if ck.D is None else "every D conv block max-pooled to 4x4")
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train.indices,
              heldout_indices=held.indices, d_layers=np.array(layers), seed=np.array(args.seed),
              **N.arrays_of(result))
    row = "; ".join(f"{s}: memorisation {100 * v['memorisation']:.1f}% (like held-out {100 * args.quantile:g}%), "
                    f"median ratio {v['median_ratio']:.2f}" for s, v in summary["spaces"].items())
    print(f"neighbors {name} ({result.n_train} training images searched): {row}; wrote {out}")
    return 0
