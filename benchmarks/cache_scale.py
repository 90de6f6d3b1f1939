"""The decode-once cache at scale: build and train from a disk cache larger than the memory budget.

Writes a folder of N PNG images (64x64 rooms; default 100,000; reused if present), then
runs ``gan-viz train --dataset folder`` with a small ``--data-cache-mb`` (so the cache is
read from disk batch by batch, never held in memory) twice: the first run builds the
cache, the second reuses it. Reports the build time, images/s of the steps (the
trainer's own metrics.csv) and the peak RSS of the training process and of the decoding
workers (getrusage of the children), against the cache file's size.

    python benchmarks/cache_scale.py --images 100000 --folder /tmp/rooms100k --steps 300

Last line: JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_folder(root: Path, n: int, size: int) -> float:
    from PIL import Image

    from gan_viz.data.rooms import RoomsDataset
    from gan_viz.images import to_uint8

    t = time.perf_counter()
    sub = root / "rooms"
    sub.mkdir(parents=True, exist_ok=True)
    have = len(list(sub.glob("*.png")))
    if have >= n:
        return 0.0
    ds = RoomsDataset(image_size=size, n=n, split="train")
    for s in range(have, n, 512):
        idx = list(range(s, min(n, s + 512)))
        for i, pic in zip(idx, to_uint8(ds.get_batch(idx))):
            Image.fromarray(pic).save(sub / f"{i:07d}.png", compress_level=1)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--folder", default="/tmp/gan_viz_rooms_folder")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cache-mb", type=int, default=64, help="--data-cache-mb (below the cache's size)")
    a = p.parse_args()
    folder = Path(a.folder)
    write_s = write_folder(folder, a.images, a.size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for run in ("build", "reuse"):
            cmd = [sys.executable, "-m", "gan_viz", "train", "--dataset", "folder", "--data-root", str(folder),
                   "--image-size", str(a.size), "--batch-size", str(a.batch_size), "--max-steps", str(a.steps),
                   "--no-quality", "--data-cache-dir", str(tmp / "cache"), "--data-cache-mb", str(a.cache_mb),
                   "--checkpoint-every", str(10 ** 9), "--out", str(tmp / run)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            log = (tmp / run / "train.log").read_text()
            built = [ln.split("cache built in ")[1].split(" s")[0] for ln in log.splitlines() if "cache built in" in ln]
            with open(tmp / run / "metrics.csv") as f:
                ips = [float(r["images_per_s"]) for r in csv.DictReader(f)][1:]  # the first interval warms up
            rows.append({"run": run, "wall_s": round(wall, 1), "cache_build_s": float(built[0]) if built else None,
                         "steps_images_per_s": round(sum(ips) / max(1, len(ips)), 1),
                         "peak_rss_mb_so_far": round(peak_mb, 1), "rss_before_mb": round(before / 1024, 1)})
        size_mb = sum(f.stat().st_size for f in (tmp / "cache").glob("*.u8")) / 2 ** 20
    for r in rows:
        print(r)
    print(json.dumps({"images": a.images, "size": a.size, "cache_file_mb": round(size_mb, 1),
                      "data_cache_mb": a.cache_mb, "folder_write_s": round(write_s, 1), "runs": rows}))


if __name__ == "__main__":
    main()
