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
a set); see :mod:`gan_viz.analyses.forget_causal`.

Example:
    >>> layer = default_layer(G)                            # "relu3" for a 32x32 DCGAN
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

from gan_viz.sources import evaluating
from gan_viz.errors import UserError
from gan_viz.hooks import capture, resolve_layer
from gan_viz.layers import CONVS, NORMS, RECTIFIERS, tail_after

BLOCK = NORMS + RECTIFIERS  # inside a conv block
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


def call_order(net: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple]]:
    """(dotted name, module, output shape without the batch) of every module call of ``net``'s own
    forward on ``x`` (eval mode, no grad), in the order the calls end (a block after its layers).
    A module called twice is listed at its first call."""
    calls: list = []
    seen: set = set()
    handles = []

    def hook(name):
        def record(m, _inp, out):
            if name not in seen and isinstance(out, torch.Tensor):
                seen.add(name)
                calls.append((name, m, tuple(out.shape[1:])))
        return record

    try:
        for name, m in net.named_modules():
            if name:
                handles.append(m.register_forward_hook(hook(name)))
        with evaluating(net), torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _z_probe(G, nz: int | None) -> tuple[nn.Module, list]:
    """G's module and its call order on two zero latent codes."""
    from gan_viz.subject import Subject

    module, _ = generator_parts(G)
    if isinstance(G, Subject):
        nz = G.nz
        x = G.as_input(torch.zeros(2, nz))
    elif nz is None:
        raise UserError(f"{type(module).__name__} has no config: give nz (its latent size) or pass a Subject")
    else:
        x = torch.zeros(2, nz)
    p = next(iter(module.parameters()), None)
    return module, call_order(module, x.to(p.device) if p is not None else x)


def _leaves(calls: list) -> list:
    return [c for c in calls if next(c[1].children(), None) is None]


def default_layer(G, nz: int | None = None) -> str:
    """The second-highest convolution's block output (after its BN and ReLU), e.g. "relu3", found
    from the calls of G's own forward (``main.8`` for a PyTorch examples G, ``blocks.2.act`` for
    a G of nested blocks).

    Args:
        G: a generator module or a Subject. nz: latent size (a module's; default: its config's).
    Raises:
        UserError: a generator with fewer than two convolutions (an MLP generator).
    """
    nz = nz if nz is not None else getattr(getattr(G, "config", None), "nz", None)
    leaves = _leaves(_z_probe(G, nz)[1])
    convs = [i for i, (_, m, _) in enumerate(leaves) if isinstance(m, CONVS)]
    if len(convs) < 2:
        raise UserError("this generator has fewer than two convolution layers (an MLP GAN?); "
                        "forgetting filters needs a convolutional generator")
    last = convs[-2]
    for i in range(convs[-2] + 1, convs[-1]):
        if isinstance(leaves[i][1], BLOCK):
            last = i  # stay inside the block: stop before an Upsample or the next conv
        else:
            break
    return leaves[last][0]


@torch.no_grad()
def check_layer(G, name: str | None, nz: int | None = None) -> tuple[str, tuple]:
    """The dotted layer name (without "G.") and its output shape (C, h, w); default :func:`default_layer`.

    Args:
        G: a generator module or a Subject. name: e.g. "G.relu3", "blocks.1.act" or None.
        nz: latent size (for a module; a Subject knows its own).
    Raises:
        UserError: a D layer, an unknown name, or a layer without hidden feature maps.
    """
    fallback = default_layer(G, nz)  # also rejects generators without convolutions
    name = fallback if name is None else name
    if name.startswith("D."):
        raise UserError(f"layer {name}: forget edits the generator; give a G layer (see gan-viz layers)")
    module, calls = _z_probe(G, nz)
    resolve_layer(module, name, "G")
    short = name[2:] if name.startswith("G.") else name
    order = {n: i for i, (n, _, _) in enumerate(calls)}
    if short not in order:
        raise UserError(f"layer G.{short} is never called by the generator's forward; choose a layer that "
                        "`gan-viz layers` lists with a shape")
    shape = calls[order[short]][2]
    last_conv = max(i for i, (_, m, _) in enumerate(calls) if isinstance(m, CONVS))
    if len(shape) != 3 or order[short] >= last_conv:
        raise UserError(f"layer G.{short} has output shape {shape}, not hidden feature maps (C, H, W); "
                        "choose a hidden conv layer (see gan-viz layers)")
    return short, shape


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


def after_layer(G: nn.Module, layer: str) -> nn.Module | None:
    """G's children after ``layer`` as one module (layer output -> image), or None when G
    is not a plain chain (:func:`gan_viz.layers.tail_after`; the edit then runs as a hook on
    G's own forward)."""
    return tail_after(G, layer)


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
    from gan_viz.analyses.boxes import cell_labels

    out = np.zeros((n, grid, grid), bool)
    for i, bs in boxes.items():
        out[i] = cell_labels(bs, image_size, grid)
    return out
