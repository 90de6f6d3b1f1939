"""Generated vs real features in each feature space, beside the real-vs-real control at the same N.

For every feature space: the model's metrics (generated set against real set A) and the
control's (real set B against real set A), where A and B are disjoint real sets of the same
size as the generated set (never halves). Both comparisons share the reference A and the
bootstrap seed, so a metric's bias at this N (the Frechet distance and KID grow as N shrinks;
precision and recall fall as the feature dimension grows) is the same on both lines: the
control is what the same metric says of real images.

Example:
    >>> r = compute_evaluate({"D features": (gen, real_a, real_b)}, bootstraps=50, seed=0)
    >>> r.model["D features"]["frechet"]["value"], r.control["D features"]["frechet"]["value"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from gan_viz import metrics as M
from gan_viz.errors import UserError


@dataclass(frozen=True)
class EvaluateResult:
    """Per feature space: the model's and the control's ``{metric: {value, low, high}}``."""

    spaces: tuple  # feature space names, in order
    dims: dict  # space -> feature dimension F
    n: int  # images per set (generated, real A, real B)
    model: dict  # space -> metric -> {value, low, high}: generated vs real A
    control: dict  # space -> metric -> {value, low, high}: real B vs real A
    options: dict  # bootstraps, level, kid_subsets, kid_subset_size, k_pr, k_dc, seed
    frechet_info: dict = field(default_factory=dict)  # space -> {"model": info, "control": info}
    features: dict = field(default_factory=dict)  # space -> (gen (N, F), real_a (N, F), real_b (N, F))


def compute_space(gen: np.ndarray, real_a: np.ndarray, real_b: np.ndarray, *, what: str = "features",
                  **options) -> tuple[dict, dict]:
    """(model, control) metrics of one feature space: ``compare(real_a, gen)``, ``compare(real_a, real_b)``.

    Args:
        gen, real_a, real_b: (N, F) each, the same N (the control is at the model's N).
        options: :func:`gan_viz.metrics.compare`'s keywords (bootstraps, seed, ...).
    """
    gen, real_a, real_b = (M.check_features(x, f"{what} ({s})") for x, s in
                           ((gen, "generated"), (real_a, "real A"), (real_b, "real B")))
    if not len(gen) == len(real_a) == len(real_b):
        raise UserError(f"{what}: the generated set and both real sets must be the same size for an equal-N "
                        f"control; got {len(gen)}, {len(real_a)}, {len(real_b)}")
    if not gen.shape[1] == real_a.shape[1] == real_b.shape[1]:
        raise UserError(f"{what}: feature dimensions differ ({gen.shape[1]}, {real_a.shape[1]}, {real_b.shape[1]})")
    return M.compare(real_a, gen, what=what, **options), M.compare(real_a, real_b, what=what, **options)


def compute_evaluate(spaces: Mapping[str, tuple], *, bootstraps: int = 100, level: float = 0.95,
                     kid_subsets: int = 100, kid_subset_size: int = 1000, k_pr: int = M.K_PR,
                     k_dc: int = M.K_DC, seed: int = 0, keep_features: bool = True) -> EvaluateResult:
    """Every metric in every space, model and control.

    Args:
        spaces: name -> (gen (N, F), real_a (N, F), real_b (N, F)), one N for all spaces.
        bootstraps, level, kid_subsets, kid_subset_size, k_pr, k_dc, seed: see :func:`gan_viz.metrics.compare`.
        keep_features: keep the feature arrays in the result (for arrays.npz).
    Returns:
        An :class:`EvaluateResult`.
    """
    if not spaces:
        raise UserError("no feature space to evaluate in")
    opts = dict(bootstraps=bootstraps, level=level, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                k_pr=k_pr, k_dc=k_dc, seed=seed)
    model, control, info, dims, feats, ns = {}, {}, {}, {}, {}, set()
    for name, (gen, ra, rb) in spaces.items():
        m, c = compute_space(gen, ra, rb, what=name, **opts)
        info[name] = {"model": m.pop("frechet_info", {}), "control": c.pop("frechet_info", {})}
        model[name], control[name] = m, c
        dims[name] = int(np.asarray(gen).reshape(len(gen), -1).shape[1])
        ns.add(len(gen))
        if keep_features:
            feats[name] = tuple(np.asarray(x, dtype=np.float32) for x in (gen, ra, rb))
    if len(ns) != 1:
        raise UserError(f"every feature space must hold the same images; got set sizes {sorted(ns)}")
    return EvaluateResult(tuple(spaces), dims, ns.pop(), model, control, opts, info, feats)
