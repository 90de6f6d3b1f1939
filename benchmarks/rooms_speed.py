"""Rooms rendering speed on one core: images per second at 32, 64 and 128 pixels.

Measures the training fast path (``RoomsDataset.get_batch``: render + tensor in [-1, 1])
and the full sample with class map and boxes (``render_room``).
Goal (issue 3): >= 2,000 images/s at 64x64. Last line: JSON with ``images_per_s`` (64x64,
wall clock) and ``images_per_cpu_s`` (CPU time: what one free core would do; the wall clock
drops when other jobs share the core, see ``load_average``).

Usage: python benchmarks/rooms_speed.py [--n 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2
import torch

from gan_viz.data.rooms import RoomsDataset, render_room


def rate(fn, n: int) -> tuple[float, float]:
    """(items per wall-clock second, items per CPU second of this process)."""
    fn(range(min(50, n)))  # warm-up
    t, c = time.perf_counter(), time.process_time()
    fn(range(n))
    return n / (time.perf_counter() - t), n / max(1e-9, time.process_time() - c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="images per measurement")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    result = {}
    for size in (32, 64, 128):
        ds = RoomsDataset(image_size=size, n=args.n + 100)
        batch, batch_cpu = rate(lambda idx: [ds.get_batch(list(idx)[i:i + 128]) for i in range(0, len(idx), 128)], args.n)
        full, _ = rate(lambda idx: [render_room(0, i, size) for i in idx], args.n // 3)
        result[str(size)] = {"batch_images_per_s": round(batch), "batch_images_per_cpu_s": round(batch_cpu),
                             "full_samples_per_s": round(full)}
        print(f"{size:>4}x{size:<4} get_batch {batch:8.0f} img/s ({batch_cpu:.0f} per CPU-s)   "
              f"render_room (masks+boxes) {full:8.0f} /s")
    ips = result["64"]["batch_images_per_s"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other jobs slow the wall clock
    print(json.dumps({"images_per_s": ips, "images_per_cpu_s": result["64"]["batch_images_per_cpu_s"],
                      "goal": 2000, "met": ips >= 2000,
                      "met_per_cpu_s": result["64"]["batch_images_per_cpu_s"] >= 2000, "load_average": load, "per_size": result}))


if __name__ == "__main__":
    main()
