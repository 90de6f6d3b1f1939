"""gan-viz guided-backprop: guided backpropagation of D's filters, random vs trained (the paper's Fig. 5).

The package owns the guided backward rules through every rectifier module (``rules.py``), the
maps of single units (``maps.py``, via captum, on receptive cones where D allows), the panels of
the trained D and its random-filter baseline with their class energies (``compute.py``), the
figures (``plot.py``), the figures of merit and caption (``summary.py``); the registered runner
and its :class:`~.run.Options` are in ``run.py``.

Public API: :func:`guided_rule`, :func:`rectifiers`, :data:`RULES`; :func:`guided_maps`,
:func:`guided_maps_per_filter`, :func:`check_guidable`; :func:`compute_panel` (one network's
:class:`Panel`), :func:`compute_guided_backprop` (:class:`GuidedBackpropResult`),
:func:`class_energy` (:class:`ClassEnergy`), :func:`random_discriminator`; :func:`display_maps`,
:func:`plot_guided_backprop`, :func:`plot_class_energy`; :func:`summary_of`, :func:`caption`,
:func:`lines`.
"""

from .compute import (STRUCTURE, ClassEnergy, GuidedBackpropResult, Panel, class_energy, compute_guided_backprop,
                      compute_panel, random_discriminator)
from .maps import check_guidable, guided_maps, guided_maps_per_filter
from .plot import SCALES, display_maps, plot_class_energy, plot_guided_backprop
from .rules import RULES, guided_rule, rectifiers
from .summary import caption, lines, summary_of

__all__ = ["STRUCTURE", "ClassEnergy", "GuidedBackpropResult", "Panel", "class_energy", "compute_guided_backprop",
           "compute_panel", "random_discriminator", "check_guidable", "guided_maps", "guided_maps_per_filter",
           "SCALES", "display_maps", "plot_class_energy", "plot_guided_backprop", "RULES", "guided_rule",
           "rectifiers", "caption", "lines", "summary_of"]
