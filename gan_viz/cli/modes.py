"""gan-viz modes: which classes does G draw? A classifier trained here on the real data labels the samples."""

from __future__ import annotations

from ..analyses.modes import MIN_SHARE, line
from ..analyses.modes.run import NAME
from ..data.labelled import ROOMS_ATTRIBUTES
from .common import add_common, add_data
from .runner import run_analysis

HELP = ("mode coverage: a small CNN trained here on the labelled real data labels generated samples; "
        "class histogram, modes covered, KL to the real distribution, collapse flagged")
EXAMPLES = ["gan-viz modes --ckpt runs/digits/checkpoints/last.pt --out out/modes_digits",
            "gan-viz modes --dataset rooms --attribute time_of_day --n 2000 --out out/modes_tod",
            "gan-viz modes --ckpt runs/mnist/checkpoints/last.pt --dataset mnist --data-root ~/data --out out/m"]


def add_arguments(p):
    add_common(p)
    add_data(p, "labelled dataset (default: the model's); a folder needs one sub-folder per class")
    p.add_argument("--attribute", default=None, choices=list(ROOMS_ATTRIBUTES),
                   help="rooms only: the scene attribute used as class (default: n_windows)")
    p.add_argument("--n", type=int, default=1000, help="generated samples (default: 1000)")
    p.add_argument("--n-train", type=int, default=5000, help="real training images for the classifier (default: 5000)")
    p.add_argument("--n-test", type=int, default=2000, help="held-out real images (reference histogram)")
    p.add_argument("--epochs", type=int, default=8, help="classifier training epochs (default: 8)")
    p.add_argument("--min-share", type=float, default=MIN_SHARE,
                   help="a class is covered when its sample share is at least this fraction of its real "
                        "share (default: %(default)s)")
    p.add_argument("--classifier-size", type=int, default=None, metavar="N",
                   help="train and apply the classifier on images area-averaged to N x N (default: the model's "
                        "size); a 64x64 model's classifier at 32 trains in about a quarter of the time; its "
                        "held-out accuracy is in the summary")
    p.add_argument("--per-class", type=int, default=8, help="samples shown per class in the figure")
    p.add_argument("--batch-size", type=int, default=256, help="samples per G forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    print(f"{line(s)}; wrote {ctx.out}")
    for w in s["coverage_warning"]:
        print(f"warning: {w}")
    return 0
