"""gan-viz modes: which classes does G draw? A classifier trained here on the real data labels the samples."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import classify as K
from ..analyses import modes as M
from ..checkpoint import load_checkpoint
from ..errors import UserError
from ..images import to_uint8
from ..io import save_figure, write_json, write_npz
from ..models import sample_z
from .classify import load_labelled_pair
from .common import add_common, device_of, prepare_out
from ..subject import generate_images

NAME = "modes"
HELP = ("mode coverage: a small CNN trained here on the labelled real data labels generated samples; "
        "class histogram, modes covered, KL to the real distribution, collapse flagged")
EXAMPLES = ["gan-viz modes --ckpt runs/digits/checkpoints/last.pt --out out/modes_digits",
            "gan-viz modes --dataset rooms --attribute time_of_day --n 2000 --out out/modes_tod",
            "gan-viz modes --ckpt runs/mnist/checkpoints/last.pt --dataset mnist --data-root ~/data --out out/m"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--dataset", default=None, help="labelled dataset (default: the checkpoint's)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of a real dataset")
    p.add_argument("--attribute", default=None, choices=list(K.ROOMS_ATTRIBUTES),
                   help="rooms only: the scene attribute used as class (default: n_windows)")
    p.add_argument("--n", type=int, default=1000, help="generated samples (default: 1000)")
    p.add_argument("--n-train", type=int, default=5000, help="real training images for the classifier (default: 5000)")
    p.add_argument("--n-test", type=int, default=2000, help="held-out real images (reference histogram)")
    p.add_argument("--epochs", type=int, default=8, help="classifier training epochs (default: 8)")
    p.add_argument("--min-share", type=float, default=M.MIN_SHARE,
                   help="a class is covered when its sample share is at least this fraction of its real "
                        "share (default: %(default)s)")
    p.add_argument("--per-class", type=int, default=8, help="samples shown per class in the figure")
    p.add_argument("--batch-size", type=int, default=256, help="samples per G forward pass")


def _check_args(args) -> None:
    for name in ("n", "n_train", "n_test", "epochs", "per_class", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.min_share <= 1:
        raise UserError(f"--min-share {args.min_share} must lie in (0, 1]")


def run(args) -> int:
    _check_args(args)
    ck = load_checkpoint(args.ckpt)
    G = ck.require("G")
    name, train, test, k = load_labelled_pair(args, ck)
    device = device_of(args)
    out = prepare_out(args, checkpoint=str(ck.path), model_config=ck.config.to_dict(), dataset=name)
    clf = M.train_classifier(train.images, train.labels, k, args.epochs, args.seed)
    z = sample_z(ck.config, args.n, torch.Generator().manual_seed(args.seed))
    fake = generate_images(G, z, args.batch_size, device)
    classes = train.classes if len(train.classes) == k else tuple(str(i) for i in range(k))
    result = M.compute_modes(clf, fake, test.images, test.labels, classes, args.min_share)
    figures = [p.name for p in save_figure(M.plot_histogram(result), out, "modes")]
    figures += [p.name for p in save_figure(M.plot_by_class(result, to_uint8(fake), args.per_class), out,
                                            "samples_by_class")]
    summary = M.summary_of(result)
    summary.update(checkpoint=str(ck.path), dataset=name, attribute=args.attribute if name == "rooms" else None,
                   classifier=f"SmallCNN, {args.epochs} epochs on {len(train.labels)} real training images",
                   seed=args.seed, figures=figures)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train.indices,
              test_indices=test.indices, test_labels=test.labels, seed=np.array(args.seed), **M.arrays_of(result))
    flag = f"COLLAPSED (missing {', '.join(summary['missing_modes'])})" if result.collapsed else "no collapse"
    print(f"modes {name}: {summary['modes_covered']}/{k} covered, {flag}; KL(real||gen) {result.kl_real_gen:.3f}; "
          f"classifier acc {100 * result.test_accuracy:.1f}%; wrote {out}")
    return 0
