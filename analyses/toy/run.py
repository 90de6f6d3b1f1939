"""What ``gan-viz toy`` calls (not a registered analysis: it trains its own tiny GAN, no subject).

:class:`Options` are the command's options; :func:`run_toy` trains with ``threads`` CPU threads
(restored after) and writes toy_training, toy_d_star, toy_g_loss and toy_modes (PNG + PDF),
arrays.npz and summary.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_viz.errors import UserError

from .compute import ToyResult, compute_toy
from .data import get_data
from .plot import FIGURES
from .summary import summary_of


@dataclass(frozen=True)
class Options:
    """The command's options, checked on creation (before anything is written)."""

    data: str = "gauss1d"  # a name of DATASETS
    g_loss: str = "non-saturating"  # shown in the Fig. 1 panels; both losses are trained
    steps: int = 2000  # training steps of each run
    fit_steps: int = 1500  # D updates against the frozen final G
    seed: int = 0
    threads: int = 1  # CPU threads (results depend on it)

    def __post_init__(self):
        get_data(self.data)
        if self.steps < 1 or self.fit_steps < 1:
            raise UserError("--steps and --fit-steps must be at least 1")
        if self.threads < 1:
            raise UserError("--threads must be at least 1")


def arrays_of(r: ToyResult) -> dict[str, np.ndarray]:
    out = {"grid": r.grid, "p_data": r.p_data, "p_g": r.p_g, "d_star": r.d_star, "d_fit": r.d_fit,
           "mask": r.mask, "seed": np.array(r.seed), "data_means": r.data.means, "data_std": np.array(r.data.std)}
    for k, t in r.traces.items():
        p = k.replace("-", "_")
        for name in ("loss_d", "loss_g", "d_fake", "g_grad_norm", "eval_steps", "dist", "modes", "hq",
                     "snap_steps", "snap_samples", "snap_p_g", "snap_d"):
            out[f"{p}_{name}"] = getattr(t, name)
    return out


def run_toy(out: Path, o: Options) -> dict:
    """Train, fit and write the figures, arrays.npz and summary.json into ``out`` (an existing folder);
    returns the summary."""
    from gan_viz.io import save_figure, write_json, write_npz

    old = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    try:
        result = compute_toy(o.data, o.g_loss, o.steps, o.seed, o.fit_steps, progress=True)
    finally:
        torch.set_num_threads(old)
    figures = []
    for name, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, name)]
    summary = summary_of(result)
    summary["figures"] = figures
    write_npz(out / "arrays.npz", **arrays_of(result))
    write_json(out / "summary.json", summary)
    return summary


__all__ = ["Options", "arrays_of", "run_toy"]
