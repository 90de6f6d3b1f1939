"""gan-viz directions: latent directions four ways (exemplar means, InterFaceGAN, GANSpace, SeFa), one held-out judge.

The work is the registered runner :func:`gan_viz.analyses.directions.run.run`; this module
parses the options and prints a digest (:func:`gan_viz.analyses.directions.lines`).
"""

from __future__ import annotations

from ..analyses import directions as DR
from ..instruments import record_line
from .common import add_common, add_segmenter
from .latent_walk import add_parser_option
from .runner import run_analysis

NAME = DR.NAME
HELP = ("directions in z by exemplar means (paper Figs. 7-8), InterFaceGAN, GANSpace and SeFa, judged on fresh z "
        "by a held-out judge against random directions: effect curves, entanglement, method agreement")
EXAMPLES = ["gan-viz directions --out out/directions  # window, bed, door on the bundled rooms model",
            "gan-viz directions --concepts window --methods interfacegan,sefa --out out/dir_window",
            "gan-viz directions --layer G.relu2 --components 8 --out out/dir_relu2",
            "gan-viz directions --model-def mine.py:build --segmenter seg.py:build --judge seg2.py:build "
            "--concepts tree --out out/dir_mine",
            "gan-viz directions --model-def mine.py:build --out out/dir_unsupervised  # no instrument: SeFa, GANSpace"]


def add_arguments(p):
    add_common(p)
    add_segmenter(p)
    p.add_argument("--concepts", default=None, metavar="LIST",
                   help=f"classes to find directions for (default {','.join(DR.DEFAULT_CONCEPTS)} where the "
                        "instrument knows them, else every class but its first)")
    p.add_argument("--methods", default=",".join(DR.METHODS), help="comma list of " + ", ".join(DR.METHODS))
    p.add_argument("--n-find", type=int, default=1000, help="samples the directions are found on (default 1000)")
    p.add_argument("--share", type=float, default=0.2,
                   help="top / bottom share of the finding samples per concept (default 0.2)")
    p.add_argument("--val-share", type=float, default=0.2,
                   help="share of each group held out to validate the SVM (default 0.2)")
    p.add_argument("--exemplars", type=int, default=None,
                   help="exemplar means over the K most extreme samples of each group (the paper: 3; default: all)")
    p.add_argument("--svm-c", type=float, default=0.1, help="InterFaceGAN's linear SVM C (default 0.1)")
    p.add_argument("--components", type=int, default=6, help="GANSpace / SeFa directions (default 6)")
    p.add_argument("--layer", default=None, help="GANSpace's G layer (default: G's first layer; see gan-viz layers)")
    p.add_argument("--t", type=float, default=None,
                   help="walk from -t to +t along each unit direction (default 2 standard deviations of z along "
                        "a direction: 2 for normal z, 1.15 for uniform z)")
    p.add_argument("--steps", type=int, default=5, help="alphas from -t to +t, odd (default 5)")
    p.add_argument("--random", type=int, default=10,
                   help="random unit directions (at least 6), also walked negated (default 10)")
    p.add_argument("--eval-samples", type=int, default=200, help="fresh samples the judge reads (default 200)")
    p.add_argument("--grid-rows", type=int, default=4, help="samples shown along each direction (default 4)")
    p.add_argument("--judge", default=None, metavar="JUDGE",
                   help="held-out judge: FILE.py:FUNC (your second segmenter), rooms-b, or none (default: the second "
                        "rooms parser where the rooms parser selects; with none, or a segmenter of yours without a "
                        "second one, the selecting instrument judges and every output says so)")
    add_parser_option(p)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    for line in DR.lines(s):
        print(line)
    print(record_line(s["instrument"]))
    print(f"wrote {ctx.out}")
    return 0
