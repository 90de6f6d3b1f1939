"""gan-viz export: a slim, shippable copy of a checkpoint (no optimizer state), with a model card.

``--format pt`` (default) writes a gan-viz checkpoint; ``--format safetensors`` writes G and D
as ``netG.*`` / ``netD.*`` tensors with the model config, step, epoch and training config in
the file's metadata, so gan-viz (or any safetensors reader) reopens it without unpickling.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, save_checkpoint, save_safetensors
from ..errors import UserError
from ..images import grid, to_uint8
from ..io import save_png, write_json
from ..models import sample_z

NAME = "export"
HELP = "write a slim copy of a checkpoint (networks + configs, no optimizer state) and its model card"
EXAMPLES = ["gan-viz export --ckpt runs/rooms32/checkpoints/last.pt --out gan_viz/assets/rooms_dcgan.pt",
            "gan-viz export --ckpt runs/rooms32/checkpoints/last.pt --format safetensors --out rooms.safetensors"]
SUFFIX = {"pt": ".pt", "safetensors": ".safetensors"}


def add_arguments(p):
    p.add_argument("--ckpt", required=True,
                   help="a checkpoint holding both networks (gan-viz, a PyTorch examples pair, a state dict...)")
    p.add_argument("--out", required=True,
                   help="the slim checkpoint to write (FILE.pt or FILE.safetensors); the card goes beside it")
    p.add_argument("--format", choices=sorted(SUFFIX), default=None,
                   help="pt (a gan-viz checkpoint) or safetensors (default: from the --out suffix, else pt)")
    p.add_argument("--card-samples", type=int, default=1000, help="samples the card's quality figures use")


def _run_facts(ckpt: Path, step: int) -> dict:
    run = ckpt.parent.parent
    facts = {}
    if (run / "config.json").exists():
        facts["run_config"] = json.loads((run / "config.json").read_text())
    log = run / "train.log"
    if log.exists():
        lines = log.read_text().splitlines()
        end = [i for i, line in enumerate(lines) if f"checkpoint step {step} " in line]
        lines = lines[:end[0] + 1] if end else lines  # a resumed run may have logged past it
        stamps = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in lines if line[:4].isdigit()]
        if len(stamps) > 1:
            facts["wall_seconds_logged"] = round((stamps[-1] - stamps[0]).total_seconds())
    return facts


def run(args) -> int:
    out = Path(args.out)
    fmt = args.format or ("safetensors" if out.suffix == ".safetensors" else "pt")
    if out.suffix != SUFFIX[fmt]:
        raise UserError(f"--out {out} must name a {SUFFIX[fmt]} file for --format {fmt}")
    ck = load_checkpoint(args.ckpt)
    if ck.G is None or ck.D is None:
        raise UserError(f"{args.ckpt} does not hold both networks; export needs a generator and a discriminator")
    quality = None
    if ck.dataset == "rooms":  # measured first: a missing parser stops before anything is written
        from ..parser import load_parser
        from ..training.model_card import rooms_quality

        quality = rooms_quality(ck.G, ck.config, load_parser(), n=args.card_samples)
    save = save_safetensors if fmt == "safetensors" else save_checkpoint
    save(out, ck.config, ck.G, ck.D, step=ck.step, epoch=ck.epoch, train_config=ck.train_config)
    card = {"checkpoint": out.name, "format": fmt, "exported_from": str(ck.path), "source": ck.source,
            "step": ck.step, "epoch": ck.epoch,
            "model": ck.config.to_dict(), "train": ck.train_config, "size_bytes": out.stat().st_size,
            "hardware": {"machine": platform.machine(), "processor": platform.processor(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                         "torch": torch.__version__, "threads": torch.get_num_threads()},
            **(_run_facts(ck.path, ck.step) if ck.source == "gan-viz" else {})}
    z = sample_z(ck.config, 64, torch.Generator().manual_seed(0))
    with torch.no_grad():
        save_png(out.with_name(out.stem + "_samples.png"), grid(to_uint8(ck.G.eval()(z)), 8))
    if quality is not None:
        card["quality"] = quality
    write_json(out.with_name(out.stem + "_card.json"), card)
    print(f"wrote {out} ({card['size_bytes'] / 1e6:.1f} MB) and its card")
    return 0
