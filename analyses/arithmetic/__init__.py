"""gan-viz arithmetic: vector arithmetic on z (paper Figs. 7 and 8), measured with a concept instrument.

Fig. 7: each concept of an expression such as ``A - B + C`` is the mean z of a few
exemplars (three in the paper: single samples were unstable); the arithmetic on the
means gives Y, generated together with 8 samples of Y plus uniform noise in
[-0.25, 0.25]. The same arithmetic on the exemplar *images* (pixel space) is shown
beside it: the paper's contrast (pixel arithmetic gives noisy overlaps).

Fig. 8: a direction is the mean z of one group minus the mean z of another (rooms with
vs without a window); walking along it changes that attribute. Measured here (with an
instrument, :mod:`gan_viz.instruments`: the rooms parser for a rooms model, or the
user's ``--segmenter``): the pixel fraction of the concept on fresh samples before
(alpha 0) and after adding the direction (alpha 1), beside control directions of the
same norm in random orientations. Without an instrument the arithmetic and the walk
run unmeasured (the summary says why).

Exemplars are addressed by index in a *sample sheet* (``inputs.py``: :func:`sample_sheet`,
the z that ``gan-viz generate --n N --seed S`` draws, or the rows of a z file), or picked
by the instrument (``window``, ``no-window``, ``window+no-bed``; refused without one).

Does the arithmetic work? With concepts picked by the instrument, the analogy is repeated
over many independent exemplar draws from the sheet, for 1 and 3 exemplars per concept,
in pixel space and with a random direction of the same norm (``analogy.py``;
``analogy_success_*`` in the summary). The default (no expression given) is a
two-attribute analogy, ``DEFAULT_CONCEPTS``.

Files: ``inputs.py`` (expressions, sheets, exemplar picks), ``compute.py`` (Figs. 7-8:
:func:`compute_arithmetic`, :func:`compute_direction`), ``analogy.py`` (the analogy over
draws), ``plot.py`` (figures), ``summary.py`` (summary.json, caption, printed lines),
``run.py`` (the registered runner ``gan-viz arithmetic`` and its :class:`Options`).

Example:
    >>> terms = parse_expr("A - B + C")            # (("A", 1.0), ("B", -1.0), ("C", 1.0))
    >>> r = compute_arithmetic(G, terms, [zA, zB, zC], noise=0.25, n_noisy=8, seed=0)
    >>> r.result_images.shape[0]                   # Y and its 8 noisy neighbours
    9
"""

from .analogy import AnalogyResult, analogy_targets, base_term, compute_analogy, concept_pools
from .compute import ArithmeticResult, DirectionResult, compute_arithmetic, compute_direction, noisy_around
from .inputs import (ABSENT, NAMES, PRESENT, parse_concepts, parse_expr, parse_indices,
                     pick_exemplars, pick_matching, sample_sheet, spec_label)
from .plot import plot_arithmetic, plot_direction, plot_direction_measure
from .run import (DEFAULT_ALPHAS, DEFAULT_CONCEPTS, DEFAULT_DIRECTION, DEFAULT_EXPR, EVAL_SEED,
                  NAME, SHEET_N, SHEET_N_CONCEPTS, Options)
from .summary import analogy_summary, arithmetic_summary, caption, direction_summary, lines

__all__ = [
    "AnalogyResult", "analogy_targets", "base_term", "compute_analogy", "concept_pools", "ArithmeticResult",
    "DirectionResult", "compute_arithmetic", "compute_direction", "noisy_around",
    "ABSENT", "NAMES", "PRESENT", "parse_concepts", "parse_expr", "parse_indices", "pick_exemplars",
    "pick_matching", "sample_sheet", "spec_label", "plot_arithmetic", "plot_direction",
    "plot_direction_measure", "DEFAULT_ALPHAS", "DEFAULT_CONCEPTS", "DEFAULT_DIRECTION", "DEFAULT_EXPR",
    "EVAL_SEED", "NAME", "SHEET_N", "SHEET_N_CONCEPTS", "Options", "analogy_summary", "arithmetic_summary",
    "caption", "direction_summary", "lines",
]
