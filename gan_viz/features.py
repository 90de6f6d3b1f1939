"""Discriminator features: D's hidden block outputs, pooled and concatenated.

Shared by the analyses that read D as a feature extractor (``classify``: the paper's
Table 1 protocol; ``neighbors``: the D space of the memorisation search, each vector
scaled to unit length; ``evaluate``: D's own feature space for sample-quality metrics).
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
from .layers import RECTIFIERS, resolve_layer
from .sources import evaluating

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


# --- Inception, from the user's local weights only ---------------------------------------------

INCEPTION_SIZE = 299
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_inception(path, device: torch.device | str = "cpu"):
    """torchvision's ``inception_v3`` with the weights of a local file (never downloaded), as a
    feature extractor: images (N, C, H, W) in [-1, 1] -> (N, 2048) pool features (float32, CPU).

    The file: a torchvision ``inception_v3`` state dict (e.g. ``Inception_V3_Weights.IMAGENET1K_V1``
    saved by the user), read with ``weights_only=True``; ``fc.*`` is dropped, ``AuxLogits.*`` is
    optional. Images are mapped to [0, 1], resized bilinearly to 299 and ImageNet-normalised;
    grayscale is repeated to 3 channels. pytorch-fid's FID Inception (1008 classes) is refused:
    its FID-specific blocks are not torchvision's, so its weights would not give FID.

    Raises:
        UserError: a missing or unreadable file, a state dict of another layout.
    """
    import torchvision
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--inception-weights {p} does not exist; give a local torchvision inception_v3 state dict")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - the user's file: one line
        raise UserError(f"cannot read --inception-weights {p} ({type(e).__name__}); give a torchvision "
                        "inception_v3 state dict saved with torch.save") from None
    sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"--inception-weights {p} is not a state dict of tensors")
    fc = sd.get("fc.weight")
    if fc is not None and fc.shape[0] == 1008:
        raise UserError(f"--inception-weights {p} is pytorch-fid's FID Inception (1008 classes), whose blocks are "
                        "not torchvision's; wrap pytorch-fid's InceptionV3 as --features FILE.py:FUNC instead")
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    aux = any(k.startswith("AuxLogits.") for k in sd)
    net = torchvision.models.inception_v3(weights=None, aux_logits=aux, init_weights=False)
    net.fc = nn.Identity()
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise UserError(f"--inception-weights {p} does not fit torchvision's inception_v3: "
                        f"{'missing' if missing else 'unexpected'} key {first!r}")
    net.eval().to(device)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    @torch.no_grad()
    def extract(images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch_size):
            x = (images[i:i + batch_size].float() + 1) / 2  # (B, C, H, W) in [0, 1]
            x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
            out.append(net(((x - mean) / std).to(device)).float().cpu())
        return torch.cat(out).numpy()

    return extract
