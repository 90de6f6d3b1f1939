"""gan-viz filter-audit: what did the filters learn? Random vs trained, every conv layer of D and G.

The work is the registered runner :func:`gan_viz.analyses.filter_audit.run.run`; this module
parses the options and prints a digest.
"""

from __future__ import annotations

from ..analyses.filter_audit import IOU_THRESHOLD, TOP_FRACTION, lines
from ..analyses.filter_audit.run import NAME
from .common import add_common, add_data, add_segmenter
from .runner import run_analysis

HELP = "what did the filters learn: Network Dissection IoU with object masks, selectivity, weights (random vs trained)"
EXAMPLES = ["gan-viz filter-audit --out out/audit",
            "gan-viz filter-audit --nets D --images 2000 --out out/audit_d",
            "gan-viz filter-audit --ckpt netD_epoch_24.pth --masks my_masks.npz --dataset folder --data-root data "
            "--out out/audit_pt",
            "gan-viz filter-audit --model-def mine.py:build --segmenter seg.py:build --nets G --out out/audit_mine"]


def add_arguments(p):
    add_common(p)
    add_data(p, "real dataset for D's images (default: the model's own), e.g. folder with --data-root")
    add_segmenter(p)
    p.add_argument("--nets", default="D,G", help="networks to audit: D, G or D,G (default D,G; G needs its weights)")
    p.add_argument("--images", type=int, default=500, metavar="N", help="images (and latent codes for G) scanned")
    p.add_argument("--source", default="auto", choices=["auto", "real", "generated"],
                   help="D's images: real test images of --dataset (default: the model's own), generated, or auto")
    p.add_argument("--masks", default=None, metavar="FILE.npz",
                   help="class masks for D's real images: 'masks' (N, H, W) ints, one per test image in order, "
                        "and 'class_names' (K,)")
    p.add_argument("--parser", default=None, metavar="PATH",
                   help="rooms scene parser weights, where the rooms parser is the instrument (default: the "
                        "shipped parser); 'none' for no instrument")
    p.add_argument("--iou-threshold", type=float, default=IOU_THRESHOLD,
                   help=f"IoU a filter needs to be labelled with a class (default {IOU_THRESHOLD})")
    p.add_argument("--top-fraction", type=float, default=TOP_FRACTION,
                   help=f"share of each filter's activations above its threshold (default {TOP_FRACTION})")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random-filter baselines' init")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass")


def run(args) -> int:
    ctx, summary = run_analysis(args, NAME)
    for line in lines(summary):
        print(line)
    print(f"wrote {ctx.out}")
    return 0
