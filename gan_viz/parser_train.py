"""Training and evaluation of the scene parser on rendered rooms.

``train_parser`` draws fresh train-split rooms at a random size per step (a mix of 32..128),
with light augmentation that stands in for the look of generated images (noise, blur,
contrast, grayscale, mirror). ``evaluate_parser`` measures per-class IoU on the held-out
test split. Both are plain functions; the CLI (``gan-viz parser train``) and
``benchmarks/parser_accuracy.py`` glue them to files.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data.rooms import CLASSES, render_room, to_tensor
from .parser import ParserConfig, ParserNet, SceneParser, prepare, save_parser

TRAIN_SIZES = {32: 0.35, 48: 0.15, 64: 0.3, 96: 0.12, 128: 0.08}  # size: probability per step


@dataclass(frozen=True)
class IoUResult:
    """Per-class IoU at one size: iou (K,) float (nan for a class absent everywhere)."""

    size: int
    n_images: int
    iou: np.ndarray
    pixel_accuracy: float

    @property
    def mean_iou(self) -> float:
        return float(np.nanmean(self.iou))


def rooms_batch(seed: int, indices, size: int, stream: int = 0):
    """Render rooms -> (images uint8 (N, H, W, 3), classmaps int64 (N, H, W))."""
    samples = [render_room(seed, int(i), size, stream) for i in indices]
    return np.stack([s.image for s in samples]), np.stack([s.classmap for s in samples]).astype(np.int64)


def augment(images: np.ndarray, classmaps: np.ndarray, rng: np.random.Generator):
    """Mirror, blur, grayscale, contrast and noise; returns ((N, 3, H, W) float, (N, H, W) long)."""
    images, classmaps = images.copy(), classmaps.copy()
    for i in range(len(images)):
        if rng.random() < 0.5:
            images[i], classmaps[i] = images[i, :, ::-1], classmaps[i, :, ::-1]
        if rng.random() < 0.3:
            images[i] = cv2.GaussianBlur(images[i], (0, 0), rng.uniform(0.3, 0.9))
    x = to_tensor(images)  # (N, 3, H, W) in [-1, 1]
    n = len(x)
    gray = torch.from_numpy(rng.random(n) < 0.08)
    x[gray] = x[gray].mean(1, keepdim=True).expand(-1, 3, -1, -1)
    a = torch.from_numpy(rng.uniform(0.85, 1.15, n)).float().view(n, 1, 1, 1)
    b = torch.from_numpy(rng.uniform(-0.1, 0.1, n)).float().view(n, 1, 1, 1)
    sigma = torch.from_numpy(rng.uniform(0, 0.06, n) * (rng.random(n) < 0.5)).float().view(n, 1, 1, 1)
    x = (x * a + b + sigma * torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))).clamp_(-1, 1)
    return x, torch.from_numpy(classmaps)


def class_weights(seed: int = 12345, n: int = 400, size: int = 64) -> torch.Tensor:
    """(K,) loss weights: (median frequency / frequency) ** 0.5, clipped to [0.5, 4]."""
    _, cm = rooms_batch(seed, range(n), size)
    freq = np.bincount(cm.ravel(), minlength=len(CLASSES)).astype(np.float64) / cm.size
    w = np.clip((np.median(freq) / np.maximum(freq, 1e-6)) ** 0.5, 0.5, 4.0)
    return torch.tensor(w, dtype=torch.float32)


def train_parser(out, steps: int = 6000, batch_size: int = 24, lr: float = 3e-3, seed: int = 0,
                 widths=(16, 32, 64, 96), save_every: int = 500, progress: bool = True,
                 log=None) -> ParserNet:
    """Train a :class:`ParserNet` on fresh train-split rooms and save it to ``out``.

    Args:
        out: weights file to write (also every ``save_every`` steps). steps: optimiser steps.
        batch_size: rooms per step. lr: peak AdamW learning rate (cosine decay).
        seed: seed of the rooms stream and of the initialisation. widths: ParserConfig.widths.
        log: optional callable(dict) called every 100 steps.
    Returns:
        the trained network (eval mode).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    net = ParserNet(ParserConfig(widths=tuple(widths)))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))) * 0.99 + 0.01))
    weights = class_weights()
    sizes, probs = zip(*TRAIN_SIZES.items())
    net.train()
    t0, running = time.time(), None
    bar = tqdm(range(steps), desc="parser", disable=not progress, dynamic_ncols=True)
    for step in bar:
        size = pick.choices(sizes, probs)[0]
        imgs, cms = rooms_batch(seed, range(step * batch_size, (step + 1) * batch_size), size)
        x, y = augment(imgs, cms, rng)
        x, _ = prepare(x)
        logits = net(x)[..., :size, :size]
        loss = F.cross_entropy(logits, y, weight=weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", size=size)
        if log is not None and (step + 1) % 100 == 0:
            log({"step": step + 1, "loss": running, "seconds": time.time() - t0})
        if (step + 1) % save_every == 0 or step + 1 == steps:
            save_parser(net, out, {"steps": step + 1, "of_steps": steps, "batch_size": batch_size, "lr": lr,
                                   "seed": seed, "train_sizes": {str(k): v for k, v in TRAIN_SIZES.items()},
                                   "loss": running})
    return net.eval()


def evaluate_parser(parser: SceneParser, size: int, n: int = 500, seed: int = 0,
                    batch_size: int = 100) -> IoUResult:
    """Per-class IoU of ``parser`` on ``n`` held-out (test split) rooms at ``size``."""
    k = len(CLASSES)
    conf = np.zeros((k, k), np.int64)  # rows: truth, columns: prediction
    for start in range(0, n, batch_size):
        imgs, cms = rooms_batch(seed, range(start, min(n, start + batch_size)), size, stream=1)
        pred = parser.segment(to_tensor(imgs)).numpy()
        conf += np.bincount(cms.ravel() * k + pred.ravel(), minlength=k * k).reshape(k, k)
    tp = np.diag(conf).astype(np.float64)
    denom = conf.sum(0) + conf.sum(1) - tp
    iou = np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)
    return IoUResult(size=size, n_images=n, iou=iou, pixel_accuracy=float(tp.sum() / conf.sum()))
