"""Forgetting to draw an object (the paper's Fig. 6), measured: ``gan-viz forget``.

The paper fitted a logistic regression on hand-boxed samples, dropped every filter with weight
> 0 and showed samples with and without them. This package finds the object's filters (the
paper's probe, or GAN Dissection's causal and optimised rules), removes them, and measures the
removal on fresh samples with a held-out judge against random filters of the same number.

Parts: :mod:`.probe` (features at a G layer, the logistic-regression probe, selection rules),
:mod:`.causal` (filters ranked by their measured effect), :mod:`.result` (the dataclasses),
:mod:`.compute` (:func:`compute_forget`: pure, tensors in, :class:`ForgetResult` out),
:mod:`.summary` (figures of merit, caption), :mod:`.plot` (figures), :mod:`.run` (the
registered runner with its :class:`Options`).
"""

from .causal import causal_effects, optimize_ablation, parser_concept_prob  # noqa: F401
from .compute import ablation, compute_forget, removed_images, replacement_values, segment_stats  # noqa: F401
from .plot import plot_forget_samples, plot_removal_curve  # noqa: F401
from .probe import (ProbeFit, Selection, cells_from_boxes, fit_probe, generator_parts, layer_features,  # noqa: F401
                    parse_select, select_filters)
from .result import (GAN_DISSECTION, PRESENT, REPLACEMENTS, FitOutcome, ForgetConfig, ForgetResult,  # noqa: F401
                     Judge, Measured, ProbeSet, RuleOutcome, removed_share)
from .run import DEFAULT_SELECT, EVAL_SEED, HINT, NAME, Options  # noqa: F401
from .summary import caption, measured_sentence, spread, summarize  # noqa: F401
