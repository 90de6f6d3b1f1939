"""gan-viz samples: samples to draw boxes on (one PNG each, indexed contact sheet, manifest)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..boxes import manifest_dict
from ..errors import UserError
from ..images import to_uint8
from ..io import atomic_path, save_png, write_json
from .common import add_common, context_of, subject_of

NAME = "samples"
HELP = "write samples to annotate: one PNG each, an indexed contact sheet and a manifest (index, file, z)"
EXAMPLES = ["gan-viz samples --n 150 --out out/to_annotate",
            "gan-viz samples --n 150 --scale 8 --out out/to_annotate_big   # 256px PNGs for drawing",
            "gan-viz forget --boxes boxes.csv --manifest out/to_annotate/manifest.json --out out/fig6"]
CSV_HEADER = "file,label,x0,y0,x1,y1\n"


def add_arguments(p):
    add_common(p)
    p.add_argument("--n", type=int, default=150, help="number of samples (default 150, as the paper)")
    p.add_argument("--scale", type=int, default=1,
                   help="write PNGs this many times larger (nearest neighbour) for easier drawing; boxes "
                        "drawn on them are scaled back by gan-viz forget (default 1)")
    p.add_argument("--columns", type=int, default=15, help="contact sheet columns (default 15)")
    p.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")


def contact_sheet(pics: np.ndarray, columns: int, tile: int = 96) -> np.ndarray:
    """(N, H, W, 3) uint8 -> one RGB sheet with each sample enlarged and its index below it."""
    n = len(pics)
    rows = -(-n // columns)
    label_h = 16
    sheet = np.full((rows * (tile + label_h + 4) + 4, columns * (tile + 4) + 4, 3), 255, np.uint8)
    for i, pic in enumerate(pics):
        r, c = divmod(i, columns)
        y, x = 4 + r * (tile + label_h + 4), 4 + c * (tile + 4)
        sheet[y:y + tile, x:x + tile] = cv2.resize(pic, (tile, tile), interpolation=cv2.INTER_NEAREST)
        cv2.putText(sheet, str(i), (x + 2, y + tile + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return sheet


def run(args) -> int:
    for opt, v, lo in (("--n", args.n, 1), ("--scale", args.scale, 1), ("--columns", args.columns, 1),
                       ("--batch-size", args.batch_size, 1)):
        if v < lo:
            raise UserError(f"{opt} {v}: must be at least {lo}")
    if args.scale > 32:
        raise UserError(f"--scale {args.scale} is too large; use 1 to 32")
    S = subject_of(args)
    if not S.has_G:
        S.require("G")  # says what is missing, before anything is written
    from ..memory import image_bytes, require

    require("--n", args.n, 2 * image_bytes(S.image_shape), "the samples")
    ctx = context_of(args, subject=S)
    z = S.sample_z(args.n, torch.Generator().manual_seed(args.seed))
    pics = to_uint8(S.images(z, args.batch_size, ctx.device))  # (N, H, W, 3)
    out = ctx.out
    files = [f"sample_{i:04d}.png" for i in range(args.n)]
    for f, pic in zip(files, pics):
        big = np.repeat(np.repeat(pic, args.scale, 0), args.scale, 1) if args.scale > 1 else pic
        save_png(out / f, big)
    save_png(out / "contact_sheet.png", contact_sheet(pics, args.columns))
    write_json(out / "manifest.json", manifest_dict(files, z.numpy(), S.image_size, args.scale, S.where, args.seed))
    with atomic_path(out / "z.npy", suffix=".npy") as tmp:
        np.save(tmp, z.numpy())
    with atomic_path(out / "boxes_template.csv") as tmp:
        tmp.write_text(CSV_HEADER)
    print(f"wrote {args.n} samples ({S.image_size * args.scale}px PNGs), contact_sheet.png and "
          f"manifest.json to {out}; draw boxes (COCO, LabelMe, VOC or CSV like boxes_template.csv) and run "
          f"gan-viz forget --boxes FILE --manifest {out / 'manifest.json'}")
    return 0
