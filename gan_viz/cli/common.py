"""Options and helpers shared by every command (--ckpt, --out, --seed, --device)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from ..errors import UserError
from ..io import run_record, write_json
from ..parsing import parse_int_list  # noqa: F401  (re-exported for the commands)


def add_ckpt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", default=None, metavar="CKPT",
                   help="a gan-viz checkpoint, a PyTorch examples netG_/netD_epoch_N.pth, a state dict "
                        "(also wrapped, DataParallel, .safetensors), or a bundled model by name: rooms32, rooms64 "
                        "(default: the bundled rooms DCGAN)")
    p.add_argument("--model-def", default=None, metavar="FILE.py:FUNC",
                   help="your own model: FUNC() in FILE.py returns a Subject or {'G': ..., 'D': ..., 'nz': ...} "
                        "(it may load --ckpt itself; see the README, 'Your own model')")


def subject_of(args: argparse.Namespace):
    """The :class:`~gan_viz.subject.Subject` that ``--ckpt`` / ``--model-def`` name."""
    from ..checkpoint import load_subject

    return load_subject(getattr(args, "ckpt", None), getattr(args, "model_def", None))


def add_out(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, metavar="DIR", help="output folder (created if missing)")


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help=f"random seed (default: {default})")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to run (default: auto = cuda when available)")


def add_common(p: argparse.ArgumentParser, ckpt: bool = True, seed: int | None = 0) -> None:
    if ckpt:
        add_ckpt(p)
    add_out(p)
    if seed is not None:
        add_seed(p, seed)
    add_device(p)


def device_of(args: argparse.Namespace) -> torch.device:
    choice = getattr(args, "device", "auto")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was given but no CUDA GPU is available; use --device cpu")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def prepare_out(args: argparse.Namespace, **fields) -> Path:
    """Create the output folder; the record of how it was made (``run.json``) is written like every other
    output, once the command has finished (:func:`write_pending_record`): a refused or failed run leaves
    the folder's earlier record as it was."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder; choose another path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the output folder {out} ({e.strerror}); choose another path") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"the output folder {out} is not writable; choose another path")
    opts = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    args._pending_record = (out / "run.json", run_record(args.command, options=opts, **fields))
    return out


def write_pending_record(args: argparse.Namespace) -> None:
    """Write the ``run.json`` that :func:`prepare_out` held back (once the command has succeeded)."""
    pending = args.__dict__.pop("_pending_record", None)
    if pending is not None:
        write_json(*pending)


def load_json(path: str | os.PathLike, what: str) -> object:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {path} is not valid JSON ({e}); fix or regenerate it") from None


def add_data(p: argparse.ArgumentParser, help_dataset: str = "real dataset (default: the model's own)") -> None:
    """--dataset / --data-root: the real images an analysis reads."""
    p.add_argument("--dataset", default=None, help=help_dataset)
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder of a real dataset")


def add_segmenter(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segmenter", default=None, metavar="rooms|FILE.py:FUNC",
                   help="the concept instrument: default the one that applies to the model's domain (the "
                        "rooms parser for rooms models, none otherwise); 'rooms' forces the rooms parser; "
                        "FILE.py:FUNC is your own (images (N, C, H, W) in [-1, 1] -> class ids (N, H, W), "
                        "see the README)")


def context_of(args: argparse.Namespace, subject=None, **record):
    """The analysis :class:`~gan_viz.analyses.registry.Context` of parsed options: the subject
    (``--ckpt`` / ``--model-def``), the output folder (created, with ``run.json``), seed, device,
    ``--dataset`` / ``--data-root`` and ``--segmenter`` where the command has them."""
    from ..analyses.registry import Context

    S = subject if subject is not None else (subject_of(args) if hasattr(args, "ckpt") else None)
    device = device_of(args)
    fields = dict(record)
    if S is not None:
        fields.setdefault("checkpoint", S.where)
        fields.setdefault("subject", S.describe())
    out = prepare_out(args, **fields)
    return Context(S, out, getattr(args, "seed", 0), device, getattr(args, "dataset", None),
                   getattr(args, "data_root", None), getattr(args, "segmenter", None))
