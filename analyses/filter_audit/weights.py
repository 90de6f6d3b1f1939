"""The weights of the convolutions: their statistics, and the filters that touch pixels."""

from __future__ import annotations

import numpy as np
from torch import nn

from gan_viz.errors import UserError
from gan_viz.layers import CONVS

from .activations import leaf_modules


def weight_stats(net: nn.Module) -> dict:
    """Per convolution module (dotted name): mean, std, max |w|, near-zero share, spread of filter
    norms (std / mean)."""
    stats = {}
    for name, m in net.named_modules():
        if not isinstance(m, CONVS):
            continue
        w = m.weight.detach().double()
        per_filter = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w  # (out, in, k, k)
        norms = per_filter.flatten(1).norm(dim=1)
        stats[name] = {"shape": list(w.shape), "mean": float(w.mean()), "std": float(w.std()),
                       "abs_max": float(w.abs().max()), "near_zero": float((w.abs() < 1e-3).double().mean()),
                       "filter_norm_cv": float(norms.std(correction=0) / norms.mean().clamp(min=1e-30))}
    return stats


def pixel_conv(net: nn.Module, tag: str) -> tuple[str, nn.Module]:
    """(dotted name, module) of the convolution that touches pixels: D's first, G's last."""
    convs = [(n, m) for n, m in leaf_modules(net) if isinstance(m, CONVS)]
    if not convs:
        raise UserError(f"{tag} has no convolution layers (an MLP GAN?); the filter audit needs conv filters")
    return convs[0] if tag == "D" else convs[-1]


def pixel_conv_words(net: nn.Module, tag: str) -> str:
    """The pixel convolution in words for a figure: "first conv D.main.0", "last transposed conv G.conv5",
    "last conv G.to_rgb" (a plain Conv2d, e.g. after nn.Upsample)."""
    name, m = pixel_conv(net, tag)
    kind = "transposed conv" if isinstance(m, nn.ConvTranspose2d) else "conv"
    return f"{'first' if tag == 'D' else 'last'} {kind} {tag}.{name}"


def first_layer_filters(net: nn.Module, tag: str) -> np.ndarray:
    """The filters that touch pixels as (F, k, k, nc): D's first conv, G's last conv.

    D's filter f reads an (nc, k, k) patch (weight (F, nc, k, k)); G's input channel f of a last
    transposed conv (weight (F, nc, k, k)) stamps an (nc, k, k) patch onto the image, and of a
    last plain conv (weight (nc, F, k, k)) weighs the (k, k) window of feature map f.
    """
    m = pixel_conv(net, tag)[1]
    w = m.weight.detach().float()
    if tag == "G" and not isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(0, 1)  # (F, nc, k, k)
    return w.permute(0, 2, 3, 1).numpy()
