"""Per-epoch sample quality that needs no download.

For any dataset: the nearest-neighbour distance (per-pixel RMS) of generated samples
to held-out real images, beside the same distance from other held-out images (the
paper's own code logged the former). For rooms, also the scene parser's class pixel
fractions of samples vs real images and a Frechet distance in the parser's features.

The real-vs-real floor is measured at the model's N: a reference set of held-out images
(up to ``N_REAL``) and a second, disjoint set of held-out images as large as the
generated set (``N_SAMPLES``) that is compared with the same reference exactly as the
samples are (``nn_dist_heldout_to_heldout``, ``frechet_parser_real_vs_real``). A
Frechet distance grows as N shrinks (about 1/N), so a floor from smaller sets (halves)
would sit too high and make the model look closer to real than it is. Where the data
holds fewer than ``N_REAL + N_SAMPLES`` images, a third of it (at most ``N_SAMPLES``) is
the control set and the samples' Frechet distance uses as many samples.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import torch

from ..data import build_dataset
from ..errors import UserError
from ..io import atomic_path, save_figure
from ..models import sample_z
from .loop import derived_seed, load_batch

log = logging.getLogger("gan_viz.train")
N_SAMPLES, N_REAL = 256, 512


def nn_distance(a: torch.Tensor, b: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """Per-pixel RMS distance of each row of ``a`` (N, ...) to its nearest row of ``b`` (M, ...)."""
    a2, b2 = a.flatten(1).double(), b.flatten(1).double()
    d = torch.cdist(a2, b2)
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.min(1).values / a2.shape[1] ** 0.5


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, F)."""
    from scipy import linalg

    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.atleast_2d(np.cov(f1, rowvar=False)), np.atleast_2d(np.cov(f2, rowvar=False))  # (F, F), F >= 1
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def reference_split(size: int, n_samples: int | None = None, n_real: int | None = None) -> tuple[range, range]:
    """(reference, control) indices of a held-out set of ``size`` images: disjoint, the control as large
    as the generated set (``N_SAMPLES``) where the data allows (else a third of it)."""
    n_samples = N_SAMPLES if n_samples is None else n_samples
    n_real = N_REAL if n_real is None else n_real
    m = min(n_samples, max(1, size // 3)) if size < n_real + n_samples else n_samples
    m = m if size >= 2 else 0  # one image: no control set (the floor is NaN)
    ref = min(n_real, size - m)
    return range(ref), range(ref, ref + m)


def _checked_frechet(fake: np.ndarray, real: np.ndarray) -> float:
    """:func:`gan_viz.metrics.frechet_distance` (N > F, the square root's imaginary part and finiteness
    checked); NaN with a warning where it refuses, so a training run logs on."""
    from ..metrics import frechet_distance as checked

    try:
        return checked(real, fake, "the parser's features")
    except UserError as e:
        log.warning("no Frechet distance this epoch: %s", e)
        return float("nan")


class _Reference:
    """Held-out real images (and their parser statistics), computed once per run: ``images`` the
    reference, ``control`` a disjoint set of the generated set's size (the real-vs-real floor)."""

    def __init__(self, run):
        t, m = run.tcfg, run.mcfg
        held = getattr(run, "heldout_index", None)
        if held is not None:  # a folder: the images the run holds out (never trained on)
            data, pick = run.data, held
        else:
            data = build_dataset(t.dataset, m.image_size, m.nc, "test", t.data_root, seed=0)
            pick = torch.arange(len(data))
        ref, control = reference_split(len(pick))
        self.images = load_batch(data, pick[ref.start:ref.stop]).float()
        self.control = load_batch(data, pick[control.start:control.stop]).float() if len(control) else None
        self.parser = None
        if t.dataset == "rooms":
            try:
                from ..parser import load_parser

                self.parser = load_parser()
            except UserError as e:  # the parser is optional for training; say why it is absent
                log.warning("no scene parser for quality figures: %s", e)
        if self.parser is not None:
            self.fractions = self.parser.class_fractions(self.images).numpy()
            self.features = self.parser.features(self.images).numpy()
            self.control_features = None if self.control is None else self.parser.features(self.control).numpy()


def epoch_quality(run, epoch: int) -> dict:
    """Compute and record sample quality at the end of ``epoch`` (rank 0 only)."""
    if not run.info.is_main:
        return {}
    if not hasattr(run, "_quality_ref"):
        run._quality_ref = _Reference(run)
    ref = run._quality_ref
    G = run.sampling_G()
    z = sample_z(run.mcfg, N_SAMPLES, torch.Generator().manual_seed(derived_seed(run.tcfg.seed, "quality")))
    G.eval()
    try:
        with torch.no_grad():
            fake = G(z.to(run.device)).float().cpu()
    finally:
        if G is run.nets.G:
            G.train()
    row = {"epoch": epoch, "step": run.step,
           "nn_dist_fake_to_heldout": float(nn_distance(fake, ref.images).mean()),
           "nn_dist_heldout_to_heldout": float("nan") if ref.control is None else
           float(nn_distance(ref.control, ref.images).mean())}
    if ref.parser is not None:
        from ..data.rooms import CLASSES

        frac = ref.parser.class_fractions(fake).numpy()
        n = N_SAMPLES if ref.control is None else len(ref.control)  # the control's N
        feats = ref.parser.features(fake).numpy()[:n]
        row["frechet_parser"] = _checked_frechet(feats, ref.features)
        row["frechet_parser_real_vs_real"] = float("nan") if ref.control is None else \
            _checked_frechet(ref.control_features, ref.features)
        from ..metrics import headline

        more = headline(ref.features, feats, ref.control_features)  # KID, precision/recall, density/coverage
        row.update({k: v for k, v in more.items() if not k.startswith("frechet")})
        for k, name in enumerate(CLASSES):
            row[f"frac_{name}_fake"] = float(frac[:, k].mean())
            row[f"frac_{name}_real"] = float(ref.fractions[:, k].mean())
        _plot_fractions(run.out, epoch, CLASSES, frac.mean(0), ref.fractions.mean(0))
    _append_row(run.out / "quality.csv", row)
    log.info("epoch %d quality %s", epoch, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return row


def _append_row(path: Path, row: dict) -> None:
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
    rows.append(row)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, list(row))
        w.writeheader()
        w.writerows(rows)


def _plot_fractions(out: Path, epoch: int, classes, fake: np.ndarray, real: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(classes))
    ax.bar(x - 0.2, real, 0.4, label="real (held-out)")
    ax.bar(x + 0.2, fake, 0.4, label="generated")
    ax.set_xticks(x, classes, rotation=45, ha="right")
    ax.set_ylabel("pixel fraction (scene parser)")
    ax.set_title(f"Class pixel fractions, epoch {epoch}")
    ax.legend()
    save_figure(fig, out / "quality", f"epoch_{epoch:03d}")
