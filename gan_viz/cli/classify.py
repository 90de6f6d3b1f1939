"""gan-viz classify: D features + a linear L2-SVM (the paper's Table 1), beside a random D and raw pixels."""

from __future__ import annotations

from ..analyses.classify import C_GRID, line
from ..analyses.classify.run import NAME
from ..data.labelled import ROOMS_ATTRIBUTES
from .common import add_common, add_data
from .runner import run_analysis

HELP = ("the discriminator as a feature extractor (Table 1): D features max-pooled to 4x4 + linear L2-SVM, "
        "vs the same D freshly initialised and raw pixels")
EXAMPLES = ["gan-viz classify --dataset rooms --attribute time_of_day --labels 200 --out out/classify_tod",
            "gan-viz classify --ckpt runs/digits/checkpoints/last.pt --dataset digits --labels 100 --draws 10 "
            "--out out/classify_digits",
            "gan-viz classify --ckpt runs/mnist/checkpoints/last.pt --dataset mnist --data-root ~/data "
            "--labels 1000 --out out/classify_mnist"]


def add_arguments(p):
    add_common(p)
    add_data(p, "labelled dataset: digits, rooms, mnist, fashion-mnist, cifar10, folder (one sub-folder per "
                "class) (default: the model's)")
    p.add_argument("--attribute", default=None, choices=list(ROOMS_ATTRIBUTES),
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
    p.add_argument("--C-grid", default=",".join(str(c) for c in C_GRID), metavar="C1,C2,...",
                   help="SVM C values tried on the validation split (default: %(default)s)")
    p.add_argument("--layers", default=None, metavar="L1,L2",
                   help="D layers to read, dotted names as `gan-viz layers` prints them (default: every "
                        "rectifier module, i.e. every conv block: lrelu1,... or main.1,main.4,...)")
    p.add_argument("--batch-size", type=int, default=256, help="images per D forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    print(f"{line(s)}; wrote {ctx.out}")
    return 0
