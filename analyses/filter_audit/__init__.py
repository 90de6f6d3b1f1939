"""gan-viz filter-audit: what did the filters learn? Random vs trained, measured for every conv
layer of D (and G); the filter audit and Network-Dissection-style labels behind the report's
"Filter audit of D" section and its gallery.

Per layer (the response as the next layer reads it: after BatchNorm and activation,
``activations.py``):

- Object alignment in the style of Network Dissection (Bau et al. 2017, ``dissect.py``): each
  filter's top-1% activations, upsampled to the image size, as a mask; its IoU with each class
  mask over the whole set; a label where the IoU passes 0.04, and a second label by mask
  precision for large classes (IoU <= |M| / |L| cannot pass there).
- Measures that need no masks: ``active_fraction`` (share of image positions with a
  positive response), ``selectivity`` (Treves-Rolls lifetime sparsity of the per-image
  maximal response over images: 0 = fires equally on all, 1 = on one image only) and
  ``dead`` (never a positive response).
- Weight statistics of every convolution, and the filters that touch pixels as images
  (``weights.py``).

``compute.py`` audits a trained network beside its random-filter baseline
(:func:`gan_viz.models.random_network`, or :meth:`gan_viz.subject.Subject.random_copy`);
``plot.py`` draws, ``summary.py`` gives the figures of merit and caption; the registered runner
and its :class:`~.run.Options` are in ``run.py``.

Public API: :func:`feature_layers`, :func:`collect`, :func:`batches_of`; :func:`dissect`
(:class:`Dissection`), :func:`label_filters`, :func:`precision_labels`, :func:`no_mask_measures`
and their thresholds; :func:`weight_stats`, :func:`pixel_conv`, :func:`pixel_conv_words`,
:func:`first_layer_filters`; :func:`audit_layers` (:class:`LayerAudit`), :func:`audit_discriminators`,
:func:`audit_generators`, :func:`compute_filter_audit` (:class:`AuditResult`), :func:`label_counts`,
:func:`random_generator`; the figures and :func:`labels_table`; :func:`summary_of`, :func:`caption`,
:func:`lines`.
"""

from .activations import IN_BLOCK, batches_of, collect, feature_layers, leaf_modules
from .compute import (AuditResult, LayerAudit, audit_discriminators, audit_generators, audit_layers,
                      compute_filter_audit, label_counts, random_generator)
from .dissect import (IOU_THRESHOLD, LIFT_THRESHOLD, PRECISION_THRESHOLD, TOP_FRACTION, Dissection, dissect,
                      label_filters, no_mask_measures, precision_labels)
from .plot import (COLORS, labels_table, plot_first_layer, plot_label_counts, plot_selectivity,
                   plot_top_strips)
from .summary import caption, lines, summary_of
from .weights import first_layer_filters, pixel_conv, pixel_conv_words, weight_stats

__all__ = ["IN_BLOCK", "batches_of", "collect", "feature_layers", "leaf_modules", "AuditResult", "LayerAudit",
           "audit_discriminators", "audit_generators", "audit_layers", "compute_filter_audit", "label_counts",
           "random_generator", "IOU_THRESHOLD", "LIFT_THRESHOLD", "PRECISION_THRESHOLD", "TOP_FRACTION",
           "Dissection", "dissect", "label_filters", "no_mask_measures", "precision_labels", "COLORS",
           "labels_table", "plot_first_layer", "plot_label_counts", "plot_selectivity", "plot_top_strips",
           "caption", "lines", "summary_of", "first_layer_filters", "pixel_conv", "pixel_conv_words",
           "weight_stats"]
