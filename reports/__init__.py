"""Figure and report writing (installed as gan_viz.reports)."""
