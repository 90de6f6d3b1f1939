"""gan-viz filters: filters collapsing over training, dead, near-duplicate and oscillating filters.

Radford et al. (section 7) note that models trained longer "sometimes collapse a subset
of filters to a single oscillating mode". This reads the numbered checkpoints of a
training run and, for every hidden convolution of G and D (the ones followed by a ReLU
/ LeakyReLU), flags per checkpoint:

- *dead*: the filter's activation has no variance over samples (std over the batch,
  averaged over positions, at most ``dead_rel`` x the layer's median, or 1e-6);
- *duplicate*: another filter of the layer has weights (cosine of the flattened filter
  weights) or activations (correlation over samples and positions, live filters only)
  more similar than ``dup_threshold``;
- *oscillating*: its weight updates between consecutive checkpoints reverse direction
  (cosine of successive weight deltas below ``-osc_threshold``) in at least half of the
  checkpoint triples, with a relative step above 1e-3.

G sees fixed latent codes; D sees G's images of those codes (and real images when given).

Public API: :func:`find_checkpoints`, :func:`compute_filters` (checkpoints in,
:class:`FiltersResult` out), :class:`Thresholds`, the per-layer measures (``measures.py``),
:func:`counts`, ``FIGURES``, :func:`summary_of`, :func:`line`. It is not a registered analysis: ``run.py``
holds what ``gan-viz filters`` calls (options, real images, writing).
"""

from .compute import KINDS, FiltersResult, Thresholds, compute_filters, counts, find_checkpoints
from .measures import (activation_stats, analysed_layers, cosine_matrix, duplicate_pairs, filter_weights,
                       reversal_cos)
from .plot import FIGURES, plot_counts, plot_similarity
from .summary import MAX_PAIRS, line, summary_of

__all__ = ["KINDS", "FiltersResult", "Thresholds", "compute_filters", "counts", "find_checkpoints",
           "activation_stats", "analysed_layers", "cosine_matrix", "duplicate_pairs", "filter_weights",
           "reversal_cos", "FIGURES", "plot_counts", "plot_similarity", "MAX_PAIRS", "line", "summary_of"]
