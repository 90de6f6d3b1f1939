"""Discriminator features: D's hidden block outputs, pooled and concatenated.

Shared by the analyses that read D as a feature extractor (``classify``: the paper's
Table 1 protocol; ``evaluate``: D's own feature space for sample-quality metrics).
A block is the output of every rectifier module of D (after its BatchNorm and
LeakyReLU, i.e. as the next layer reads it); where D has none (functional
activations), its convolutions except a one-channel head.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .hooks import resolve_layer
from .sources import evaluating

RECTIFIERS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6)
POOL = 4


def feature_layers(D: nn.Module) -> list[str]:
    """D's hidden block outputs by dotted name: its rectifier modules (``lrelu1``, ... of a gan-viz
    DCGAN or MLP, ``main.1``, ``main.4``, ... of a PyTorch examples D); where D has none (functional
    activations), its convolutions except a one-channel head."""
    names = [n for n, m in D.named_modules() if n and isinstance(m, RECTIFIERS)]
    if not names:
        names = [n for n, m in D.named_modules() if n and isinstance(m, nn.Conv2d) and m.out_channels > 1]
    if not names:
        raise UserError("this discriminator has no rectifier or convolution modules to read features from; "
                        "pass --layers with D layer names (`gan-viz layers` lists them)")
    return names


def check_layers(D: nn.Module, layers: str | Sequence[str] | None) -> list[str]:
    """``layers`` ("L1,L2", a list, or None = :func:`feature_layers`) checked against D, ``D.`` dropped."""
    if layers is None:
        return feature_layers(D)
    names = [s.strip() for s in layers.split(",")] if isinstance(layers, str) else [str(s) for s in layers]
    names = [n for n in names if n]
    if not names:
        raise UserError("--layers is empty; give D layer names such as lrelu1,lrelu2")
    for n in names:
        resolve_layer(D, n, "D")
    return [n[2:] if n.startswith("D.") else n for n in names]


@torch.no_grad()
def d_features(D: nn.Module, images: torch.Tensor, layers: Sequence[str], pool: int = POOL,
               batch_size: int = 256, device: torch.device | str = "cpu") -> np.ndarray:
    """Concatenated D features: each layer max-pooled to ``pool`` x ``pool``, flattened.

    A module that D's forward calls several times (one activation module reused) gives
    one block per call, in call order.

    Args:
        D: any discriminator (run in eval mode, restored after). images: (N, C, H, W).
        layers: dotted module names of D (``D.`` optional). pool: grid side (maps already this small are kept).
    Returns:
        (N, F) float32.
    """
    modules = [(n, resolve_layer(D, n, "D")) for n in layers]
    calls: dict[str, list[torch.Tensor]] = {}

    def hook_of(name: str):
        def hook(_m, _inp, out):
            a = out.detach().float()
            a = F.adaptive_max_pool2d(a, pool) if a.dim() == 4 and a.shape[-1] > pool else a.clone()
            calls.setdefault(name, []).append(a.flatten(1).cpu())  # (B, C * pool * pool)
        return hook

    D.to(device)
    out, handles = [], []
    try:
        for name, m in modules:
            handles.append(m.register_forward_hook(hook_of(name)))
        with evaluating(D):
            for s in range(0, len(images), batch_size):
                calls.clear()
                D(images[s:s + batch_size].to(device))
                missing = [n for n in layers if n not in calls]
                if missing:
                    raise UserError(f"D's forward never called {', '.join(missing)}; pass --layers with "
                                    "modules it uses")
                out.append(torch.cat([t for n in layers for t in calls[n]], 1))
    finally:
        for h in handles:
            h.remove()
    return torch.cat(out).numpy()
