"""Figures and tables of the filter audit: they live in ``gan_viz.analyses.filter_audit_plots``
(the analysis draws them; analyses do not import reports); re-exported here for the report."""

from gan_viz.analyses.filter_audit_plots import (COLORS, labels_table, plot_first_layer, plot_label_counts,  # noqa: F401
                                                 plot_selectivity, plot_top_strips)
