"""Guided backprop speed: batched rows vs one captum call per filter, and the top-response scan.

All filters of D's default layer, top K (9) images each: the maps of :func:`guided_maps`
(``--batch-size`` rows per backward pass, each row on its unit's receptive-field cone)
against :func:`guided_maps_per_filter` (a loop of captum calls, one per filter, each over
that filter's K whole images; the same guided rule). Then the seconds to
scan 10,000 images for the top responses (rooms images rendered on the fly, as the
command does). On the bundled checkpoint when installed, else on a fresh default DCGAN
of the same architecture (said in the output: the timings do not depend on the weights).

Usage:
    python benchmarks/guided_backprop_speed.py [--ckpt CKPT] [--top 9] [--scan-images 10000]

Last line: JSON with speedup (goal >= 3), max_abs_diff (<= 1e-5), scan_10k_s (goal <= 30 at 64x64);
speedup_as_shipped times the batched maps on D in the channels-last layout the analyses use
(captum's loop stays on the default layout a user's checkpoint loads in).
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch


def _model(ckpt: str | None):
    from gan_viz.checkpoint import BUNDLED, load_checkpoint
    from gan_viz.config import ModelConfig
    from gan_viz.models import build_discriminator

    if ckpt or BUNDLED.exists():
        ck = load_checkpoint(ckpt)
        return ck.require("D"), ck.config, str(ck.path), ck.dataset or "rooms"
    cfg = ModelConfig()  # 64x64, ndf=64: the bundled model's architecture
    torch.manual_seed(0)
    return build_discriminator(cfg).eval(), cfg, "fresh default DCGAN (bundled checkpoint not installed)", "rooms"


def _as_shipped(D, layer, images, rows_f, pos, batch_size: int, device) -> tuple:
    """(maps, seconds) of the batched maps on D as an analysis subject holds it: gan-viz's own D in
    channels-last layout (gan_viz.checkpoint.fast_layout); captum's loop runs D as a checkpoint loads."""
    from gan_viz.analyses.guided_backprop import guided_maps
    from gan_viz.checkpoint import fast_layout

    D_fast = fast_layout(copy.deepcopy(D))
    guided_maps(D_fast, layer, images[:8], rows_f[:8], pos[:8], device=device, progress=False)  # warm-up
    t0 = time.perf_counter()
    maps = guided_maps(D_fast, layer, images, rows_f, pos, batch_size=batch_size, device=device)
    return maps, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--top", type=int, default=9)
    ap.add_argument("--scan-images", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--filters", type=int, default=None, help="first N filters only (default: all)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    from gan_viz.analyses.guided_backprop import guided_maps, guided_maps_per_filter
    from gan_viz.data import build_dataset
    from gan_viz.layers import check_layer
    from gan_viz.sources import dataset_source
    from gan_viz.units import scan_top

    D, cfg, where, dataset = _model(a.ckpt)
    layer, out_shape = check_layer(D, None, "D", (cfg.nc, cfg.image_size, cfg.image_size))
    n_filters = out_shape[0]
    filters = list(range(n_filters if a.filters is None else min(a.filters, n_filters)))
    ds = build_dataset(dataset, cfg.image_size, cfg.nc, "test", n=a.scan_images)
    source = dataset_source(ds, dataset, a.scan_images)

    t0 = time.perf_counter()
    top = scan_top(D, layer, source, filters, a.top, a.batch_size, a.device)
    scan_s = time.perf_counter() - t0

    images = source.fetch(top.index.reshape(-1).numpy())  # (F*K, C, H, W)
    rows_f = torch.arange(len(filters)).repeat_interleave(a.top)
    pos = top.positions.reshape(-1, 2)
    guided_maps(D, layer, images[:8], rows_f[:8], pos[:8], device=a.device, progress=False)  # warm-up
    t0 = time.perf_counter()
    batched = guided_maps(D, layer, images, rows_f, pos, batch_size=a.batch_size, device=a.device)
    batched_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = guided_maps_per_filter(D, layer, images, rows_f, pos, device=a.device)
    loop_s = time.perf_counter() - t0
    shipped, shipped_s = _as_shipped(D, layer, images, rows_f, pos, a.batch_size, a.device)

    result = {
        "model": where, "layer": f"D.{layer}", "image_size": cfg.image_size, "filters": len(filters),
        "top_k": a.top, "rows": len(images), "batch_size": a.batch_size, "device": a.device,
        "threads": torch.get_num_threads(), "batched_s": round(batched_s, 3), "loop_s": round(loop_s, 3),
        "speedup": round(loop_s / batched_s, 3),
        "max_abs_diff": float((batched - loop).abs().max()),
        "batched_channels_last_s": round(shipped_s, 3),  # the layout analyses run D in
        "speedup_as_shipped": round(loop_s / shipped_s, 3),  # vs captum on the default layout
        "max_abs_diff_as_shipped": float((shipped - loop).abs().max()),
        "max_abs_map": float(batched.abs().max()),
        "scan_images": a.scan_images, "scan_s": round(scan_s, 3),
        "scan_10k_s": round(scan_s * 10_000 / a.scan_images, 3),
        "scan_10k_extrapolated": a.scan_images != 10_000,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
