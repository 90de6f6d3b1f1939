"""gan-viz classify: the discriminator as a feature extractor (the paper's Table 1).

D's block features (:func:`gan_viz.features.d_features`), the same D freshly initialised and
raw pixels, each classified by a linear L2-SVM on labelled real images
(:mod:`gan_viz.data.labelled`).

Public API: :func:`split_protocol` and :func:`compute_classify` (features in,
:class:`ClassifyResult` out), :func:`fit_svm`, :func:`balanced_accuracy`, :func:`plot_classify`,
:func:`summary_of`, :func:`arrays_of`, :func:`caption`, :func:`line`; the registered runner and its
:class:`Options` are in ``run.py``.
"""

from .compute import (C_GRID, FEATURE_SETS, ClassifyResult, Protocol, balanced_accuracy, balanced_draw,
                      compute_classify, fit_svm, split_protocol)
from .plot import plot_classify
from .summary import arrays_of, caption, line, summary_of

__all__ = ["C_GRID", "FEATURE_SETS", "ClassifyResult", "Protocol", "balanced_accuracy", "balanced_draw",
           "compute_classify", "fit_svm", "split_protocol", "plot_classify", "arrays_of", "caption",
           "line", "summary_of"]
