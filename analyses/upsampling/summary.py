"""UpsamplingResult -> summary.json (the grids, the methods' agreement, the tap counts), the caption, the
console line."""

from __future__ import annotations

import numpy as np

from .compute import UpsamplingResult


def tap_summary(result: UpsamplingResult) -> dict:
    """Per tap map: the distinct counts and how many output pixels get each.

    For DCGAN's k4 s2 p1 the interior gets 4 taps, edges 2 and corners 1; a kernel size
    not divisible by the stride (k3 s2) gives an uneven 1/2/4 pattern inside the image,
    the checkerboard.
    """
    out = {}
    for key, m in result.taps.items():
        vals, counts = np.unique(m.astype(int), return_counts=True)
        interior = m[1:-1, 1:-1] if min(m.shape) > 2 else m
        out[key] = {"shape": list(m.shape), "counts": {int(v): int(c) for v, c in zip(vals, counts)},
                    "interior_uniform": bool(interior.size and interior.min() == interior.max())}
    return out


def summary_of(result: UpsamplingResult, figures: list[str]) -> dict:
    """summary.json: the grids, how they were computed, whether both methods agree, the tap counts."""
    return {
        "grids": {"nearest": result.nearest.tolist(), "transposed_2x2_s1": result.transposed_2x2_s1.tolist(),
                  "transposed_3x3_s1": result.transposed_3x3_s1.tolist(),
                  "transposed_3x3_s2": result.transposed_3x3_s2.tolist()},
        "methods": "torch (F.interpolate / F.conv_transpose2d) vs explicit scatter-add, float64",
        "max_abs_diff_torch_vs_scatter": result.max_abs_diff,
        "methods_agree": result.methods_agree,
        "taps": tap_summary(result),
        "figures": figures,
    }


def caption(s: dict) -> str:
    """The report's caption: what the grids show and whether both methods agree."""
    return ("Nearest-neighbour and transposed-convolution upsampling worked on the notes' grids, computed by "
            f"PyTorch and by an explicit scatter-add (agree: {s.get('methods_agree')}), and the number of kernel "
            "taps per output pixel of DCGAN's k4 s2 p1 layer (uneven overlap is the source of checkerboards).")


def line(s: dict, out) -> str:
    """What ``gan-viz upsampling`` prints of a summary written to ``out``."""
    return f"wrote {len(s['figures']) // 2} figures (PNG + PDF), summary.json and arrays.npz to {out}"
