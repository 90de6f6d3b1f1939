"""gan-viz directions: latent directions four ways, judged by one held-out judge (issue 25).

Owns: finding directions in z by (1) exemplar means, the paper's Figs. 7-8 (the same code
``gan-viz arithmetic`` walks, :mod:`gan_viz.latent_directions`), (2) InterFaceGAN (a linear SVM on z
of samples the selecting instrument scores high vs low in a concept, validation accuracy on a
held-out split), (3) GANSpace (PCA of a G layer's activations, regressed back to z) and (4) SeFa
(the top eigenvectors of A^T A, A G's first linear map from z); judging every direction on fresh z by
the held-out judge (for rooms the second parser): effect curves, slopes against >= 6 random directions
(and their negatives), the entanglement matrix, and the agreement between methods against the
random-vs-random cosine.

Files: ``find.py`` (the four methods), ``judge.py`` (curves, slopes, band, naming, entanglement,
agreement), ``compute.py`` (:func:`compute_directions`, :class:`DirectionsResult`), ``plot.py``,
``summary.py``, ``run.py`` (the registered runner and its :class:`Options`).

Example:
    >>> r = compute_directions(S, find_z, scores, classes, ("window",), judge, eval_z, Settings())
    >>> r.slopes.shape                 # (directions, judge classes)
"""

from .compute import METHODS, SUPERVISED, DirectionsResult, Settings, compute_directions
from .find import (concept_groups, exemplar_direction, first_linear_map, ganspace_directions, sefa_directions,
                   svm_direction)
from .judge import (FAMILY_ALPHA, agreement, band_multiple, effect_curves, entanglement, name_of, random_band,
                    random_floor, slopes)
from .run import DEFAULT_CONCEPTS, EVAL_SEED, FIND_SEED, NAME, Options
from .summary import caption, concept_rows, direction_rows, lines, summarize

__all__ = [
    "METHODS", "SUPERVISED", "DirectionsResult", "Settings", "compute_directions", "concept_groups",
    "exemplar_direction", "first_linear_map", "ganspace_directions", "sefa_directions", "svm_direction",
    "FAMILY_ALPHA", "agreement", "band_multiple", "effect_curves", "entanglement", "name_of", "random_band",
    "random_floor", "slopes",
    "DEFAULT_CONCEPTS", "EVAL_SEED", "FIND_SEED", "NAME", "Options", "caption", "concept_rows", "direction_rows",
    "lines", "summarize",
]
