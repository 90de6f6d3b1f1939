"""gan-viz filters: dead, near-duplicate and oscillating filters over a training run's checkpoints."""

from __future__ import annotations

from ..analyses.filters import Thresholds, line
from ..analyses.filters.run import Options, resolve_inputs, run_filters
from .common import add_out, add_seed, prepare_out

NAME = "filters"
HELP = ("flag dead, near-duplicate and oscillating filters of G and D in every numbered checkpoint "
        "of a training run (paper section 7)")
EXAMPLES = ["gan-viz filters --run runs/rooms32 --out out/filters",
            "gan-viz filters --run runs/rooms32 --dup-threshold 0.9 --real 0 --out out/filters_gen"]


def add_arguments(p):
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a `gan-viz train` output folder")
    add_out(p)
    add_seed(p)
    p.add_argument("--n", type=int, default=128, help="latent codes G is run on (default: 128)")
    p.add_argument("--real", type=int, default=64,
                   help="real test images of the run's dataset added to D's inputs (default: 64; 0 = none)")
    p.add_argument("--dup-threshold", type=float, default=0.95,
                   help="weight cosine / activation correlation above which two filters are near-duplicates")
    p.add_argument("--osc-threshold", type=float, default=0.5,
                   help="successive weight deltas with cosine below minus this count as a reversal")
    p.add_argument("--dead-rel", type=float, default=1e-3,
                   help="dead: activation std at most this fraction of the layer's median")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def run(args) -> int:
    o = Options(run=args.run, n=args.n, real=args.real, seed=args.seed,
                thresholds=Thresholds(args.dead_rel, args.dup_threshold, args.osc_threshold), threads=args.threads)
    inputs = resolve_inputs(o)
    out = prepare_out(args, run=str(args.run), checkpoints=[str(p) for _, p in inputs.checkpoints])
    print(line(run_filters(out, inputs, o), out))
    return 0
