"""gan-viz upsampling: the lecture notes' upsampling grids, computed twice and drawn with numbers."""

from __future__ import annotations

from .common import add_out
from .runner import run_analysis

NAME = "upsampling"
HELP = ("nearest-neighbour and transposed-convolution upsampling worked on the notes' grids, "
        "and the kernel taps per output pixel of DCGAN's k4 s2 p1 layer")
EXAMPLES = ["gan-viz upsampling --out out/upsampling"]


def add_arguments(p):
    add_out(p)


def run(args) -> int:
    ctx, s = run_analysis(args, "upsampling")
    print(f"wrote {len(s['figures']) // 2} figures (PNG + PDF), summary.json and arrays.npz to {ctx.out}")
    return 0
