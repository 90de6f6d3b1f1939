"""ToyResult -> summary.json's figures of merit (``d_star_mae``, ``g_loss``) and the console line."""

from __future__ import annotations

import numpy as np

from .compute import ToyResult
from .density import SUPPORT
from .measures import COVER_SHARE, HQ_SIGMAS, N_SLICES
from .train import ToyTrace


def summary_of(r: ToyResult) -> dict:
    """The figures of merit (``d_star_mae``, ``g_loss``), JSON-ready."""
    def one(t: ToyTrace) -> dict:
        k = max(1, len(t.d_fake) // 10)
        q = max(1, len(t.dist) // 4)
        return {"distance_final": float(t.dist[-1]), "distance_min": float(t.dist.min()),
                "distance_mean_last_quarter": float(t.dist[-q:].mean()),
                "modes_covered_final": int(t.modes[-1]), "high_quality_share_final": float(t.hq[-1]),
                "mean_d_fake_first_10pct": float(t.d_fake[:k].mean()),
                "median_g_grad_norm_first_10pct": float(np.median(t.g_grad_norm[:k])),
                "median_g_grad_norm_last_10pct": float(np.median(t.g_grad_norm[-k:]))}

    tr = r.traces[r.main]
    return {"data": r.data.name, "modes": len(r.data.means), "seed": r.seed, "steps": r.steps, "main_g_loss": r.main,
            "d_star_mae": r.d_star_mae, "d_star_mae_before_fit": r.d_star_mae_before_fit,
            "d_where_p_g_equals_p_data": r.d_where_equal, "theory_d_where_equal": 0.5,
            "support_threshold": f"p_data + p_g > {SUPPORT} * max", "kde_smoothing_std": r.bandwidth,
            "distance": "wasserstein1" if r.data.dim == 1 else f"sliced_wasserstein1 ({N_SLICES} directions)",
            "mode_rule": f"high quality: within {HQ_SIGMAS:g} std of the nearest mode; covered: "
                         f">= {COVER_SHARE:g} x fair share of high-quality samples",
            "g_loss": {k.replace("-", "_"): one(t) for k, t in r.traces.items()},
            "modes_covered_curve": tr.modes.tolist(), "eval_steps": tr.eval_steps.tolist()}


def line(s: dict, out) -> str:
    """What ``gan-viz toy`` prints of a summary written to ``out``."""
    ns, sa = s["g_loss"]["non_saturating"], s["g_loss"]["saturating"]
    return (f"{s['data']}: d_star_mae {s['d_star_mae']:.3f}; distance to p_data after {s['steps']} steps "
            f"(mean over the last quarter): non-saturating {ns['distance_final']:.3f} "
            f"({ns['distance_mean_last_quarter']:.3f}), saturating {sa['distance_final']:.3f} "
            f"({sa['distance_mean_last_quarter']:.3f}); wrote {out}")
