"""The registered runner of ``gan-viz upsampling``: the notes' grids (no model, no options), writing.

Writes upsampling_nearest, upsampling_transposed_copies, upsampling_transposed_strides and
upsampling_taps (PNG + PDF), arrays.npz and summary.json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError

from .compute import (INPUT_2x2, INPUT_3x3, KERNEL_2x2, KERNEL_3x3_EX, NEAREST_INPUT, UpsamplingResult,
                      compute_upsampling)
from .plot import FIGURES
from .summary import caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NAME = "upsampling"


def arrays_of(result: UpsamplingResult) -> dict[str, np.ndarray]:
    """Everything to recompute the figures: results, copies, inputs and kernels."""
    return {"nearest": result.nearest, "transposed_2x2_s1": result.transposed_2x2_s1,
            "transposed_3x3_s1": result.transposed_3x3_s1, "transposed_3x3_s2": result.transposed_3x3_s2,
            "copies_2x2_s1": result.copies_2x2_s1, "copies_3x3_s2": result.copies_3x3_s2,
            "input_nearest": NEAREST_INPUT, "input_2x2": INPUT_2x2, "kernel_2x2": KERNEL_2x2,
            "input_3x3": INPUT_3x3, "kernel_3x3_example": KERNEL_3x3_EX, **result.taps}


@register(NAME, title="Mechanics: upsampling by transposed convolution", caption=caption)
def run(ctx: "Context") -> dict:
    """The notes' grids (no model): figures (PNG + PDF), summary.json and arrays.npz in ``ctx.out``."""
    from gan_viz.io import save_figure, write_json, write_npz

    result = compute_upsampling()
    if not result.methods_agree:  # an internal check: the teaching code must match PyTorch
        bad = {k: v for k, v in result.max_abs_diff.items() if v != 0.0}
        raise UserError(f"the scatter-add and PyTorch disagree on {bad}; please report this bug")
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, name)]
    write_npz(ctx.out / "arrays.npz", **arrays_of(result))
    summary = summary_of(result, figures)
    write_json(ctx.out / "summary.json", summary)
    return summary


__all__ = ["NAME", "arrays_of", "run"]
