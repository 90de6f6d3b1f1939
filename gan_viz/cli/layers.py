"""gan-viz layers: every addressable layer of G and D with its output shape and kind."""

from __future__ import annotations

from ..checkpoint import load_checkpoint
from ..config import ModelConfig
from ..hooks import layer_table
from ..models import build_discriminator, build_generator

NAME = "layers"
HELP = "list each addressable layer of G and D (name, output shape C x H x W, kind)"
EXAMPLES = ["gan-viz layers", "gan-viz layers --ckpt runs/rooms/checkpoints/last.pt"]


def add_arguments(p):
    p.add_argument("--ckpt", default=None, metavar="CKPT",
                   help="checkpoint to describe (default: the bundled one, else a fresh default DCGAN)")
    p.add_argument("--image-size", type=int, default=None, help="describe a fresh DCGAN of this size instead")


def run(args) -> int:
    if args.image_size is not None:
        cfg = ModelConfig(image_size=args.image_size)
        G, D = build_generator(cfg), build_discriminator(cfg)
        where = f"fresh DCGAN {cfg.image_size}x{cfg.image_size}"
    else:
        ck = load_checkpoint(args.ckpt)
        cfg, G, D, where = ck.config, ck.G, ck.D, str(ck.path)
    print(f"# {where}: arch={cfg.arch} nz={cfg.nz} ngf={cfg.ngf} ndf={cfg.ndf} nc={cfg.nc}")
    print(f"{'layer':<14}{'output (C, H, W)':<22}kind")
    for row in layer_table(G, D, cfg.nz, (cfg.nc, cfg.image_size, cfg.image_size)):
        print(f"{row.full_name:<14}{str(row.shape):<22}{row.kind}")
    return 0
