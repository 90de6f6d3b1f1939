"""Vanilla (MLP) GAN vs DCGAN on digits, trained for the same wall-clock budget on this CPU.

Both use the paper's recipe (Adam 2e-4, beta1 0.5, batch 128, non-saturating G loss) and
the gan-viz training step (``gan_viz.training.loop.train_step``) on one CPU thread; only
training (data, noise, D and G steps) counts towards the budget. After every epoch, outside
the clock: a sample grid (``OUT/<arch>/samples/``) and an evaluation of 1,000 samples with a
small CNN trained here on the real digits (``gan_viz.analyses.modes``): modes covered, KL to
the real class histogram, collapse, mean confidence, classifier score, and the Frechet
distance in that CNN's 128-d hidden features to the real training digits. Training stops
at the first epoch end past the budget.

    nice -n 10 python benchmarks/gan_vs_dcgan.py                   # 16x16, 240 s per arch
    python benchmarks/gan_vs_dcgan.py --budget 20 --out /tmp/quick  # smoke run

Last line: JSON with one row per architecture (images/s, epochs, final mode coverage and
quality) and the per-epoch curves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gan_viz.analyses import modes as M
from gan_viz.data.labelled import load_split
from gan_viz.config import ModelConfig
from gan_viz.hooks import capture
from gan_viz.models import sample_z
from gan_viz.training.config import TrainConfig
from gan_viz.training.loop import autocast_for, load_batch, train_step
from gan_viz.training.quality import frechet_distance
from gan_viz.training.run import TrainingRun

N_EVAL = 1000


class Judge:
    """The digit classifier and the real reference statistics, built once."""

    def __init__(self, size: int, seed: int):
        self.train = load_split("digits", size, 1, "train", seed=seed)
        self.test = load_split("digits", size, 1, "test", seed=seed)
        self.clf = M.train_classifier(self.train.images, self.train.labels, 10, epochs=8, seed=seed)
        self.real_features = self.features(self.train.images)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        """(N, 128) hidden features of the classifier (after fc1 + ReLU)."""
        self.clf.eval()
        with capture(self.clf, ["relu3"]) as acts:
            self.clf(images)
        return acts["relu3"].double().numpy()

    def evaluate(self, G: torch.nn.Module, cfg: ModelConfig, seed: int) -> dict:
        z = sample_z(cfg, N_EVAL, torch.Generator().manual_seed(seed))
        G.eval()
        try:
            with torch.no_grad():
                fake = G(z)
        finally:
            G.train()
        r = M.compute_modes(self.clf, fake, self.test.images, self.test.labels)
        s = M.summary_of(r)
        return {"modes_covered": s["modes_covered"], "missing_modes": s["missing_modes"],
                "collapsed": s["collapsed"], "dominant_classes": s["dominant_classes"],
                "dominant_share": round(s["dominant_share"], 3), "kl_real_to_generated": round(r.kl_real_gen, 4),
                "mean_confidence": round(r.confidence, 4), "classifier_score": round(r.classifier_score, 3),
                "frechet_classifier": round(frechet_distance(self.features(fake), self.real_features), 3)}


def train_for(arch: str, size: int, budget: float, out: Path, judge: Judge, seed: int) -> dict:
    """Train ``arch`` on digits until the first epoch end past ``budget`` seconds of training."""
    mcfg = ModelConfig(arch=arch, image_size=size, nc=1)
    tcfg = TrainConfig(dataset="digits", max_steps=10 ** 9, quality_every_epoch=False, seed=seed)
    run = TrainingRun(mcfg, tcfg, out / arch, torch.device("cpu"))
    (run.out / "samples").mkdir(parents=True, exist_ok=True)
    amp = autocast_for("fp32", run.device)
    elapsed, curve = 0.0, []
    while elapsed < budget:
        t0 = time.perf_counter()
        for _ in range(run.steps_per_epoch):
            x = load_batch(run.data, run.batch_indices(run.step))
            train_step(run.nets, x, run.noise(run.step), amp)
            run.step += 1
        elapsed += time.perf_counter() - t0
        run.write_samples()  # samples/step_XXXXXXXX.png, one grid per epoch (fixed z)
        row = {"epoch": run.step // run.steps_per_epoch, "step": run.step, "train_s": round(elapsed, 2)}
        row.update(judge.evaluate(run.nets.G, mcfg, seed))
        curve.append(row)
        print(json.dumps({"arch": arch, **row}), flush=True)
    params = sum(p.numel() for n in (run.nets.G, run.nets.D) for p in n.parameters())
    last = curve[-1]
    return {"arch": arch, "params": params, "steps": run.step, "epochs": last["epoch"], "train_s": last["train_s"],
            "images_per_s": round(run.step * tcfg.batch_size / elapsed, 1),
            "s_per_epoch": round(elapsed / last["epoch"], 2),
            "final": {k: v for k, v in last.items() if k not in ("epoch", "step", "train_s")},
            "best_modes_covered": max(r["modes_covered"] for r in curve),
            "epochs_collapsed": sum(r["collapsed"] for r in curve), "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=240.0, help="training seconds per architecture (default: 240)")
    ap.add_argument("--image-size", type=int, default=16, choices=[16, 32])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/gan_vs_dcgan", help="sample grids per epoch go here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    t0 = time.perf_counter()
    judge = Judge(args.image_size, args.seed)
    acc = float((M.predict_proba(judge.clf, judge.test.images).argmax(1) == judge.test.labels).mean())
    rows = [train_for(arch, args.image_size, args.budget, out, judge, args.seed) for arch in ("mlp", "dcgan")]
    print("\n| arch | params | epochs | images/s | modes | missing | KL(real||gen) | conf | clf score | FD |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["final"]
        print(f"| {r['arch']} | {r['params'] / 1e6:.2f}M | {r['epochs']} | {r['images_per_s']} | "
              f"{f['modes_covered']}/10 | {','.join(f['missing_modes']) or '-'} | {f['kl_real_to_generated']} | "
              f"{f['mean_confidence']} | {f['classifier_score']} | {f['frechet_classifier']} |")
    print(json.dumps({"benchmark": "gan_vs_dcgan", "dataset": "digits", "image_size": args.image_size,
                      "budget_s": args.budget, "threads": 1, "classifier_test_accuracy": round(acc, 4),
                      "n_eval": N_EVAL, "wall_s": round(time.perf_counter() - t0, 1), "out": str(out),
                      "results": rows}))


if __name__ == "__main__":
    main()
