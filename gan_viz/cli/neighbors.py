"""gan-viz neighbors: nearest training images of samples (pixel and D-feature space), memorisation score."""

from __future__ import annotations

from ..analyses.neighbors import CELLS, QUANTILE, line, note_lines
from ..analyses.neighbors.run import NAME
from .common import add_common, add_data
from .runner import run_analysis

HELP = ("nearest training images of generated samples in pixel and D-feature space; memorisation score "
        "against held-out real images")
EXAMPLES = ["gan-viz neighbors --out out/neighbors",
            "gan-viz neighbors --ckpt runs/digits/checkpoints/last.pt --n-train 0 --out out/nn_digits",
            "gan-viz neighbors --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/nn",
            "gan-viz neighbors --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms "
            "--heldout-root ~/bedrooms_never_trained --out out/nn"]


def add_arguments(p):
    add_common(p)
    add_data(p, "training data searched (default: the model's)")
    p.add_argument("--n", type=int, default=256, help="generated samples (default: 256)")
    p.add_argument("--n-train", type=int, default=0,
                   help="training images searched: 0 = all the model was trained on (default), or a random "
                        "subset of this many (the summary states train_searched and train_size)")
    p.add_argument("--n-heldout", type=int, default=1000, help="held-out real images (reference; default: 1000)")
    p.add_argument("--heldout-root", default=None, metavar="DIR",
                   help="a folder of images G never saw, the held-out reference (then the whole training data "
                        "is searched); without it a folder's held-out images are a part of it that G trained on: "
                        "the memorisation score is a lower bound and C_T is absent")
    p.add_argument("--k", type=int, default=3, help="neighbours shown per sample and space (default: 3)")
    p.add_argument("--quantile", type=float, default=QUANTILE,
                   help="held-out distance quantile used as memorisation threshold (default: %(default)s)")
    p.add_argument("--cells", type=int, default=CELLS,
                   help="k-means cells of the data-copying test C_T (Meehan et al. 2020); 0 = no test "
                        "(default: %(default)s)")
    p.add_argument("--spaces", default="pixel,D", help="pixel, D or pixel,D (default: %(default)s)")
    p.add_argument("--show", type=int, default=8, help="samples per figure (default: 8)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    for text in note_lines(s):
        print(text)
    print(f"{line(s)}; wrote {ctx.out}")
    return 0
