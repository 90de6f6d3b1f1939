"""gan-viz evaluate: how good is a generator, by standard sample-quality metrics and their controls.

Public API: :func:`compute_evaluate` (features in, :class:`EvaluateResult` out),
:func:`plot_evaluate`, :func:`summary_of`; the registered runner is in ``run.py``.
"""

from .compute import EvaluateResult, compute_evaluate, compute_space  # noqa: F401
from .plot import plot_evaluate  # noqa: F401
from .summary import caption, summary_of  # noqa: F401
