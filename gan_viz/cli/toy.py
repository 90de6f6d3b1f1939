"""gan-viz toy: a 1-D / 2-D MLP GAN, its D against the optimal D*, and the two G losses."""

from __future__ import annotations

import torch

from ..analyses import toy as T
from ..analyses import toy_plots as TP
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
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
    p.add_argument("--data", default="gauss1d", help=f"toy data: {', '.join(T.DATASETS)} (default: gauss1d)")
    p.add_argument("--g-loss", default="non-saturating", choices=T.G_LOSSES,
                   help="G loss shown in the Fig. 1 panels; both are trained from the same seed "
                        "(default: non-saturating, as in the paper)")
    p.add_argument("--steps", type=int, default=2000, help="training steps of each run (default: 2000)")
    p.add_argument("--fit-steps", type=int, default=1500,
                   help="D updates against the frozen final G before comparing with D* (default: 1500)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1; results depend on it)")


def run(args) -> int:
    T.get_data(args.data)  # validate before writing anything
    if args.steps < 1 or args.fit_steps < 1:
        raise UserError("--steps and --fit-steps must be at least 1")
    if args.threads < 1:
        raise UserError("--threads must be at least 1")
    out = prepare_out(args, device="cpu")
    old = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = T.compute_toy(args.data, args.g_loss, args.steps, args.seed, args.fit_steps, progress=True)
    finally:
        torch.set_num_threads(old)
    figures = []
    for name, plot in TP.FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, name)]
    summary = T.summary_of(result)
    summary["figures"] = figures
    write_npz(out / "arrays.npz", **T.arrays_of(result))
    write_json(out / "summary.json", summary)
    g = summary["g_loss"]
    ns, sa = g["non_saturating"], g["saturating"]
    print(f"{args.data}: d_star_mae {summary['d_star_mae']:.3f}; distance to p_data after {args.steps} steps "
          f"(mean over the last quarter): non-saturating {ns['distance_final']:.3f} "
          f"({ns['distance_mean_last_quarter']:.3f}), saturating {sa['distance_final']:.3f} "
          f"({sa['distance_mean_last_quarter']:.3f}); wrote {out}")
    return 0
