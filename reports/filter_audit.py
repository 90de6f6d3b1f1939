"""Figures and tables of the filter audit: they live in ``gan_viz.analyses.filter_audit.plot``
(the analysis draws them; analyses do not import reports); re-exported here for the report."""

from gan_viz.analyses.filter_audit import (COLORS, labels_table, plot_first_layer, plot_label_counts,
                                           plot_selectivity, plot_top_strips)

__all__ = ["COLORS", "labels_table", "plot_first_layer", "plot_label_counts", "plot_selectivity", "plot_top_strips"]
