"""gan-viz classify: D features + a linear L2-SVM (the paper's Table 1), beside a random D and raw pixels."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import classify as K
from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..hooks import resolve_layer
from ..io import save_figure, write_json, write_npz
from ..models import build_discriminator, init_weights
from .common import add_common, device_of, prepare_out

NAME = "classify"
HELP = ("the discriminator as a feature extractor (Table 1): D features max-pooled to 4x4 + linear L2-SVM, "
        "vs the same D freshly initialised and raw pixels")
EXAMPLES = ["gan-viz classify --dataset rooms --attribute time_of_day --labels 200 --out out/classify_tod",
            "gan-viz classify --ckpt runs/digits/checkpoints/last.pt --dataset digits --labels 100 --draws 10 "
            "--out out/classify_digits",
            "gan-viz classify --ckpt runs/mnist/checkpoints/last.pt --dataset mnist --data-root ~/data "
            "--labels 1000 --out out/classify_mnist"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--dataset", default=None,
                   help="labelled dataset: digits, rooms, mnist, fashion-mnist, cifar10, folder "
                        "(default: the checkpoint's)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of a real dataset")
    p.add_argument("--attribute", default=None, choices=list(K.ROOMS_ATTRIBUTES),
                   help="rooms only: the scene attribute used as label (default: n_windows)")
    p.add_argument("--labels", type=int, default=None, metavar="N",
                   help="labelled training images per draw, class-balanced (default: all but validation)")
    p.add_argument("--draws", type=int, default=10, help="random label draws with --labels (default: 10)")
    p.add_argument("--n-train", type=int, default=2000, help="images taken from the training split "
                   "(validation + labelled pool; default: 2000, about 3 min for the bundled model on 2 "
                   "cores; liblinear's time grows faster than the image count, so paper-scale runs "
                   "(10000 and more) take tens of minutes)")
    p.add_argument("--n-test", type=int, default=2000, help="test images (default: 2000)")
    p.add_argument("--val", type=int, default=None, metavar="N",
                   help="validation images for choosing C (default: 20%% of --n-train, at most 10000)")
    p.add_argument("--C-grid", default=",".join(str(c) for c in K.C_GRID), metavar="C1,C2,...",
                   help="SVM C values tried on the validation split (default: %(default)s)")
    p.add_argument("--layers", default=None, metavar="L1,L2",
                   help="D layers to read (default: every LeakyReLU, i.e. every conv block)")
    p.add_argument("--batch-size", type=int, default=256, help="images per D forward pass")


def _check_args(args) -> list[float]:
    for name in ("draws", "n_train", "n_test", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if args.labels is not None and args.labels < 1:
        raise UserError("--labels must be at least 1")
    if args.val is not None and args.val < 1:
        raise UserError("--val must be at least 1")
    try:
        grid = [float(c) for c in args.C_grid.split(",")]
    except ValueError:
        raise UserError(f"--C-grid {args.C_grid!r} is not a comma-separated list of numbers") from None
    if not grid or any(not c > 0 for c in grid):
        raise UserError("--C-grid values must be positive")
    return grid


def load_labelled_pair(args, ck):
    """(dataset name, train Labelled, test Labelled, K) for the checkpoint's image size and channels."""
    name = args.dataset or ck.dataset
    if name is None:
        raise UserError(f"{ck.path} does not record its dataset; pass --dataset (and --data-root)")
    root = args.data_root or ((ck.train_config or {}).get("data_root") if name == ck.dataset else None)
    cfg = ck.config
    train = K.load_split(name, cfg.image_size, cfg.nc, "train", root, args.n_train, args.seed, args.attribute)
    k = K.require_labels(train, name)
    if len(np.unique(train.labels)) < 2:
        raise UserError(f"the {name} training images hold a single class; raise --n-train or pick another label")
    test = K.load_split(name, cfg.image_size, cfg.nc, "test", root, args.n_test, args.seed, args.attribute)
    keep = (test.labels >= 0) & (test.labels < k)
    test = K.Labelled(test.images[keep], test.labels[keep], test.indices[keep], test.classes)
    if len(test.labels) == 0:
        raise UserError(f"the {name} test split has no images of the training classes")
    return name, train, test, k


def _layers(args, D) -> list[str]:
    if args.layers is None:
        return K.feature_layers(D)
    names = [s.strip() for s in args.layers.split(",") if s.strip()]
    if not names:
        raise UserError("--layers is empty; give D layer names such as lrelu1,lrelu2")
    for n in names:
        resolve_layer(D, n, "D")
    return [n[2:] if n.startswith("D.") else n for n in names]


def run(args) -> int:
    grid = _check_args(args)
    ck = load_checkpoint(args.ckpt)
    D = ck.require("D")
    layers = _layers(args, D)
    name, train, test, k = load_labelled_pair(args, ck)
    n_val = args.val if args.val is not None else min(10000, max(k, len(train.labels) // 5))
    if n_val >= len(train.labels):
        raise UserError(f"--val {n_val} leaves no training images out of {len(train.labels)}; lower it")
    protocol = K.split_protocol(train.labels, n_val, args.labels, args.draws, args.seed, k)
    device = device_of(args)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict(), dataset=name)
    D_random = build_discriminator(ck.config)
    init_weights(D_random, torch.Generator().manual_seed(args.seed))
    feats, test_feats = {}, {}
    for set_name, net in (("trained_D", D), ("random_D", D_random)):
        feats[set_name] = K.d_features(net, train.images, layers, batch_size=args.batch_size, device=device)
        test_feats[set_name] = K.d_features(net, test.images, layers, batch_size=args.batch_size,
                                            device=device)
    feats["pixels"], test_feats["pixels"] = train.images.flatten(1).numpy(), test.images.flatten(1).numpy()
    result = K.compute_classify(feats, train.labels, protocol, test_feats, test.labels, grid)
    figures = [p.name for p in save_figure(K.plot_classify(result), out, "classify")]
    summary = K.summary_of(result)
    summary.update(checkpoint=str(ck.path), dataset=name, attribute=args.attribute if name == "rooms" else None,
                   classes=list(train.classes), layers=layers, pool=K.POOL, random_D_seed=args.seed,
                   feature_standardisation="per draw, mean/std of the labelled images", seed=args.seed,
                   figures=figures)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", train_indices=train.indices, train_labels=train.labels,
              test_indices=test.indices, test_labels=test.labels, layers=np.array(layers),
              seed=np.array(args.seed), **K.arrays_of(result))
    row = ", ".join(f"{n} {100 * m:.1f} +- {100 * c:.1f}% (balanced {100 * b:.1f})" for n, m, c, b in zip(
        result.feature_sets, result.mean, result.ci95, result.balanced_mean))
    print(f"classify {name} ({protocol.draws.shape[1]} labels x {len(protocol.draws)} draws): {row}; "
          f"chance {100 * result.chance:.1f}%; wrote {out}")
    return 0
