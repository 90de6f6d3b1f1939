"""gan-viz filters: dead, near-duplicate and oscillating filters over a training run's checkpoints."""

from __future__ import annotations

import numpy as np
import torch

from ..analyses import filters as F
from ..checkpoint import load_subject
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
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


def _real(path, n: int, seed: int) -> tuple[torch.Tensor | None, str]:
    """Up to n held-out real images of the run's dataset, or None and why not."""
    from ..data import build_dataset

    if n == 0:
        return None, "--real 0"
    S = load_subject(path)
    if S.domain is None:
        return None, "the checkpoint records no dataset"
    try:
        ds = build_dataset(S.domain, S.image_size, S.nc, "test", (S.train_config or {}).get("data_root"))
    except UserError as e:
        return None, f"real images unavailable ({e})"
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    x = ds.get_batch(idx) if hasattr(ds, "get_batch") else torch.stack([ds[int(i)][0] for i in idx])
    return x.float(), f"{len(idx)} real test images of {S.domain}"


def run(args) -> int:
    th = F.Thresholds(args.dead_rel, args.dup_threshold, args.osc_threshold)
    if args.n < 2 or args.real < 0:
        raise UserError("--n must be at least 2 and --real at least 0")
    ckpts = F.find_checkpoints(args.run)
    if args.threads:
        torch.set_num_threads(args.threads)
    real, real_note = _real(ckpts[0][1], args.real, args.seed)
    out = prepare_out(args, run=str(args.run), checkpoints=[str(p) for _, p in ckpts])
    result = F.compute_filters(ckpts, args.n, args.seed, real, th, progress=True)
    figures = []
    for name, plot in F.FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, name)]
    summary = F.summary_of(result)
    summary.update(run=str(args.run), real_images=real_note, figures=figures)
    write_json(out / "summary.json", summary)
    arrays = dict(result.arrays)
    for kind in F.KINDS:
        arrays[f"count_{kind}"] = F.counts(result, kind)  # (T, L)
    write_npz(out / "arrays.npz", **arrays)
    tot = summary["flagged_at_last_checkpoint"]
    print(f"{len(ckpts)} checkpoints (steps {result.steps[0]}..{result.steps[-1]}): at the last one "
          f"{tot['dead']} dead, {tot['duplicate']} near-duplicate filters; {tot['oscillating']} oscillating "
          f"over the run; wrote {out}")
    return 0
