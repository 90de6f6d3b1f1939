"""gan-viz parser: train the scene parser (the segmenter that measures generated rooms)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError

NAME = "parser"
HELP = "train / evaluate the scene parser that segments rooms images (walls, windows, beds, ...)"
EXAMPLES = ["gan-viz parser train --out runs/parser.pt --steps 8000",
            "gan-viz parser eval --weights runs/parser.pt --sizes 32,64"]


def add_arguments(p):
    sub = p.add_subparsers(dest="parser_action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train on freshly rendered train-split rooms (mixed sizes 32..128)")
    t.add_argument("--out", required=True, metavar="FILE.pt", help="weights file to write (also every --save-every)")
    t.add_argument("--steps", type=int, default=8000, help="optimiser steps (default 8000)")
    t.add_argument("--batch-size", type=int, default=24, help="rooms per step (default 24)")
    t.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate, cosine decay (default 3e-3)")
    t.add_argument("--seed", type=int, default=0, help="seed of the rooms stream and initialisation (default 0)")
    t.add_argument("--widths", default="16,32,64,96", help="channels at 1, 1/2, 1/4, 1/8 resolution")
    t.add_argument("--save-every", type=int, default=500, help="save the weights every N steps (default 500)")
    t.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    t.add_argument("--log", default=None, metavar="FILE.jsonl", help="append loss every 100 steps to this file")
    e = sub.add_parser("eval", help="per-class IoU on held-out (test split) rooms")
    e.add_argument("--weights", default=None, metavar="FILE.pt", help="parser weights (default: the shipped ones)")
    e.add_argument("--sizes", default="32,64", help="image sizes to evaluate (default 32,64)")
    e.add_argument("--n", type=int, default=500, help="held-out rooms per size (default 500)")


def _widths(text: str) -> tuple:
    try:
        w = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--widths {text!r} must be 4 comma-separated integers like 16,32,64,96") from None
    if len(w) != 4 or min(w) < 1:
        raise UserError(f"--widths {text!r} must be 4 positive integers like 16,32,64,96")
    return w


def _train(args) -> int:
    from ..parser_train import train_parser

    if args.steps < 1 or args.batch_size < 1 or args.save_every < 1 or args.threads < 1:
        raise UserError("--steps, --batch-size, --save-every and --threads must be at least 1")
    if not args.lr > 0:
        raise UserError(f"--lr {args.lr} must be positive")
    widths = _widths(args.widths)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'parser.pt'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    log = None
    if args.log:
        def log(rec, path=Path(args.log)):
            with path.open("a") as f:
                f.write(json.dumps(rec) + "\n")
    train_parser(out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                 widths=widths, save_every=args.save_every, log=log)
    print(f"wrote scene parser weights to {out}")
    return 0


def _eval(args) -> int:
    from ..data.rooms import CLASSES, MAX_SIZE, MIN_SIZE
    from ..parser import load_parser
    from ..parser_train import evaluate_parser
    from .common import parse_int_list

    sizes = parse_int_list(args.sizes, "--sizes")
    bad = [s for s in sizes if not MIN_SIZE <= s <= MAX_SIZE]
    if bad:
        raise UserError(f"--sizes {bad} out of range; the parser works from {MIN_SIZE} to {MAX_SIZE} pixels")
    if args.n < 1:
        raise UserError("--n must be at least 1")
    parser = load_parser(args.weights)
    results = [evaluate_parser(parser, s, n=args.n) for s in sizes]
    print(f"{'class':<12}" + "".join(f"{f'IoU@{r.size}':>10}" for r in results))
    for k, name in enumerate(CLASSES):
        print(f"{name:<12}" + "".join(f"{r.iou[k]:>10.3f}" for r in results))
    print(f"{'mean':<12}" + "".join(f"{r.mean_iou:>10.3f}" for r in results))
    return 0


def run(args) -> int:
    return _train(args) if args.parser_action == "train" else _eval(args)
