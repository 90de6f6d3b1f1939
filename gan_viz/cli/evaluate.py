"""gan-viz evaluate: Frechet distance, KID, precision/recall, density/coverage with their real-vs-real control."""

from __future__ import annotations

from .common import add_common, add_data
from .runner import run_analysis

NAME = "evaluate"
HELP = ("how good is this generator: Frechet distance, KID, precision/recall (k=3), density/coverage (k=5) of "
        "generated vs real images in the rooms parser's, D's or your own feature space, with bootstrap intervals "
        "and a real-vs-real control at the same N")
EXAMPLES = ["gan-viz evaluate --out out/evaluate",
            "gan-viz evaluate --ckpt netG_epoch_24.pth --dataset folder --data-root ~/bedrooms --out out/eval",
            "gan-viz evaluate --features D,myfeats.py:build --n 2000 --out out/eval_mine"]


def add_arguments(p):
    add_common(p)
    add_data(p, "real images (test split): the model's dataset by default (required where the checkpoint does "
                "not record it)")
    p.add_argument("--n", type=int, default=1000,
                   help="generated images, and images in each of the two disjoint real sets (default: 1000)")
    p.add_argument("--features", default="auto", metavar="auto|parser|D|inception|FILE.py:FUNC",
                   help="feature spaces, comma-separated: parser (the rooms parser, where it applies), D (the model's "
                        "discriminator), FILE.py:FUNC (FUNC() returns images -> (N, F) features); auto: parser "
                        "where it applies and D where the model has one (default); inception: torchvision's "
                        "inception_v3 with --inception-weights (never downloaded)")
    p.add_argument("--bootstraps", type=int, default=100, help="bootstrap replicates for the intervals (default: 100)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default: 100)")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="images per side in a KID subset (default: 1000)")
    p.add_argument("--d-pool", type=int, default=1,
                   help="D features: each block max-pooled to this grid side (default: 1, global max)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="a local torchvision inception_v3 state dict for --features inception (not TF's FID "
                        "Inception: its values are not comparable with published FIDs)")


def run(args) -> int:
    from ..analyses.evaluate.summary import lines

    ctx, s = run_analysis(args, "evaluate")
    for note in s.get("notes") or []:
        print(f"note: {note}")
    for k, v in (s.get("absent") or {}).items():
        print(f"{k} features: not measured ({v})")
    print(f"evaluate: {s['n']} generated vs {s['n']} real ({s['dataset']}); real vs real at the same N")
    for line in lines(s):
        print(f"  {line}")
    print(f"wrote {ctx.out}")
    return 0
