"""gan-viz arithmetic: vector arithmetic on z (Fig. 7) and directions (Fig. 8), measured with an instrument.

The work is the registered runner :func:`gan_viz.analyses.arithmetic.run.run`; this module
parses the options and prints a digest (:func:`gan_viz.analyses.arithmetic.lines`).
"""

from __future__ import annotations

from ..analyses import arithmetic as A
from ..instruments import record_line
from .common import add_common, add_segmenter
from .latent_walk import add_parser_option
from .runner import run_analysis

NAME = A.NAME
HELP = "vector arithmetic on mean z of exemplars (paper Fig. 7) and concept directions (Fig. 8), measured"
EXAMPLES = ["gan-viz arithmetic --out out/fig7  # the default analogy on the bundled rooms model",
            'gan-viz arithmetic --expr "A - B + C" --A 12,40,77 --B 3,9,21 --C 5,6,30 --out out/fig7_index',
            'gan-viz arithmetic --expr "A - B + C" --concepts A=window+bed,B=no-window+bed,C=no-window+no-bed '
            '--draws 50 --out out/fig7_beds',
            'gan-viz arithmetic --expr "A - B + C" --concepts A=window,B=no-window,C=no-window '
            '--direction "A - B" --out out/fig7_windows',
            'gan-viz arithmetic --z out/samples/z.npy --direction "A - B" --A 1,2,3,4 --B 5,6,7,8 --out out/fig8',
            'gan-viz arithmetic --model-def mine.py:build --segmenter seg.py:build --expr "A - B + C" '
            '--concepts A=tree,B=no-tree,C=no-tree --out out/fig7_mine']


def add_arguments(p):
    add_common(p)
    add_segmenter(p)
    p.add_argument("--expr", default=None, help='arithmetic on concepts A-H, e.g. "A - B + C" or "2*A - 0.5*B" (Fig. 7); '
                        'one starting with a minus needs \'=\': --expr="-A + B". Without --expr, --direction, '
                        f'--concepts and --A..--H: the default analogy {A.DEFAULT_EXPR} on {A.DEFAULT_CONCEPTS} '
                        f'(direction {A.DEFAULT_DIRECTION}), where the instrument knows doors and pictures')
    for n in A.NAMES:
        p.add_argument(f"--{n}", default=None, metavar="LIST", help=f"exemplars of concept {n}: sheet indices "
                       "like 12,40,77" if n == "A" else "the same for concept " + n)
    p.add_argument("--concepts", default=None, metavar="SPEC",
                   help="pick exemplars with the instrument (the rooms parser for rooms models, or --segmenter), "
                        "e.g. A=window,B=no-window,C=no-window (most window pixels / no window pixels in the sheet); "
                        "a concept may combine classes: A=window+bed,B=no-window+bed,C=no-window+no-bed")
    p.add_argument("--exemplars", type=int, default=3, help="exemplars per instrument-picked concept (default 3)")
    sheet = p.add_mutually_exclusive_group()
    sheet.add_argument("--samples-seed", type=int, default=0,
                       help="the sample sheet is `gan-viz samples` (or generate) --n N --seed S (default seed 0)")
    sheet.add_argument("--z", default=None, metavar="FILE.npy", help="the sample sheet: rows of this z file")
    sheet.add_argument("--manifest", default=None, metavar="FILE.json",
                       help="the sample sheet: the manifest.json written by gan-viz samples (its z, by index)")
    p.add_argument("--samples-n", type=int, default=None,
                   help=f"samples on the sheet (default {A.SHEET_N}, as gan-viz samples; {A.SHEET_N_CONCEPTS} with "
                        "--concepts, so that rarer concepts find exemplars)")
    p.add_argument("--noise", type=float, default=0.25, help="uniform noise half-width added to Y (default 0.25)")
    p.add_argument("--noisy", type=int, default=8, help="noisy samples around Y (default 8)")
    p.add_argument("--direction", default=None, metavar="EXPR", help='a direction "A - B": mean z of A minus mean z of B')
    p.add_argument("--direction-exemplars", type=int, default=None,
                   help="exemplars per instrument-picked group of the direction (default: --exemplars)")
    p.add_argument("--alphas", default=A.DEFAULT_ALPHAS, help="multiples of the direction walked; 0 and 1 are always "
                   f"added; a list starting with a minus needs '=': --alphas=-2,-1,1,2 (default {A.DEFAULT_ALPHAS})")
    p.add_argument("--walk-rows", type=int, default=4, help="samples walked along the direction (default 4)")
    p.add_argument("--eval-samples", type=int, default=200, help="samples measured along the direction (default 200)")
    p.add_argument("--controls", type=int, default=3, help="random directions of the same norm (default 3)")
    p.add_argument("--measure", default=None, metavar="CLASS",
                   help="instrument class to measure (default: the class of --concepts, else window)")
    p.add_argument("--min-fraction", type=float, default=A.PRESENT,
                   help=f"an instrument-picked sample 'has' a class from this pixel fraction (default {A.PRESENT})")
    p.add_argument("--absent-fraction", type=float, default=A.ABSENT,
                   help=f"an instrument-picked sample lacks a class below this pixel fraction (default {A.ABSENT})")
    p.add_argument("--draws", type=int, default=100,
                   help="independent exemplar draws from the sheet over which the analogy's success is measured "
                        "(with --concepts; 1 and 3 exemplars per concept, pixel space, random direction; default 100)")
    add_parser_option(p)
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    for line in A.lines(s):
        print(line)
    print(record_line(s["instrument"]))
    print(f"wrote {ctx.out}")
    return 0
