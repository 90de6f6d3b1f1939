"""What a filter audit reads: every hidden conv block's response, and the activations over a set.

A block's response is read as the next layer reads it: after BatchNorm and activation
(:func:`feature_layers`); :func:`collect` runs a network over batches with the layers captured
(:func:`gan_viz.hooks.capture`).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.hooks import capture
from gan_viz.layers import CONVS, RECTIFIERS
from gan_viz.sources import evaluating

# leaf modules that keep a conv block going (between its convolution and its activation)
IN_BLOCK = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm, nn.Upsample, nn.Identity, nn.Dropout,
            nn.Dropout2d, nn.AvgPool2d, nn.MaxPool2d)


def leaf_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted name, module) of every module of ``net`` without children, in registration order."""
    return [(n, m) for n, m in net.named_modules() if n and next(m.children(), None) is None]


def feature_layers(net: nn.Module) -> list[str]:
    """The response of every hidden conv block, by dotted name: the rectifier module that follows
    each convolution (``lrelu3``, ``main.4``, ``features.7``, ``blocks.1.act``), in registration order.

    A block whose activation is a functional call (no rectifier module) is read at its last
    conv or norm module instead. The output convolution (D's score, G's image: no Linear
    layer after it) is left out.
    """
    leaves = leaf_modules(net)
    convs = [i for i, (_, m) in enumerate(leaves) if isinstance(m, CONVS)]
    if not convs:
        return []
    output = convs[-1] if not any(isinstance(m, nn.Linear) for _, m in leaves[convs[-1] + 1:]) else None
    names, block, start = [], None, None  # block: where the open block is read; start: its conv's index

    def close():
        if block is not None and start != output:
            names.append(block)

    for i, (name, m) in enumerate(leaves):
        if isinstance(m, CONVS):
            close()
            block, start = name, i
        elif block is None:
            continue
        elif isinstance(m, RECTIFIERS):
            names.append(name)
            block = None
        elif isinstance(m, IN_BLOCK):
            if not isinstance(m, (nn.Upsample, nn.Identity, nn.Dropout, nn.Dropout2d)):
                block = name  # read after the norm / pooling
        else:  # a Linear, Flatten, Sigmoid, Tanh ... ends the block
            close()
            block = None
    close()
    return names


@torch.no_grad()
def collect(net: nn.Module, layers: Sequence[str], batches: Iterable[torch.Tensor],
            device: torch.device | str = "cpu", keep_output: bool = False, call: Callable | None = None):
    """Run ``net`` (eval mode) over ``batches``; return ``{layer: (N, C, h, w)}`` (and the outputs).

    Args:
        batches: inputs (images for D, z for G), CPU tensors.
        keep_output: also return the concatenated network outputs (G's images).
        call: what runs a batch (default ``net``; e.g. a subject's generator, which reshapes z).
    """
    acts: dict[str, list] = {n: [] for n in layers}
    outs = []
    call = call or net
    with evaluating(net), capture(net, list(layers)) as cur:
        net.to(device)
        for x in batches:
            y = call(x.to(device))
            for n in layers:
                acts[n].append(cur[n].float().cpu())
            if keep_output:
                outs.append(y.float().cpu())
    stacked = {n: torch.cat(v) for n, v in acts.items()}
    return (stacked, torch.cat(outs)) if keep_output else stacked



def batches_of(fetch: Callable[[np.ndarray], torch.Tensor], n: int, batch_size: int, desc: str):
    """Yield ``fetch(indices)`` over 0..n-1 in batches, with a progress bar."""
    for s in tqdm(range(0, n, batch_size), desc=desc, unit="batch", leave=False):
        yield fetch(np.arange(s, min(n, s + batch_size)))
