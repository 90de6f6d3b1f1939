"""gan-viz latent-walk: Fig. 4, a walk through random points of z, as a grid, a GIF and an MP4, measured.

The work is the registered runner :func:`gan_viz.analyses.latent_walk.run.run`; this module
parses the options and prints a digest (:func:`gan_viz.analyses.latent_walk.lines`).
"""

from __future__ import annotations

from ..analyses.latent_walk import EVENT, INTERPS, lines
from ..analyses.latent_walk.run import NAME
from .common import add_common, add_segmenter
from .runner import run_analysis

HELP = "walk through random points of z (paper Fig. 4): grid, GIF, MP4, image change per step, sharp transitions"
EXAMPLES = ["gan-viz latent-walk --out out/fig4",
            "gan-viz latent-walk --points 9 --steps 16 --interp slerp --seed 3 --out out/fig4_slerp",
            "gan-viz latent-walk --ckpt netG_epoch_24.pth --z anchors.npy --no-video --out out/walk",
            "gan-viz latent-walk --direction out/directions/arrays.npz:window/interfacegan --out out/walk_window",
            "gan-viz latent-walk --model-def mine.py:build --segmenter seg.py:build --out out/walk_mine"]


def add_arguments(p):
    add_common(p)
    add_segmenter(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--points", type=int, default=None, help="random anchor points of z (default 9, as the paper)")
    src.add_argument("--z", default=None, metavar="FILE.npy", help="anchor points from a file, shape (P, nz)")
    p.add_argument("--direction", default=None, metavar="FILE.npz:KEY",
                   help="walk along a direction (e.g. gan-viz directions' arrays.npz:window/interfacegan, or a "
                        "FILE.npy vector) through --points points from one random z, linearly")
    p.add_argument("--span", type=float, default=2.0,
                   help="with --direction: from -SPAN to +SPAN standard deviations of z along it (default 2)")
    p.add_argument("--steps", type=int, default=8, help="frames per segment between two anchors (default 8)")
    p.add_argument("--interp", default="auto", choices=("auto",) + INTERPS,
                   help="linear, or slerp (great circle, norm interpolated); auto = slerp for normal z, "
                        "linear for uniform z (the paper's cube) (default auto)")
    p.add_argument("--sharp-factor", type=float, default=3.0,
                   help="a step is sharp when its image change exceeds this many median steps (default 3)")
    p.add_argument("--event-threshold", type=float, default=EVENT,
                   help=f"with an instrument: a class moving by this fraction of the image in one step is an "
                        f"abrupt change (default {EVENT})")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of the GIF and MP4 (default 8)")
    p.add_argument("--scale", type=int, default=None,
                   help="enlarge video frames this many times (default: to about 256 pixels)")
    p.add_argument("--no-video", action="store_true", help="skip the GIF and the MP4")
    add_parser_option(p)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def add_parser_option(p) -> None:
    p.add_argument("--parser", default=None, metavar="WEIGHTS",
                   help="rooms scene parser weights, where the rooms parser is the instrument (default: the "
                        "shipped parser; it applies to models of the rooms domain, or with --segmenter rooms)")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    for line in lines(s):
        print(line)
    print(f"wrote {ctx.out}")
    return 0
