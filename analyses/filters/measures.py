"""Per-layer measures of filters: which layers are read, filter weights, similarities, activation statistics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gan_viz.layers import CONVS, NORMS, RECTIFIERS

PASS_THROUGH = NORMS + (nn.Dropout, nn.Dropout2d)


def analysed_layers(net: nn.Module) -> list[tuple[str, str]]:
    """(conv, activation) dotted-name pairs: each (transposed) convolution followed, after any
    normalisation, by a ReLU / LeakyReLU module, in registration order (``("conv2", "lrelu2")``
    for a gan-viz D, ``("main.2", "main.4")`` for a PyTorch examples D)."""
    leaves = [(n, m) for n, m in net.named_modules() if n and not len(m._modules)]
    pairs = []
    for i, (name, m) in enumerate(leaves):
        if not isinstance(m, CONVS):
            continue
        j = i + 1
        while j < len(leaves) and isinstance(leaves[j][1], PASS_THROUGH):
            j += 1
        if j < len(leaves) and isinstance(leaves[j][1], RECTIFIERS):
            pairs.append((name, leaves[j][0]))
    return pairs


def filter_weights(m: nn.Module) -> torch.Tensor:
    """(F, P): one row per output filter (Conv2d: weight[j]; ConvTranspose2d: weight[:, j])."""
    w = m.weight.detach().float()
    if isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(0, 1)  # (in, out, k, k) -> (out, in, k, k)
    return w.reshape(w.shape[0], -1)


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """(F, F) cosine similarity of the rows of x (F, P); zero rows give 0."""
    n = x.norm(dim=1, keepdim=True)
    u = x / torch.where(n > 0, n, torch.ones_like(n))
    return u @ u.T


def activation_stats(act: torch.Tensor, dead_rel: float) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """(std (C,), dead (C,) bool, correlation (C, C)) of activations (N, C, H, W)."""
    a = act.double()
    std = a.std(dim=0, unbiased=False).mean(dim=(1, 2)).numpy() if len(a) > 1 else np.zeros(a.shape[1])
    dead = std <= max(1e-6, dead_rel * float(np.median(std)))
    flat = a.transpose(0, 1).reshape(a.shape[1], -1)  # (C, N*H*W)
    corr = cosine_matrix(flat - flat.mean(dim=1, keepdim=True)).float()
    corr[torch.as_tensor(dead)] = 0
    corr[:, torch.as_tensor(dead)] = 0
    return std, dead, corr


def duplicate_pairs(wcos: torch.Tensor, acorr: torch.Tensor, thr: float) -> list[tuple[int, int, float, float]]:
    """(i, j, weight cosine, activation correlation) for i < j with either above ``thr``."""
    hit = torch.triu((wcos > thr) | (acorr > thr), diagonal=1)
    return [(int(i), int(j), float(wcos[i, j]), float(acorr[i, j])) for i, j in hit.nonzero().tolist()]


def reversal_cos(w0: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, min_rel_step: float) -> np.ndarray:
    """Per filter: cosine of the deltas w1 - w0 and w2 - w1 (F,); NaN where a step is negligible."""
    d1, d2 = w1 - w0, w2 - w1
    c = torch.nn.functional.cosine_similarity(d1, d2, dim=1, eps=1e-12).numpy().astype(np.float64)
    scale = w1.norm(dim=1).clamp_min(1e-12)
    small = (d1.norm(dim=1) / scale < min_rel_step) | (d2.norm(dim=1) / scale < min_rel_step)
    c[small.numpy()] = np.nan
    return c
