"""gan-viz data: look at a dataset before training on it (images, rooms masks, statistics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..images import grid, to_uint8
from ..io import save_figure, save_png, write_json, write_npz
from .common import prepare_out

NAME = "data"
HELP = "inspect datasets: `data preview` writes an image grid (rooms: masks with legend) and stats.json"
EXAMPLES = ["gan-viz data preview --dataset rooms --n 64 --out out/rooms_preview",
            "gan-viz data preview --dataset mnist --data-root ~/data --image-size 32 --out out/mnist_preview",
            "gan-viz data preview --dataset folder --data-root photos/ --bad-images skip --out out/photos"]


def add_arguments(p):
    from ..data import DATASETS

    sub = p.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    v = sub.add_parser("preview", help="grid of images (+ masks and per-class statistics for rooms)")
    v.add_argument("--dataset", default="rooms", help=f"one of {', '.join(DATASETS)} (default rooms)")
    v.add_argument("--data-root", default=None, metavar="DIR", help="where a real dataset lies")
    v.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    v.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    v.add_argument("--nc", type=int, default=None, choices=[1, 3], help="channels (default: the dataset's)")
    v.add_argument("--split", default="train", choices=["train", "test"])
    v.add_argument("--n", type=int, default=64, help="images to show and count (default 64)")
    v.add_argument("--seed", type=int, default=0, help="rooms seed (default 0)")
    v.add_argument("--bad-images", default="stop", choices=["stop", "skip"],
                   help="folder: stop at an unreadable image (default) or skip and count it")
    v.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")


@dataclass(frozen=True)
class RoomsPreview:
    """What `data preview` measures on rooms: images (N, H, W, 3) uint8, classmaps (N, H, W)."""

    indices: np.ndarray
    images: np.ndarray
    classmaps: np.ndarray
    boxes: list  # per image: [(class_id, x0, y0, x1, y1), ...]
    attrs: list  # per image: dict


def compute_rooms_preview(ds, n: int) -> RoomsPreview:
    samples = [ds.sample(i) for i in range(n)]
    return RoomsPreview(np.arange(n), np.stack([s.image for s in samples]), np.stack([s.classmap for s in samples]),
                        [s.boxes for s in samples], [s.attrs for s in samples])


def rooms_stats(r: RoomsPreview) -> dict:
    """Per-class pixel fractions, object frequencies and attribute counts."""
    from ..data.rooms import CLASSES

    k, n = len(CLASSES), len(r.images)
    frac = np.bincount(r.classmaps.ravel(), minlength=k) / r.classmaps.size
    per_img = np.zeros((n, k), np.int64)
    for i, bx in enumerate(r.boxes):
        for b in bx:
            per_img[i, b[0]] += 1
    objects = [c for c in range(k) if per_img[:, c].any() or CLASSES[c] not in ("wall", "floor", "ceiling")]
    return {"n_images": n, "image_size": int(r.images.shape[1]),
            "pixel_fraction": {CLASSES[c]: float(frac[c]) for c in range(k)},
            "object_frequency": {CLASSES[c]: float((per_img[:, c] > 0).mean()) for c in objects},
            "instances_per_image": {CLASSES[c]: float(per_img[:, c].mean()) for c in objects},
            "n_windows": dict(sorted(Counter(int(a["n_windows"]) for a in r.attrs).items())),
            "time_of_day": dict(Counter(a["time_of_day"] for a in r.attrs))}


def plot_masks(r: RoomsPreview, ncol: int | None = None):
    """Grid of class maps in the fixed palette with a legend -> matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..data.rooms import CLASSES, PALETTE

    pic = grid(PALETTE[r.classmaps], nrow=ncol)
    fig, ax = plt.subplots(figsize=(7, 7 * pic.shape[0] / pic.shape[1] + 0.6))
    ax.imshow(pic, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"rooms class maps ({len(r.images)} images, {r.images.shape[1]}x{r.images.shape[2]})")
    handles = [Patch(color=PALETTE[c] / 255.0, label=name) for c, name in enumerate(CLASSES)]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=5, frameon=False)
    return fig


def _real_preview(ds, n: int):
    items = [ds[i] for i in range(n)]
    import torch

    images = torch.stack([x for x, _ in items])
    labels = np.array([y for _, y in items], np.int64)
    stats = {"n_images": n, "dataset_size": len(ds), "shape": list(images.shape[1:]),
             "pixel_mean": float(images.mean()), "pixel_std": float(images.std()),
             "labels": dict(sorted(Counter(labels.tolist()).items()))}
    skipped = sorted(getattr(ds, "skipped", ()))
    if skipped:
        stats["skipped_unreadable"] = {"count": len(skipped), "paths": skipped[:50]}
    return images, labels, stats


def run(args) -> int:
    from ..data import GRAYSCALE, build_dataset

    if args.n < 1:
        raise UserError(f"--n {args.n}: show at least one image")
    nc = args.nc or (1 if args.dataset in GRAYSCALE else 3)
    ds = build_dataset(args.dataset, args.image_size, nc, args.split, args.data_root, args.download,
                       seed=args.seed, bad_images=args.bad_images, cached=False)
    n = min(args.n, len(ds))
    out = prepare_out(args, dataset=args.dataset, n=n)
    if args.dataset == "rooms":
        r = compute_rooms_preview(ds, n)
        save_png(out / "images.png", grid(r.images))
        save_figure(plot_masks(r), out, "masks")
        stats = rooms_stats(r)
        write_npz(out / "arrays.npz", indices=r.indices, images=r.images, classmaps=r.classmaps, seed=args.seed)
    else:
        images, labels, stats = _real_preview(ds, n)
        save_png(out / "images.png", grid(to_uint8(images)))
        write_npz(out / "arrays.npz", indices=np.arange(n), images=images.numpy(), labels=labels)
    stats.update(dataset=args.dataset, split=args.split)
    write_json(out / "stats.json", stats)
    print(f"wrote a preview of {n} {args.dataset} images to {out}")
    return 0
