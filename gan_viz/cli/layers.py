"""gan-viz layers: every addressable module of G and D with its output shape and kind.

Modules are listed by their dotted ``named_modules()`` names (``G.conv3`` in a gan-viz
DCGAN, ``D.main.10`` or ``G.blocks.2.act`` elsewhere): the names every ``--layer``
option takes. A module the forward never calls has shape ``-``.
"""

from __future__ import annotations

from ..config import ModelConfig
from ..hooks import layer_table
from ..models import build_discriminator, build_generator
from ..subject import Provenance, Subject
from .common import add_ckpt, subject_of

NAME = "layers"
HELP = "list each addressable layer of G and D (dotted name, output shape C x H x W, kind)"
EXAMPLES = ["gan-viz layers", "gan-viz layers --ckpt runs/rooms/checkpoints/last.pt",
            "gan-viz layers --model-def mymodel.py:build"]


def add_arguments(p):
    add_ckpt(p)
    p.add_argument("--image-size", type=int, default=None, help="describe a fresh DCGAN of this size instead")


def header(S: Subject) -> str:
    """One line describing the subject: where it came from, format, nz, z distribution, image shape."""
    text = (f"# {S.where}: format={S.source} nz={S.nz if S.nz is not None else '-'} "
            f"z_dist={S.z_dist if S.has_G else '-'} image={'x'.join(map(str, S.image_shape))} (C x H x W)")
    cfg = S.config
    if cfg is not None:
        text += f" arch={cfg.arch} ngf={cfg.ngf} ndf={cfg.ndf}"
    kind = {net: type(m).__name__ if m is not None else "-" for net, m in (("G", S.G), ("D", S.D))}
    return text + f" G={kind['G']} D={kind['D']}"


def run(args) -> int:
    if args.image_size is not None:
        cfg = ModelConfig(image_size=args.image_size)
        S = Subject.from_config(cfg, build_generator(cfg), build_discriminator(cfg),
                                provenance=Provenance(format="fresh-dcgan"))
    else:
        S = subject_of(args)
    rows = layer_table(S.G, S.D, S.z_shape, S.image_shape)
    width = max([14] + [len(r.full_name) + 2 for r in rows])
    print(header(S))
    print(f"{'layer':<{width}}{'output (C, H, W)':<22}kind")
    for row in rows:
        shape = str(row.shape) if row.called else "-"
        print(f"{row.full_name:<{width}}{shape:<22}{row.kind}")
    return 0
