"""Scene parser accuracy on held-out rooms (test split): per-class IoU at 32 and 64 pixels.

Goals (issue 3): at 64x64 window IoU >= 0.85 and mean IoU >= 0.75; at 32x32 window IoU
>= 0.75. The last line is JSON: ``window_iou`` and ``mean_iou`` at the bundled GAN's size
(32 unless the bundled checkpoint says otherwise), and every size nested in ``per_size``.

Usage: python benchmarks/parser_accuracy.py [--weights FILE.pt] [--n 500] [--sizes 32,64]
"""

from __future__ import annotations

import argparse
import json

import torch

from gan_viz.data.rooms import CLASSES
from gan_viz.parser import load_parser
from gan_viz.parser_train import evaluate_parser

GOALS = {32: {"window": 0.75}, 64: {"window": 0.85, "mean": 0.75}}


def bundled_size(default: int = 32) -> int:
    try:
        from gan_viz.checkpoint import load_checkpoint

        return int(load_checkpoint(None).config.image_size)
    except Exception:  # noqa: BLE001 - no bundled GAN yet: the planned size
        return default


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None, help="parser weights (default: the shipped ones)")
    ap.add_argument("--n", type=int, default=500, help="held-out rooms per size")
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parser = load_parser(args.weights)
    sizes = [int(s) for s in args.sizes.split(",")]
    res = {s: evaluate_parser(parser, s, n=args.n) for s in sizes}
    print(f"held-out rooms: {args.n} per size; parser trained {parser.meta.get('steps', '?')} steps")
    print(f"{'class':<12}" + "".join(f"{f'IoU@{s}':>10}" for s in sizes))
    for k, name in enumerate(CLASSES):
        print(f"{name:<12}" + "".join(f"{res[s].iou[k]:>10.3f}" for s in sizes))
    print(f"{'mean':<12}" + "".join(f"{res[s].mean_iou:>10.3f}" for s in sizes))
    print(f"{'pixel acc.':<12}" + "".join(f"{res[s].pixel_accuracy:>10.3f}" for s in sizes))
    w = CLASSES.index("window")
    per_size = {str(s): {"window_iou": round(float(r.iou[w]), 4), "mean_iou": round(r.mean_iou, 4),
                         "pixel_accuracy": round(r.pixel_accuracy, 4),
                         "per_class": {c: round(float(r.iou[k]), 4) for k, c in enumerate(CLASSES)}}
                for s, r in res.items()}
    met = all(per_size[str(s)][f"{g}_iou"] >= v for s, gs in GOALS.items() if s in res for g, v in gs.items())
    b = bundled_size()
    top = per_size.get(str(b), per_size[str(sizes[0])])
    print(json.dumps({"window_iou": top["window_iou"], "mean_iou": top["mean_iou"], "bundled_size": b,
                      "n": args.n, "goals_met": met, "per_size": per_size}))


if __name__ == "__main__":
    main()
