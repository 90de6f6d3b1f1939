"""The report's own figures: the model card (config, training curves, samples) and the gallery
of every filter of D's last feature layer with the labels from the filter audit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from gan_viz.errors import UserError

GALLERY_COLS = 16


def card_facts(ck) -> dict:
    """Config, training config and step of the checkpoint, plus its exported model card where present."""
    facts = {"checkpoint": str(ck.path), "source": ck.source, "step": ck.step, "epoch": ck.epoch,
             "model": ck.config.to_dict(), "train": ck.train_config or {}}
    card = ck.path.with_name(ck.path.stem + "_card.json")
    if card.exists():
        facts["card"] = json.loads(card.read_text())
    return facts


def metrics_csv(ck, card: dict | None = None) -> Path | None:
    """RUN/metrics.csv of a checkpoint inside RUN/checkpoints/, or of the run an exported checkpoint's
    card names (``exported_from``, found relative to the working folder), when it exists."""
    candidates = [ck.path.resolve().parent.parent / "metrics.csv"]
    if card and card.get("exported_from"):
        candidates.append(Path(card["exported_from"]).parent.parent / "metrics.csv")
    return next((p for p in candidates if p.exists()), None)


def plot_training_curves(path: Path):
    """Losses and D outputs over steps from a run's metrics.csv -> Figure."""
    import matplotlib.pyplot as plt

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UserError(f"{path} holds no rows")
    step = np.array([float(r["step"]) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for col in ("loss_D", "loss_G"):
        if col in rows[0]:
            axes[0].plot(step, [float(r[col]) for r in rows], lw=0.8, label=col)
    for col in ("D_x", "D_G_z"):
        if col in rows[0]:
            axes[1].plot(step, [float(r[col]) for r in rows], lw=0.8, label=col)
    for ax, title in zip(axes, ("losses", "D outputs")):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_samples(ck, n: int = 64, seed: int = 0):
    """An 8x8 grid of samples of G (fixed seed) -> Figure."""
    import matplotlib.pyplot as plt
    import torch

    from gan_viz.images import grid, to_uint8
    from gan_viz.models import sample_z

    G = ck.require("G")
    z = sample_z(ck.config, n, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        img = grid(to_uint8(G.eval()(z)), 8)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(img.squeeze(), cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{n} samples, seed {seed}, step {ck.step}")
    return fig


def audit_last_layer(folder: Path) -> tuple:
    """(layer, top_index (C, K), IoU labels (C,) or None, precision labels (C,) or None, class names)
    of D's last audited layer in an audit folder (labels: class id, -1 = none)."""
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        names = [str(n) for n in z["layer_names"]]
        d_layers = [n for n in names if f"{n.replace('.', '_')}__trained__top_index" in z and n.startswith("D")]
        if not d_layers:
            raise UserError(f"the audit in {folder} holds no D layer")
        last = max(d_layers, key=lambda n: int("".join(ch for ch in n if ch.isdigit()) or 0))
        key = f"{last.replace('.', '_')}__trained__"
        labels = z[key + "labels"] if key + "labels" in z else None
        prec = z[key + "precision_labels"] if key + "precision_labels" in z else None
        return last, z[key + "top_index"], labels, prec, [str(c) for c in z["class_names"]]


def plot_filter_gallery(images: np.ndarray, labels: list[str], layer: str):
    """Every filter's top image with its audit label, one mosaic. images: (C, H, W, 3) uint8 -> Figure."""
    import matplotlib.pyplot as plt

    from gan_viz.images import grid

    C, H = len(images), images.shape[1]
    cols = min(GALLERY_COLS, C)
    rows = -(-C // cols)
    pad = max(2, H // 3)  # room above each tile for its label
    mosaic = grid(images, cols, pad=pad)  # (rows*(H+pad)+pad, cols*(H+pad)+pad, 3)
    fig, ax = plt.subplots(figsize=(cols * 0.75, rows * 0.85 + 0.4))
    ax.imshow(mosaic, interpolation="nearest")
    for i in range(C):
        r, c = divmod(i, cols)
        ax.text(pad + c * (H + pad) + H / 2, pad + r * (H + pad) - 1, f"{i} {labels[i]}", fontsize=4.5,
                ha="center", va="bottom")
    ax.set_axis_off()
    ax.set_title(f"{layer}: each filter's top image (audit label: IoU class, p:class = precision label, '-' = none)", fontsize=9)
    fig.tight_layout()
    return fig


def gallery_images(ck, folder: Path, device) -> tuple[str, np.ndarray, list[str]]:
    """Top image per filter of D's last audited layer, fetched from the audit's own image source."""
    import argparse

    from gan_viz.cli.guided_backprop import image_source
    from gan_viz.images import to_uint8

    run = json.loads((folder / "run.json").read_text())["options"]
    layer, top, labels, prec, classes = audit_last_layer(folder)
    args = argparse.Namespace(source=run.get("source", "auto"), images=run["images"],
                              data_root=run.get("data_root"), seed=run.get("seed", 0))
    source, _ = image_source(ck, args, device)
    imgs = to_uint8(source.fetch(np.asarray(top[:, 0])))  # (C, H, W, 3)
    return layer, imgs, [label_of(i, labels, prec, classes) for i in range(len(top))]


def label_of(i: int, iou, prec, classes) -> str:
    """A filter's IoU label; else its precision label as 'p:class'; else '-'."""
    if iou is not None and iou[i] >= 0:
        return classes[iou[i]]
    if prec is not None and prec[i] >= 0:
        return "p:" + classes[prec[i]]
    return "-"
