"""gan-viz modes: mode coverage, which classes G draws as judged by a classifier trained on real data.

A small CNN trained here on labelled real images (:mod:`gan_viz.data.labelled`) labels the
samples; class histograms beside held-out real images, coverage corrected for the classifier's
confusion, KL both ways, collapse flagged.

Public API: :func:`train_classifier`, :func:`predict_proba`, :class:`SmallCNN`,
:func:`compute_modes` (classifier and images in, :class:`ModesResult` out),
:func:`confusion_matrix`, :func:`correct_shares`, :func:`plot_histogram`, :func:`plot_by_class`,
:func:`summary_of`, :func:`arrays_of`, :func:`caption`, :func:`line`; the registered runner and its
:class:`Options` are in ``run.py``.
"""

from .classifier import SmallCNN, predict_proba, train_classifier
from .compute import (MAX_CONDITION, MIN_RECALL, MIN_SHARE, PSEUDO_COUNT, ModesResult,
                      compute_modes, confusion_matrix, correct_shares)
from .plot import plot_by_class, plot_histogram
from .summary import arrays_of, caption, line, summary_of

__all__ = ["SmallCNN", "predict_proba", "train_classifier", "MAX_CONDITION", "MIN_RECALL", "MIN_SHARE", "PSEUDO_COUNT",
           "ModesResult", "compute_modes", "confusion_matrix", "correct_shares", "plot_by_class",
           "plot_histogram", "arrays_of", "caption", "line", "summary_of"]
