"""Training throughput of gan-viz vs a minimal PyTorch-examples-style DCGAN loop.

Same machine, same run, same config (DCGAN, ngf=ndf=64, batch 128): images/s of the
gan-viz trainer (its real loop: data prefetch, noise, D step, G step, logging) against
a reference loop that does what pytorch/examples dcgan/main.py does (nn.Sequential
networks from the layer list in ../shared/PAPER.md, BCELoss on sigmoid outputs, the
example's per-step .item() logging), written here, fed a pre-made batch (no data cost).
The gan-viz trainer renders its 50,000 rooms into memory once before its first step
(``gan_viz_startup_s``, outside the timed steps, as a DataLoader's start-up would be).
gan-viz's images/s are the trainer's own, from its metrics.csv (steps only, host syncs,
prefetch and logging included); ``..._with_final_save`` also counts the checkpoint and
sample grid every run writes when it ends.
Achieved GFLOP/s from torch.utils.flop_counter for both.

    python benchmarks/train_throughput.py            # 64x64 and 32x32
    python benchmarks/train_throughput.py --quick    # 32x32, fewer steps

Last line: JSON with ratio_fp32 (gan-viz fp32 / reference fp32) and ratio_bf16
(gan-viz under bf16 autocast / reference fp32; null where the CPU lacks native bf16) and the per-size figures. Goals (issue 4):
ratio_fp32 >= 1.0, ratio_bf16 >= 1.3.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gan_viz.config import ModelConfig
from gan_viz.training.config import TrainConfig
from gan_viz.training.hardware import cpu_has_bf16
from gan_viz.training.run import TrainingRun

BATCH = 128


def reference_nets(size: int, nz=100, ngf=64, ndf=64, nc=3):
    """The PyTorch examples DCGAN generalised to 2^k sizes (64x64 is the example exactly)."""
    nb = size.bit_length() - 3
    g = [nn.ConvTranspose2d(nz, ngf * 2 ** (nb - 1), 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2 ** (nb - 1)), nn.ReLU(True)]
    for i in range(nb - 1, 0, -1):
        g += [nn.ConvTranspose2d(ngf * 2 ** i, ngf * 2 ** (i - 1), 4, 2, 1, bias=False),
              nn.BatchNorm2d(ngf * 2 ** (i - 1)), nn.ReLU(True)]
    g += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    d = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for i in range(nb - 1):
        d += [nn.Conv2d(ndf * 2 ** i, ndf * 2 ** (i + 1), 4, 2, 1, bias=False),
              nn.BatchNorm2d(ndf * 2 ** (i + 1)), nn.LeakyReLU(0.2, inplace=True)]
    d += [nn.Conv2d(ndf * 2 ** (nb - 1), 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    return nn.Sequential(*g), nn.Sequential(*d)


class Reference:
    """One training step exactly as the PyTorch examples DCGAN does it."""

    def __init__(self, size: int, precision: str):
        torch.manual_seed(0)
        self.G, self.D = reference_nets(size)
        self.optD = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.crit = nn.BCELoss()
        self.real = torch.rand(BATCH, 3, size, size) * 2 - 1
        self.amp = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def step(self):
        label_real, label_fake = torch.full((BATCH,), 1.0), torch.full((BATCH,), 0.0)
        self.D.zero_grad()
        with self.amp:
            out = self.D(self.real).view(-1).float()
        err_real = self.crit(out, label_real)
        err_real.backward()
        d_x = out.mean().item()
        noise = torch.randn(BATCH, 100, 1, 1)
        with self.amp:
            fake = self.G(noise)
            out = self.D(fake.detach()).view(-1).float()
        err_fake = self.crit(out, label_fake)
        err_fake.backward()
        self.optD.step()
        self.G.zero_grad()
        with self.amp:
            out = self.D(fake).view(-1).float()
        err_g = self.crit(out, label_real)
        err_g.backward()
        self.optG.step()
        return d_x, err_g.item()


def time_reference(size, precision, steps, warmup=3):
    ref = Reference(size, precision)
    for _ in range(warmup):
        ref.step()
    with FlopCounterMode(display=False) as fc:
        ref.step()
    t = time.perf_counter()
    for _ in range(steps):
        ref.step()
    dt = time.perf_counter() - t
    return steps * BATCH / dt, fc.get_total_flops() * steps / dt / 1e9


def time_gan_viz(size, precision, steps, warmup=3):
    with tempfile.TemporaryDirectory() as tmp:
        mcfg = ModelConfig(image_size=size, nz=100, ngf=64, ndf=64, z_dist="normal")
        tcfg = TrainConfig(batch_size=BATCH, max_steps=warmup, precision=precision, checkpoint_every=10 ** 9,
                           sample_every=10 ** 9, log_every=10, quality_every_epoch=False, dataset_size=50_000)
        run = TrainingRun(mcfg, tcfg, tmp, torch.device("cpu"))
        run.start_files([])
        t = time.perf_counter()
        run.fit()  # renders the 50,000 training rooms into memory once (a start-up cost, reported)
        startup = time.perf_counter() - t
        x = run.data.get_batch(list(range(BATCH)))
        from gan_viz.training.loop import autocast_for, train_step

        with FlopCounterMode(display=False) as fc:
            train_step(run.nets, x, run.noise(0), autocast_for(precision, torch.device("cpu")))
        run.total_steps = run.step + steps
        t = time.perf_counter()
        run.fit()
        dt_all = time.perf_counter() - t  # also the run's last checkpoint and sample grid
        run.metrics_file.close()
        # the trainer's own images/s between its log points: the training steps only
        rows = [r for r in csv.DictReader(open(Path(tmp) / "metrics.csv")) if int(r["step"]) > warmup]
        n_prev, spent = warmup, 0.0
        for r in rows:
            n = int(r["step"]) - n_prev
            spent += n * BATCH / float(r["images_per_s"])
            n_prev = int(r["step"])
        dt = spent
    return (steps * BATCH / dt, fc.get_total_flops() * steps / dt / 1e9, startup, steps * BATCH / dt_all)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=None)
    a = ap.parse_args()
    sizes = [32] if a.quick else [64, 32]
    precisions = ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
    res = {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "native_bf16": cpu_has_bf16(), "batch": BATCH, "sizes": {}}
    for size in sizes:
        steps = a.steps or ((10 if a.quick else 20) if size == 32 else 8)
        for prec in precisions:
            ref_ips, ref_gf = time_reference(size, prec, steps)
            gv_ips, gv_gf, startup, gv_end = time_gan_viz(size, prec, steps)
            row = {"gan_viz_images_per_s": round(gv_ips, 1), "reference_images_per_s": round(ref_ips, 1),
                   "gan_viz_gflops": round(gv_gf, 1), "reference_gflops": round(ref_gf, 1),
                   "ratio": round(gv_ips / ref_ips, 3), "gan_viz_startup_s": round(startup, 1),
                   "gan_viz_images_per_s_with_final_save": round(gv_end, 1)}
            res["sizes"].setdefault(str(size), {})[prec] = row
            print(f"{size}x{size} {prec}: gan-viz {gv_ips:.0f} img/s ({gv_gf:.0f} GFLOP/s), "
                  f"reference {ref_ips:.0f} img/s ({ref_gf:.0f} GFLOP/s), ratio {gv_ips / ref_ips:.3f}", flush=True)
    head = res["sizes"]["32" if a.quick else "64"]
    res["ratio_fp32"] = head["fp32"]["ratio"]
    res["ratio_bf16"] = None  # gan-viz under bf16 autocast over the reference's fp32 loop
    if "bf16" in head:
        res["ratio_bf16"] = round(head["bf16"]["gan_viz_images_per_s"] / head["fp32"]["reference_images_per_s"], 3)
        res["ratio_bf16_same_precision"] = head["bf16"]["ratio"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
