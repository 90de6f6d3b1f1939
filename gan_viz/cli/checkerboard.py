"""gan-viz checkerboard: power spectrum of generated vs real images, checkerboard score per G layer."""

from __future__ import annotations

from ..analyses.checkerboard import line
from ..analyses.checkerboard.run import NAME
from .common import add_common, add_data
from .runner import run_analysis

HELP = ("mean power spectrum of generated vs real images and a checkerboard score per G upsampling layer "
        "(Odena et al. 2016)")
EXAMPLES = ["gan-viz checkerboard --out out/checkerboard",
            "gan-viz checkerboard --ckpt runs/rooms_nn/checkpoints/last.pt --out out/cb_nearest",
            "gan-viz checkerboard --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/cb"]


def add_arguments(p):
    add_common(p)
    p.add_argument("--n", type=int, default=512, help="generated and real images averaged (default: 512)")
    add_data(p, "real images: the model's dataset by default (required where the checkpoint does not record it)")
    p.add_argument("--no-real", action="store_true", help="skip real images (generated spectrum only)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    print(f"{line(s)}; wrote {ctx.out}")
    return 0
