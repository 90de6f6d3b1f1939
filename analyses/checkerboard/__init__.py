"""gan-viz checkerboard: checkerboard artefacts of G's upsampling layers, seen in the power spectrum.

A stride-2 transposed convolution whose kernel size is not a multiple of the stride
writes an uneven number of kernel taps into neighbouring output pixels (see
``gan-viz upsampling``), which leaves a pattern of period 2 in that layer's output:
energy at the Nyquist frequencies (Odena, Dumoulin, Olah 2016, "Deconvolution and
Checkerboard Artifacts"). DCGAN's k4 s2 p1 layers have even overlap inside the image,
but the learned kernels can still weight their four phases differently. After later 2x
upsamplings a period-2 pattern of a layer of resolution r shows in the S x S image at
period 2 * S / r.

Score (``spectrum.py``): at each stride frequency of a period p (the frequency indices that
are multiples of S/p on both axes, excluding those of period p/2), the power divided by the
mean power of its neighbours within 2 frequency bins (excluding DC and every stride
frequency, and on the same axis for a peak on an axis, see ``_axis_class``); the
score is the mean of these ratios. 1 means no excess. It is reported for
generated and real images at periods 2, 4, ..., and for each upsampling layer of G at
its own period 2.

Public API: :func:`compute_checkerboard` (G and z in, :class:`CheckerboardResult` out), the
spectrum scores (:func:`power_spectrum`, :func:`stride_peaks`, :func:`periods_for`,
:func:`peak_score`, :func:`image_scores`), :func:`upsampling_layers`, :func:`plot_spectra`,
:func:`plot_layers`, :func:`summary_of`, :func:`caption`, :func:`line`; the registered runner is in ``run.py``.
"""

from .compute import CheckerboardResult, compute_checkerboard, upsampling_layers
from .plot import FIGURES, plot_layers, plot_spectra
from .spectrum import NEIGHBOUR_RADIUS, image_scores, peak_score, periods_for, power_spectrum, stride_peaks
from .summary import caption, line, summary_of

__all__ = ["CheckerboardResult", "compute_checkerboard", "upsampling_layers", "FIGURES", "plot_layers",
           "plot_spectra", "NEIGHBOUR_RADIUS", "image_scores", "peak_score", "periods_for", "power_spectrum",
           "stride_peaks", "caption", "line", "summary_of"]
