"""Analyses, one module each (installed as gan_viz.analyses)."""
