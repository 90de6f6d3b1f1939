"""The analyses the explorer calls, each through one thin function here.

The explorer computes nothing of its own where core or an analysis already does it:
layers, their addresses and the default edit layer come from core (:mod:`gan_viz.layers`),
the concept's units from forget's causal selection, top images and guided-backprop maps
from the guided-backprop analysis, dissection labels from the filter audit, walks and
arithmetic from their packages, each through its public API. If one of those signatures
changes, only this file changes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn


# --- layers (core: gan_viz.layers) ---------------------------------------------------------

def default_edit_layer(subject) -> str | None:
    """The default G layer to edit (the second-highest conv block's output, e.g. ``relu3``, as
    forget reads it), or None where the generator has no such layer (an MLP generator)."""
    from gan_viz.errors import UserError
    from gan_viz.layers import default_layer

    try:
        return default_layer(subject, "G")
    except UserError:
        return None


def check_edit_layer(subject, name: str) -> tuple[str, tuple]:
    """(address without ``G.``, output shape (C, h, w)) of an editable G layer, or UserError."""
    from gan_viz.layers import check_layer

    return check_layer(subject, name, "G")


def tail_after(G: nn.Module, layer: str) -> nn.Module | None:
    """G's layers after ``layer`` as one module (None: G is not a flat chain; edit by a hook)."""
    from gan_viz.layers import tail_after as tail

    return tail(G, layer)


def features(subject, layer: str, z: torch.Tensor) -> torch.Tensor:
    """Feature maps of G layer ``layer`` for z (N, nz): (N, C, h, w) on the CPU."""
    from gan_viz.analyses.forget import layer_features

    return layer_features(subject, layer, z)


# --- the concept's units (forget) -------------------------------------------------------

def causal_units(subject, layer: str, z: torch.Tensor, segment: Callable, concept_id: int,
                 channels: int) -> np.ndarray:
    """forget's ``causal`` scores: the concept's pixel share each unit removes alone, (C,)."""
    from gan_viz.analyses.forget import causal_effects

    return causal_effects(subject, layer, z, segment, concept_id, torch.zeros(channels, 1, 1))


def select_units(scores: np.ndarray, k: int) -> np.ndarray:
    """forget's top-K selection from per-unit scores (descending, stable): (k,) int."""
    from gan_viz.analyses.forget import Selection, select_filters

    return select_filters(np.asarray(scores, np.float64), Selection("causal", int(k)))


# --- dissection (filter audit) ----------------------------------------------------------

def dissect_layer(acts: torch.Tensor, classmaps: torch.Tensor, n_classes: int) -> dict:
    """Network Dissection of one layer's activations (N, C, h, w) against class maps (N, H, W):
    ``iou`` (C, K), ``labels`` (C,) (-1 below the audit's IoU threshold), ``threshold`` (C,)."""
    from gan_viz.analyses.filter_audit import IOU_THRESHOLD, dissect, label_filters

    d = dissect(acts.float(), classmaps.long(), n_classes)
    return {"iou": d.iou, "labels": label_filters(d.iou, IOU_THRESHOLD), "threshold": d.threshold,
            "iou_threshold": IOU_THRESHOLD}


def layer_measures(acts: torch.Tensor, k: int) -> dict:
    """The audit's measures that need no masks: max response, active fraction, selectivity,
    dead, top_index (C, k)."""
    from gan_viz.analyses.filter_audit import no_mask_measures

    return no_mask_measures(acts.float(), k)


# --- D units: top images and guided backprop -------------------------------------------

def check_d_layer(subject, name: str) -> str:
    """A convolutional D layer's address without ``D.``, or UserError."""
    from gan_viz.layers import check_layer

    return check_layer(subject, name, "D")[0]


def d_channels(subject, layer: str) -> int:
    from gan_viz.layers import check_layer

    return int(check_layer(subject, layer, "D")[1][0])


def d_activations(D: nn.Module, layer: str, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """D's ``layer`` output for images (N, C, H, W): (N, C', h, w) on the CPU."""
    from gan_viz.hooks import forward_to
    from gan_viz.sources import evaluating

    out = []
    with evaluating(D), torch.no_grad():
        for s in range(0, len(images), batch_size):
            out.append(forward_to(D, layer, images[s:s + batch_size]).float().cpu())
    return torch.cat(out)


def guided_panel(subject, layer: str, z: torch.Tensor, images: torch.Tensor, unit: int, k: int) -> dict:
    """The guided-backprop analysis's panel of one D unit on the generated images G(z) (N, C, H, W):
    ``images`` (k, C, H, W), ``maps`` (k, H, W, 3) uint8 for display, ``activations`` (k,),
    ``index`` (k,) into z."""
    from gan_viz.analyses.guided_backprop import compute_panel, display_maps
    from gan_viz.sources import ImageSource

    fetch = lambda idx: images[torch.as_tensor(idx, dtype=torch.long)]  # noqa: E731  (already generated)
    src = ImageSource("generated", "G", len(images), fetch, z=z)
    p = compute_panel(subject.require("D"), layer, src, [int(unit)], int(k), rule="leaky")
    return {"images": p.images, "maps": display_maps(p.maps, "map"), "activations": p.activations,
            "index": p.image_index}


# --- walks and arithmetic ---------------------------------------------------------------

def interpolate(a: torch.Tensor, b: torch.Tensor, t: Sequence[float], interp: str) -> torch.Tensor:
    """z between a and b (nz,) at positions t: (T, nz) float32, by latent_walk's lerp / slerp."""
    from gan_viz.analyses.latent_walk import lerp, slerp

    fn = slerp if interp == "slerp" else lerp
    return fn(a, b, torch.as_tensor(list(t), dtype=torch.float64)).float()


def walk(subject, a: torch.Tensor, b: torch.Tensor, steps: int, interp: str, inst=None) -> dict:
    """latent_walk's measured walk from a to b: ``frames`` (F, C, H, W), ``fractions`` (F, K) or None,
    ``step_rms`` (F-1,), ``sharp`` (F-1,) bool, ``events`` (list of dicts)."""
    from gan_viz.analyses.latent_walk import compute_latent_walk

    r = compute_latent_walk(subject.generator_fn(), torch.stack([a, b]).float(), steps, interp, instrument=inst)
    return {"frames": r.frames, "fractions": r.fractions, "step_rms": r.step_rms, "sharp": r.sharp,
            "events": list(r.events) + list(r.presence)}


def arithmetic(subject, groups: Sequence[torch.Tensor], coefs: Sequence[float], n_noisy: int, seed: int,
               inst=None) -> dict:
    """arithmetic's concept-mean arithmetic: ``mean_images`` (T, ...), ``result_images`` (1 + n, ...)
    (G(Y) first), ``pixel_result`` (C, H, W), ``y`` (nz,), ``noisy_z`` (n, nz), ``fractions`` or None."""
    from gan_viz.analyses.arithmetic import compute_arithmetic

    terms = tuple((chr(ord("A") + i), float(c)) for i, c in enumerate(coefs))
    r = compute_arithmetic(subject.generator_fn(), terms, [g.float() for g in groups], n_noisy=n_noisy, seed=seed,
                           instrument=inst)
    return {"mean_images": r.mean_images, "result_images": r.result_images, "pixel_result": r.pixel_result,
            "y": r.y, "noisy_z": r.noisy_z, "fractions": r.fractions}
