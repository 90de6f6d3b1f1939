"""gan-viz upsampling: upsampling worked by hand, nearest neighbour and transposed convolution, with numbers.

The lecture notes (seed 004) teach upsampling with small integer grids: nearest-neighbour
upsampling of [[1, 2], [3, 4]], and transposed convolution as "place a copy of the
kernel, scaled by each input pixel, at stride steps, and add the overlaps". Every grid
here is computed twice: by PyTorch (``F.interpolate`` / ``F.conv_transpose2d``) and by an
explicit scatter-add loop written to be read (``methods.py``), and the two must agree exactly.

The last part counts kernel *taps* per output pixel (how many input pixels write into
it) for DCGAN's own layer (kernel 4, stride 2, padding 1) and for kernels whose size is
not a multiple of the stride, the uneven overlap behind checkerboard artefacts
(Odena et al. 2016; measured on a model by ``gan-viz checkerboard``).

Public API: :func:`compute_upsampling` (no inputs: the notes' grids; :class:`UpsamplingResult`
out), the two methods (:func:`nearest_by_copy`, :func:`transposed_by_scatter`,
:func:`nearest_by_torch`, :func:`transposed_by_torch`, the tap counts), the notes' grids,
``FIGURES``, :func:`summary_of`, :func:`caption`, :func:`line`; the registered runner is in ``run.py``.

Example:
    >>> r = compute_upsampling()
    >>> r.transposed_2x2_s1.tolist()
    [[1.0, 5.0, 6.0], [2.0, 8.0, 11.0], [0.0, 6.0, 3.0]]
"""

from .compute import (INPUT_2x2, INPUT_3x3, KERNEL_2x2, KERNEL_3x3_EX, NEAREST_INPUT, TAP_CASES,
                      TAP_INPUT_SIZES, UpsamplingResult, compute_upsampling)
from .methods import (nearest_by_copy, nearest_by_torch, tap_count_by_scatter, tap_count_by_torch,
                      transposed_by_scatter, transposed_by_torch)
from .plot import FIGURES, draw_grid, plot_copies, plot_nearest, plot_strides, plot_taps
from .summary import caption, line, summary_of, tap_summary

__all__ = ["INPUT_2x2", "INPUT_3x3", "KERNEL_2x2", "KERNEL_3x3_EX", "NEAREST_INPUT", "TAP_CASES",
           "TAP_INPUT_SIZES", "UpsamplingResult", "compute_upsampling", "nearest_by_copy", "nearest_by_torch",
           "tap_count_by_scatter", "tap_count_by_torch", "transposed_by_scatter", "transposed_by_torch", "FIGURES",
           "draw_grid", "plot_copies", "plot_nearest", "plot_strides", "plot_taps", "caption", "line", "summary_of",
           "tap_summary"]
