"""gan-viz guided-backprop: Fig. 5, guided backprop of D's filters, random vs trained.

The work is the registered runner :func:`gan_viz.analyses.guided_backprop.run.run`; this
module parses its options (argparse dest names = the runner's option names) and prints a digest.
"""

from __future__ import annotations

from ..analyses.guided_backprop import RULES, lines
from ..analyses.guided_backprop.run import NAME
from .common import add_common, add_data
from .runner import run_analysis

HELP = "guided backprop of D's filters on their top images, random vs trained (paper Fig. 5)"
EXAMPLES = ["gan-viz guided-backprop --out out/fig5",
            "gan-viz guided-backprop --filters all --top 9 --images 5000 --out out/fig5_all",
            "gan-viz guided-backprop --ckpt netD_epoch_24.pth --source generated --rule relu --out out/fig5_pt",
            "gan-viz guided-backprop --model-def mymodel.py:build --dataset folder --data-root imgs/ "
            "--layer D.features.7 --out out/fig5_mine"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="D layer whose filters to show, by the dotted name `gan-viz layers` prints (default: "
                        "the activation that feeds D's last convolution or Linear head, e.g. D.lrelu4 at "
                        "64x64, D.main.10 for a PyTorch examples D)")
    p.add_argument("--filters", default=None, metavar="LIST",
                   help="filters: 0-5, 1,4,7 or all (default: the first 6, as the paper)")
    p.add_argument("--top", type=int, default=8, metavar="K", help="images per filter (default 8)")
    p.add_argument("--images", type=int, default=1000, metavar="N", help="images scanned (default 1000)")
    p.add_argument("--source", default="auto", choices=["auto", "real", "generated"],
                   help="real test images of --dataset (default: the model's own), generated ones, or auto "
                        "(real where available)")
    add_data(p, "real dataset to scan (default: the one the checkpoint records), e.g. folder with --data-root")
    p.add_argument("--rule", default="leaky", choices=list(RULES),
                   help="backward rule through the rectifier modules: leaky = positive gradients times the "
                        "LeakyReLU slope (default), relu = as if ReLUs, plain = the unguided gradient")
    p.add_argument("--random-seed", type=int, default=0,
                   help="seed of the random-filter baseline's init (default 0)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward/backward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)  # bad input: one line, and no output folder left behind
    for line in lines(s):
        print(line)
    print(f"wrote {ctx.out}")
    return 0
