"""gan-viz upsampling: the lecture notes' upsampling grids, computed twice and drawn with numbers."""

from __future__ import annotations

from ..analyses import upsampling as U
from ..errors import UserError
from ..io import save_figure, write_json, write_npz
from .common import add_out, prepare_out

NAME = "upsampling"
HELP = ("nearest-neighbour and transposed-convolution upsampling worked on the notes' grids, "
        "and the kernel taps per output pixel of DCGAN's k4 s2 p1 layer")
EXAMPLES = ["gan-viz upsampling --out out/upsampling"]


def add_arguments(p):
    add_out(p)


def run(args) -> int:
    out = prepare_out(args)
    result = U.compute_upsampling()
    if not result.methods_agree:  # an internal check: the teaching code must match PyTorch
        bad = {k: v for k, v in result.max_abs_diff.items() if v != 0.0}
        raise UserError(f"the scatter-add and PyTorch disagree on {bad}; please report this bug")
    figures = []
    for name, plot in U.FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, name)]
    write_npz(out / "arrays.npz", **U.arrays_of(result))
    write_json(out / "summary.json", {
        "grids": {"nearest": result.nearest, "transposed_2x2_s1": result.transposed_2x2_s1,
                  "transposed_3x3_s1": result.transposed_3x3_s1, "transposed_3x3_s2": result.transposed_3x3_s2},
        "methods": "torch (F.interpolate / F.conv_transpose2d) vs explicit scatter-add, float64",
        "max_abs_diff_torch_vs_scatter": result.max_abs_diff,
        "methods_agree": result.methods_agree,
        "taps": U.tap_summary(result),
        "figures": figures,
    })
    print(f"wrote {len(U.FIGURES)} figures (PNG + PDF), summary.json and arrays.npz to {out}")
    return 0
