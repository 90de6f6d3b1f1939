"""Choosing filters by their measured effect on the object (GAN Dissection's answer).

A probe's weights say which filters *correlate* with the object; these rules ask which
filters *cause* it, with the scene parser as the judge:

- ``causal-K`` (:func:`causal_effects`): remove each filter alone, count the object pixels
  that disappear, keep the K largest effects. Simple, but filters that draw the object
  together (each redundant with the others) each show a small effect.
- ``optimized-K`` (:func:`optimize_ablation`): Bau et al. (2019, Sec. 3.2) optimise a
  continuous ablation ``a`` in [0, 1] per filter, through the same edit rule
  ``x * (1 - a) + r * a``, to minimise the parser's object probability plus a sparsity
  cost, then keep the K filters with the largest ``a``: filters are judged as a set.
  Here ``a = sigmoid(s)`` and filters are ranked by ``s``.

Example:
    >>> prob = parser_concept_prob(parser, CLASS_ID["window"])
    >>> s = optimize_ablation(G, "relu3", z_pool, prob, torch.zeros(64, 1, 1))  # (64,) logits
    >>> np.argsort(-s)[:8]
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from gan_viz.hooks import edit, edit_layer
from gan_viz.images import area_resize
from gan_viz.layers import tail_after
from gan_viz.sources import evaluating
from gan_viz.subject import generate_images

from .probe import generator_parts, layer_features

ConceptProb = Callable[[torch.Tensor], torch.Tensor]  # images (N, 3, H, W) -> (N,) differentiable object share
Segment = Callable[[torch.Tensor], torch.Tensor]  # images -> (N, H, W) class ids


def _ablated(G, layer, z, filters, replacement, batch_size, device) -> torch.Tensor:
    module, call = generator_parts(G)
    a = torch.zeros(len(replacement), 1, 1)
    a[list(filters)] = 1.0
    with edit_layer(module, layer, a, replacement, prefix="G"):
        return generate_images(call, z, batch_size, device, module=module)


def causal_effects(G, layer: str, z: torch.Tensor, segment_fn: Segment, concept_id: int,
                   replacement: torch.Tensor, batch_size: int = 256, device="cpu") -> np.ndarray:
    """Object pixel fraction removed by each filter alone: (C,).

    Args:
        G: a generator module or a Subject.
        z: (M, nz) samples to measure on. segment_fn: images -> (M, H, W) class ids.
        replacement: (C, 1, 1) what a removed filter becomes.
    """
    frac = lambda imgs: float((segment_fn(imgs) == concept_id).double().mean())  # noqa: E731
    module, call = generator_parts(G)
    base = frac(generate_images(call, z, batch_size, device, module=module))
    out = np.zeros(len(replacement))
    for c in tqdm(range(len(replacement)), desc="causal effect per filter", leave=False):
        out[c] = base - frac(_ablated(G, layer, z, [c], replacement, batch_size, device))
    return out


def optimize_ablation(G, layer: str, z: torch.Tensor, concept_prob: ConceptProb,
                      replacement: torch.Tensor, steps: int = 150, batch_size: int = 32, lr: float = 0.1,
                      sparsity: float = 1.0, seed: int = 0, device="cpu", size: int | None = None) -> np.ndarray:
    """GAN Dissection's optimised intervention: one score per filter, (C,).

    The ablation is ``a = sigmoid(s)`` per filter (``s`` starts at -2, a = 0.12), applied by
    the edit rule; Adam minimises ``p(a) / p(0) + sparsity * mean(a)``, where ``p(a)`` is
    the parser's mean object probability on a batch of G's samples with the edit. Only
    ``s`` gets gradients: the networks are left untouched. Ranking by the logit ``s``
    rather than by a clipped ``a`` keeps the order among filters the optimisation drove
    to full removal (a clipped ``a`` ties them all at 1).

    Args:
        G: a generator module or a Subject.
        z: (M, nz) pool of latent codes; each step draws ``batch_size`` of them.
        concept_prob: images -> (N,) differentiable object share (see :func:`parser_concept_prob`).
        size: optimise on G's samples area-averaged down to ``size`` x ``size`` (None: their own
            size); an instrument that reads several sizes (the rooms parser reads 32-128) then costs
            about (size / H)^2 as much per step. The removals are measured at G's own size.
    Returns:
        (C,) float: the logits ``s``; large means the filter is needed for the object.
    """
    gen = torch.Generator().manual_seed(seed)
    G, call = generator_parts(G)
    z = z.to(device)
    logit = torch.full((len(replacement), 1, 1), -2.0, device=device, requires_grad=True)
    r = replacement.to(device)
    opt = torch.optim.Adam([logit], lr=lr)
    G.to(device)
    tail = tail_after(G, layer)  # G's layers up to the edit do not depend on it: run them once
    prob = concept_prob if size is None else _resized(concept_prob, size)
    with evaluating(G):
        with torch.no_grad():
            base = float(prob(call(z[:256])).mean().clamp(min=1e-6))
        head = layer_features(G, layer, z, device=device).to(device) if tail is not None else None
        for _ in tqdm(range(steps), desc="optimising the ablation", leave=False):
            idx = torch.randint(len(z), (min(batch_size, len(z)),), generator=gen).to(device)
            alpha = torch.sigmoid(logit)  # (C, 1, 1)
            if tail is None:
                with edit_layer(G, layer, alpha, r, prefix="G"):
                    images = call(z[idx])
            else:
                images = tail(edit(head[idx], alpha, r))
            loss = prob(images).mean() / base + sparsity * alpha.mean()
            (logit.grad,) = torch.autograd.grad(loss, [logit])
            opt.step()
    return logit.detach().flatten().cpu().numpy().astype(np.float64)


def _resized(concept_prob: ConceptProb, size: int) -> ConceptProb:
    """``concept_prob`` read on the images area-averaged to ``size`` x ``size`` (differentiable)."""
    return lambda images: concept_prob(area_resize(images, size))


def parser_concept_prob(parser, class_id: int) -> ConceptProb:
    """The scene parser's mean softmax probability of ``class_id`` per image, differentiable
    (:meth:`gan_viz.instruments.RoomsParser.concept_prob`)."""
    from gan_viz.instruments import RoomsParser

    return RoomsParser(parser).concept_prob(class_id)
