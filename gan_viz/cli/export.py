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
            "gan-viz export --ckpt runs/rooms32/checkpoints/last.pt --format safetensors --out rooms.safetensors",
            "gan-viz export --run runs/rooms64 --frechet-max 4.33 --out rooms64.pt   # choose a checkpoint by the card"]
SUFFIX = {"pt": ".pt", "safetensors": ".safetensors"}


def add_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="a checkpoint holding both networks (gan-viz, a PyTorch examples pair, a state dict...)")
    src.add_argument("--run", metavar="DIR",
                     help="a rooms `gan-viz train` run: measure every numbered checkpoint on one evaluation z, "
                          "export the best that meets the card's goals there and on fresh draws (refused if none)")
    p.add_argument("--frechet-max", type=float, default=None,
                   help="--run: also require a parser-space Frechet distance at most this (e.g. a reference model's)")
    p.add_argument("--min-step", type=int, default=0, help="--run: consider checkpoints from this step on")
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
    selection = None
    if args.run is not None:
        from ..parser import load_parser
        from ..training.card_select import Goals, choose

        if args.card_samples < 300:
            raise UserError(f"--card-samples {args.card_samples}: choosing by the card needs at least 300 samples "
                            "(the Frechet distance of 202 parser features)")
        goals = Goals(frechet_max=args.frechet_max)
        selection = choose(Path(args.run), load_parser(), goals, n=args.card_samples, min_step=args.min_step)
        args.ckpt = selection["path"]
    ck = load_checkpoint(args.ckpt)
    if ck.G is None or ck.D is None:
        raise UserError(f"{args.ckpt} does not hold both networks; export needs a generator and a discriminator")
    quality = None
    if ck.dataset == "rooms":  # measured first: a missing parser stops before anything is written
        from ..parser import load_parser
        from ..training.model_card import rooms_quality

        quality = (selection["selection"] if selection else
                   rooms_quality(ck.G, ck.config, load_parser(), n=args.card_samples))
    save = save_safetensors if fmt == "safetensors" else save_checkpoint
    save(out, ck.config, ck.G, ck.D, step=ck.step, epoch=ck.epoch, train_config=ck.train_config)
    card = {"checkpoint": out.name, "format": fmt, "exported_from": str(ck.path), "source": ck.source,
            "step": ck.step, "epoch": ck.epoch,
            "model": ck.config.to_dict(), "train": ck.train_config, "size_bytes": out.stat().st_size,
            "generator": (f"the moving average of the trained G's weights (decay {ck.raw['g_ema_decay']}), "
                          "BatchNorm statistics recomputed for it" if "G_ema" in ck.raw else "the trained G"),
            "hardware": {"machine": platform.machine(), "processor": platform.processor(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                         "torch": torch.__version__, "threads": torch.get_num_threads()},
            **(_run_facts(ck.path, ck.step) if ck.source == "gan-viz" else {})}
    z = sample_z(ck.config, 64, torch.Generator().manual_seed(0))
    with torch.no_grad():
        save_png(out.with_name(out.stem + "_samples.png"), grid(to_uint8(ck.G.eval()(z)), 8))
    if quality is not None:
        card["quality"] = quality
    if selection is not None:
        from ..training.card_select import EVAL_SEED, plot_curve

        card["selection"] = {"rule": "every numbered checkpoint measured on z seed "
                                     f"{EVAL_SEED} ({args.card_samples} samples vs as many held-out rooms); "
                                     "candidates meet the goals; the lowest Frechet distance first; chosen when "
                                     "the goals also hold on fresh draws",
                             "goals": vars(goals), "chosen_step": selection["chosen"], "tried": selection["tried"],
                             "curve": selection["curve"], "fresh": selection["fresh"]}
        plot_curve(selection["curve"], goals, selection["chosen"], out.parent, out.stem + "_curves")
    write_json(out.with_name(out.stem + "_card.json"), card)
    print(f"wrote {out} ({card['size_bytes'] / 1e6:.1f} MB) and its card")
    return 0
