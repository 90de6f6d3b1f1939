"""gan-viz toy: a 1-D / 2-D MLP GAN, its D against the optimal D*, and the two G losses."""

from __future__ import annotations

from ..analyses.toy import DATASETS, G_LOSSES, line
from ..analyses.toy.run import Options, run_toy
from .common import add_out, add_seed, prepare_out

NAME = "toy"
HELP = ("train a tiny MLP GAN on 1-D/2-D data (seconds, CPU): Goodfellow's Fig. 1 over training, "
        "D vs the optimal D*, saturating vs non-saturating G loss, mode coverage")
EXAMPLES = ["gan-viz toy --out out/toy",
            "gan-viz toy --data ring2d --steps 3000 --out out/toy_ring",
            "gan-viz toy --data mixture1d --g-loss saturating --out out/toy_sat"]


def add_arguments(p):
    add_out(p)
    add_seed(p)
    p.add_argument("--data", default="gauss1d", help=f"toy data: {', '.join(DATASETS)} (default: gauss1d)")
    p.add_argument("--g-loss", default="non-saturating", choices=G_LOSSES,
                   help="G loss shown in the Fig. 1 panels; both are trained from the same seed "
                        "(default: non-saturating, as in the paper)")
    p.add_argument("--steps", type=int, default=2000, help="training steps of each run (default: 2000)")
    p.add_argument("--fit-steps", type=int, default=1500,
                   help="D updates against the frozen final G before comparing with D* (default: 1500)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1; results depend on it)")


def run(args) -> int:
    o = Options(data=args.data, g_loss=args.g_loss, steps=args.steps, fit_steps=args.fit_steps, seed=args.seed,
                threads=args.threads)
    out = prepare_out(args, device="cpu")
    print(line(run_toy(out, o), out))
    return 0
