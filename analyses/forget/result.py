"""What a forget run holds: its configuration, the samples it selects from, what it measured.

The dataclasses of :mod:`gan_viz.analyses.forget` (compute fills them, summary and plot read
them) and the constants they share: a class is *present* in a sample from :data:`PRESENT` of
its pixels on, and :data:`GAN_DISSECTION` is the published figure set beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from gan_viz.errors import UserError

from .probe import ProbeFit, Selection

PRESENT = 0.004  # a sample "contains" a class when it covers at least 0.4% of its pixels
REPLACEMENTS = ("zero", "mean")
GAN_DISSECTION = {"source": "Bau et al. 2019 (GAN Dissection), LSUN bedroom, layer4 of a Progressive GAN",
                  "units_removed": 20, "layer_units": 512, "window_pixels_removed": 0.277}



@dataclass(frozen=True)
class ForgetConfig:
    """How to run the analysis (stored in the output folder)."""

    concept: str
    select: Selection
    fits: int = 5  # probe fits (or causal rankings), each with its own draw
    random_draws: int = 5  # random-filter controls per fit
    replacement: str = "zero"  # "zero" (the paper) or "mean"
    seed: int = 0
    batch_size: int = 256
    curve_points: int = 8
    show: int = 10  # samples in the figure
    # Adam steps of the optimized-K ablation. On the bundled model at the report's settings (3 fits, 160
    # fresh samples), window pixels removed as the held-out parser reads them, per fit: 50 steps
    # 0.33/0.35/0.16, 75 0.35/0.35/0.39, 100 0.35/0.35/0.39, 150 0.33/0.36/0.39, 200 0.35/0.34/0.39,
    # 300 0.32/0.38/0.39 (median 0.33, 0.35, 0.35, 0.36, 0.35, 0.38): converged from 75 steps, the
    # report's setting. Elsewhere (4 fits, 400 samples): 0.30 / 0.32 / 0.34 at 75 / 100 / 200 steps.
    opt_steps: int = 600
    paper_rule: bool = True  # also remove and measure the paper's weight > 0 filters of every probe fit
    opt_size: int | None = None  # optimise the ablation on samples area-averaged to this size (None: G's own)

    def __post_init__(self):
        if self.replacement not in REPLACEMENTS:
            raise UserError(f"--replace {self.replacement!r}: choose one of {', '.join(REPLACEMENTS)}")
        for name in ("fits", "random_draws", "batch_size", "curve_points", "show", "opt_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass(frozen=True)
class ProbeSet:
    """What one fit selects from: samples (z), their object boxes, and (causal rule) more z."""

    z: torch.Tensor  # (N, nz)
    boxes: dict  # {sample index: [(x0, y0, x1, y1), ...]} in model pixels
    causal_z: torch.Tensor | None = None  # (M, nz), used by causal-K only


@dataclass(frozen=True)
class Measured:
    """Class statistics of one set of generated samples, by the headline judge; ``others``: the same
    samples by every further judge (name -> Measured, in that judge's classes)."""

    fractions: np.ndarray  # (K,) mean pixel fraction per class
    presence: np.ndarray  # (K,) share of samples containing each class
    scene_changed: float = 0.0  # share of the pixels that were not the object whose class changed (same z)
    others: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Judge:
    """An instrument that measures removals: its name, images -> (N, H, W) class ids, its classes."""

    name: str
    segment: Callable[[torch.Tensor], torch.Tensor]
    classes: tuple


@dataclass(frozen=True)
class RuleOutcome:
    """The paper's rule (every probe weight > 0) on the same probe fit, removed and measured."""

    filters: np.ndarray  # (k,)
    after: Measured
    random_filters: np.ndarray  # (R, k)
    random: tuple  # R x Measured


@dataclass(frozen=True)
class FitOutcome:
    probe: ProbeFit
    scores: np.ndarray  # (C,) what ranked the filters: probe weights, or causal effects
    filters: np.ndarray  # (k,) removed filters, best first
    after: Measured
    random_filters: np.ndarray  # (R, k)
    random: tuple  # R x Measured
    paper: RuleOutcome | None = None  # the weight > 0 rule, where --select is another rule


@dataclass(frozen=True)
class ForgetResult:
    config: ForgetConfig
    classes: tuple
    concept_id: int
    layer: str
    layer_shape: tuple  # (C, h, w)
    before: Measured
    fits: tuple  # FitOutcome per fit
    rep: int  # the median fit (by object pixels removed), shown in the figures
    curve_k: np.ndarray  # (P,) filters removed, in the median fit's score order
    curve: np.ndarray  # (P, K) class fractions after removing the first k
    curve_random: np.ndarray  # (P, R', K) the same with k random filters
    curve_changed: np.ndarray  # (P,) scene changed after removing the first k
    curve_random_changed: np.ndarray  # (P, R')
    z_eval: np.ndarray  # (N, nz)
    images: dict = field(default_factory=dict)  # "before" / "after" / "random": (S, nc, H, W)
    n_boxes: tuple = ()  # boxes per fit
    judges: tuple = ()  # (name, classes) of each judge; the first measured everything above
    replacement: np.ndarray | None = None  # (C,) the edit rule's r: zeros, or the probe samples' mean


def removed_share(before: Measured, after: Measured, class_id: int) -> float:
    """Share of a class's pixels that disappeared (negative when it grew)."""
    b = before.fractions[class_id]
    return float(1 - after.fractions[class_id] / b) if b > 0 else float("nan")
