"""The checkerboard measurement: mean power spectra of G(z), of real images and of each 2x upsampling layer.

:func:`compute_checkerboard` runs G (its upsampling layers hooked through
:func:`gan_viz.hooks.capture`) and returns a :class:`CheckerboardResult`: no files, no figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from gan_viz.hooks import capture

from .spectrum import image_scores, peak_score, periods_for, power_spectrum


def upsampling_layers(G: nn.Module) -> list[str]:
    """Dotted names of G's 2x upsampling convolutions, in registration order: stride-2
    ConvTranspose2d, or a Conv2d registered right after an Upsample (``conv2`` of a gan-viz
    DCGAN, ``main.3`` of a PyTorch examples G, ``blocks.0.conv`` of a nested-block G)."""
    names, prev = [], None
    for name, m in G.named_modules():
        if not name or len(m._modules):  # containers: their leaves are visited in order
            continue
        if isinstance(m, nn.ConvTranspose2d) and m.stride[0] == 2:
            names.append(name)
        elif isinstance(m, nn.Conv2d) and isinstance(prev, nn.Upsample):
            names.append(name)
        prev = m
    return names


@dataclass(frozen=True)
class CheckerboardResult:
    """Spectra and scores; ``spec_real`` / ``real`` are None without real images."""

    image_size: int
    periods: list
    spec_generated: np.ndarray  # (S, S), unshifted
    spec_real: np.ndarray | None  # (S, S)
    generated: dict  # "period_2" -> score
    real: dict | None
    layers: list  # upsampling layer names, input to output
    layer_specs: dict  # name -> (r, r) mean spectrum of that layer's output
    per_layer: dict = field(default_factory=dict)  # name -> {resolution, image_period, score}
    sample_images: np.ndarray | None = None  # (k, C, S, S) a few generated images
    n_generated: int = 0  # images averaged into each spectrum (said in the figure)
    n_real: int = 0


@torch.no_grad()
def compute_checkerboard(G: nn.Module | None, z: torch.Tensor, real: torch.Tensor | None = None,
                         batch_size: int = 128, device: torch.device | str = "cpu",
                         generate: Callable[[torch.Tensor], torch.Tensor] | None = None) -> CheckerboardResult:
    """Mean power spectra of G(z) (and of ``real``) and per-layer checkerboard scores.

    Args:
        G: generator module (run in eval mode, restored after; its upsampling layers are
            hooked), or None with ``generate`` (image spectra only).
        z: (N, nz) latent codes; every item is used.
        real: (M, C, S, S) real images in [-1, 1], or None.
        batch_size: forward batch.
        device: where G runs.
        generate: z -> images (default ``G``; e.g. a subject's ``generator_fn()`` that reshapes z).
    Returns:
        A :class:`CheckerboardResult`.
    """
    fn = generate if generate is not None else G
    layers = upsampling_layers(G) if G is not None else []
    was = G.training if G is not None else False
    if G is not None:
        G.eval().to(device)
    sums: dict[str, np.ndarray] = {}
    img_sum, n, samples = None, 0, None
    try:
        for i in range(0, len(z), batch_size):
            zb = z[i:i + batch_size].to(device)
            with capture(G, layers) as acts:  # no layers (and no hooks) without a G module
                x = fn(zb).float().cpu()  # (B, C, S, S)
            w = len(zb)
            img_sum = _acc(img_sum, power_spectrum(x), w)
            for name in layers:
                sums[name] = _acc(sums.get(name), power_spectrum(acts[name].float().cpu()), w)
            samples = x[:8].numpy() if samples is None else samples
            n += w
    finally:
        if G is not None:
            G.train(was)
    size = img_sum.shape[0]
    periods = periods_for(size)
    spec_g = img_sum / n
    spec_r = power_spectrum(real) if real is not None else None
    specs = {k: v / n for k, v in sums.items()}
    per_layer = {k: {"resolution": int(s.shape[0]), "image_period": int(2 * size // s.shape[0]),
                     "score": peak_score(s, 2)} for k, s in specs.items()}
    return CheckerboardResult(size, periods, spec_g, spec_r, image_scores(spec_g, periods),
                              None if spec_r is None else image_scores(spec_r, periods), layers, specs,
                              per_layer, samples, len(z), 0 if real is None else len(real))


def _acc(total: np.ndarray | None, value: np.ndarray, weight: int) -> np.ndarray:
    return value * weight if total is None else total + value * weight
