"""Which generator filters draw an object: the paper's logistic-regression probe (Sec. 6.3.1).

Features are read at one generator layer, by default the output of the second-highest
convolution's block *after* its BatchNorm and ReLU (``G.relu3`` at 32x32, ``G.relu4`` at
64x64): the feature maps as the next layer reads them, which is also where a removed
filter is set to zero, so "removing a filter" means the next layer sees nothing from it.
(Zeroing before the BatchNorm would not remove it: BN adds its bias back.)

Each spatial position of each sample is one example with C features (one per filter).
Positives: positions on the object's boxes; negatives: random positions of the same
samples off the boxes, as many as the positives. Features are standardised, a
scikit-learn ``LogisticRegression`` is fitted on 75% of the samples (split by sample, so no
sample is on both sides) and scored on the rest (accuracy and AUC).

Selection rules (``--select``): ``positive`` (the paper: every filter with weight > 0),
``top-K`` (the K largest weights) and ``causal-K`` (GAN Dissection's later answer: the K
filters whose removal, one at a time, removes the most object pixels as the scene parser
counts them) and ``optimized-K`` (GAN Dissection's optimised ablation, judging filters as
a set); see :mod:`.causal`.

Example:
    >>> layer, _ = check_layer(G, None, "G")                # "relu3" for a 32x32 DCGAN (gan_viz.layers)
    >>> feats = layer_features(G, layer, z)                 # (N, C, h, w)
    >>> fit = fit_probe(feats, cells, seed=0)               # cells: (N, h, w) bool
    >>> select_filters(fit.weights, parse_select("positive", feats.shape[1]))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from gan_viz.errors import UserError
from gan_viz.hooks import capture
from gan_viz.sources import evaluating
HOLDOUT = 0.25  # share of the annotated samples kept out of the fit for accuracy / AUC


@dataclass(frozen=True)
class Selection:
    """A parsed ``--select`` rule: kind "positive", "top" or "causal", and K (None for positive)."""

    kind: str
    k: int | None = None

    def __str__(self) -> str:
        return self.kind if self.k is None else f"{self.kind}-{self.k}"


@dataclass(frozen=True)
class ProbeFit:
    """One logistic-regression fit: weights on standardised features and held-out scores."""

    weights: np.ndarray  # (C,) float, one per filter
    accuracy: float  # held-out
    auc: float  # held-out
    n_pos: int
    n_neg: int
    test_samples: np.ndarray  # (M,) indices of the held-out samples


# --- layers ------------------------------------------------------------------------------

def generator_parts(G) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """(the module to hook, the callable z (N, nz) -> images) of a generator module or a
    :class:`~gan_viz.subject.Subject` (whose G may take z shaped (N, nz, 1, 1))."""
    from gan_viz.subject import Subject

    if isinstance(G, Subject):
        return G.require("G"), G.generator_fn()
    return G, G


@torch.no_grad()
def layer_features(G, layer: str, z: torch.Tensor, batch_size: int = 256,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Feature maps of ``layer`` for latent codes z (N, nz): (N, C, h, w) float32 on the CPU.
    ``G``: a generator module or a Subject."""
    module, call = generator_parts(G)
    out = []
    module.to(device)
    with evaluating(module), capture(module, [layer], prefix="G") as acts:
        for i in range(0, len(z), batch_size):
            call(z[i:i + batch_size].to(device))
            out.append(acts[layer].float().cpu())
    return torch.cat(out)


# --- the probe ---------------------------------------------------------------------------

def probe_examples(features: np.ndarray, cells: np.ndarray, samples: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positives (on boxes) and as many random negatives off the boxes, per sample.

    Args:
        features: (N, C, h, w). cells: (N, h, w) bool, True on the object's boxes.
        samples: indices of the samples to draw from. rng: the draw of negatives.
    Returns:
        X (M, C) float and y (M,) int (1 on the object).
    """
    xs, ys = [], []
    for i in samples:
        f = features[i].reshape(features.shape[1], -1).T  # (h*w, C)
        on = np.flatnonzero(cells[i].ravel())
        off = np.flatnonzero(~cells[i].ravel())
        neg = rng.choice(off, size=min(len(on), len(off)), replace=False)
        xs += [f[on], f[neg]]
        ys += [np.ones(len(on), int), np.zeros(len(neg), int)]
    return np.concatenate(xs), np.concatenate(ys)


def fit_probe(features: np.ndarray, cells: np.ndarray, seed: int = 0) -> ProbeFit:
    """Fit the paper's logistic regression on the samples with boxes; score it held out.

    Args:
        features: (N, C, h, w) float at the probed layer. cells: (N, h, w) bool positives.
        seed: the train/test split of samples and the draw of negatives.
    Returns:
        A :class:`ProbeFit` with weights on standardised features.
    Raises:
        UserError: fewer than two samples with boxes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    boxed = np.flatnonzero(cells.reshape(len(cells), -1).any(1))
    if len(boxed) < 2:
        raise UserError(f"the object is boxed on {len(boxed)} sample(s); the probe needs boxes on at "
                        "least 2 samples (annotate more, or raise --samples)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(boxed)
    n_test = max(1, int(round(HOLDOUT * len(order))))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    X, y = probe_examples(features, cells, train, rng)
    Xt, yt = probe_examples(features, cells, test, rng)
    scaler = StandardScaler().fit(X)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(X), y)
    p = clf.predict_proba(scaler.transform(Xt))[:, 1]
    auc = float(roc_auc_score(yt, p)) if len(set(yt.tolist())) == 2 else float("nan")
    return ProbeFit(clf.coef_[0].astype(np.float64), float(((p > 0.5) == yt).mean()), auc,
                    int(y.sum()), int(len(y) - y.sum()), test)


# --- selection ---------------------------------------------------------------------------

def parse_select(text: str, channels: int) -> Selection:
    """``positive`` | ``top-K`` | ``causal-K`` | ``optimized-K`` with 1 <= K <= channels."""
    t = text.strip().lower()
    if t == "positive":
        return Selection("positive")
    m = re.fullmatch(r"(top|causal|optimized)-(\d+)", t)
    if not m:
        raise UserError(f"--select {text!r}: use positive, top-K, causal-K or optimized-K (e.g. top-16, causal-8)")
    k = int(m.group(2))
    if not 1 <= k <= channels:
        raise UserError(f"--select {text}: K must be between 1 and the layer's {channels} filters")
    return Selection(m.group(1), k)


def select_filters(scores: np.ndarray, rule: Selection) -> np.ndarray:
    """Filters chosen by ``rule`` from per-filter scores (probe weights or causal effects),
    in descending score order: (k,) int. ``positive`` keeps every score > 0."""
    order = np.argsort(-scores, kind="stable")
    if rule.kind == "positive":
        return order[scores[order] > 0]
    return order[:rule.k]


def cells_from_boxes(boxes: dict, n: int, image_size: int, grid: int) -> np.ndarray:
    """(n, grid, grid) bool: the feature cells on each sample's boxes (see ``boxes.cell_labels``)."""
    from gan_viz.boxes import cell_labels

    out = np.zeros((n, grid, grid), bool)
    for i, bs in boxes.items():
        out[i] = cell_labels(bs, image_size, grid)
    return out
