"""gan-viz upsampling: the lecture notes' upsampling grids, computed twice and drawn with numbers."""

from __future__ import annotations

from ..analyses.upsampling import line
from ..analyses.upsampling.run import NAME
from .common import add_out
from .runner import run_analysis

HELP = ("nearest-neighbour and transposed-convolution upsampling worked on the notes' grids, "
        "and the kernel taps per output pixel of DCGAN's k4 s2 p1 layer")
EXAMPLES = ["gan-viz upsampling --out out/upsampling"]


def add_arguments(p):
    add_out(p)


def run(args) -> int:
    ctx, s = run_analysis(args, NAME)
    print(line(s, ctx.out))
    return 0
