"""The registered runner of ``gan-viz checkerboard``: options, real images, writing.

Real images are ``n`` random items of the test split of ``ctx.data`` (default: the model's
domain), unless ``no_real``; where the split holds fewer, the summary's ``notes`` say so.
Writes checkerboard_spectra and checkerboard_layers (PNG + PDF), summary.json and arrays.npz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.errors import UserError

from .compute import CheckerboardResult, compute_checkerboard
from .plot import FIGURES
from .summary import caption, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NAME = "checkerboard"


@dataclass(frozen=True)
class Options:
    """The command's options, checked on creation."""

    n: int = 512  # generated (and real) images averaged into each spectrum
    no_real: bool = False  # generated spectrum only
    batch_size: int = 128

    def __post_init__(self):
        if self.n < 1 or self.batch_size < 1:
            raise UserError("--n and --batch-size must be at least 1")


def real_images(subject, name: str | None, root: str | None, n: int, seed: int) -> tuple[torch.Tensor, str, np.ndarray]:
    """(M, C, S, S) held-out real images of ``name`` (None: raises with how to pass one or skip them)."""
    from gan_viz.data import build_dataset
    from gan_viz.data.draw import random_items

    if name is None:
        raise UserError(f"{subject.where} does not record its dataset; pass --dataset (and --data-root) "
                        "or --no-real")
    root = root or ((subject.train_config or {}).get("data_root") if name == subject.domain else None)
    C, H, W = subject.image_shape
    if H != W:
        raise UserError(f"the model's images are {H}x{W}; real datasets load square images only: use --no-real")
    ds = build_dataset(name, H, C, "test", root, seed=0)
    if len(ds) == 0:
        raise UserError(f"the {name} test split is empty; pass another --dataset")
    x, idx = random_items(ds, n, seed)
    if tuple(x.shape[1:]) != (C, H, W):
        raise UserError(f"{name} images have shape {tuple(x.shape[1:])} but the model makes {(C, H, W)}; "
                        "pass a matching --dataset")
    return x, name, idx


def arrays_of(r: CheckerboardResult) -> dict[str, np.ndarray]:
    """The spectra for arrays.npz (beside z and the real images' indices)."""
    out = {"spec_generated": r.spec_generated, "layers": np.array(r.layers)}
    if r.spec_real is not None:
        out["spec_real"] = r.spec_real
    for k, s in r.layer_specs.items():
        out[f"spec_layer_{k}"] = s
    return out


def _notes(o: Options, name: str | None, idx: np.ndarray) -> list[str]:
    """Where fewer real images were used than asked, in words."""
    if o.no_real or len(idx) >= o.n:
        return []
    split = "folder" if name == "folder" else f"{name} test split"
    return [f"{len(idx)} real images used of the {o.n} asked (the {split} holds {len(idx)})"]


@register(NAME, needs=("G",), title="Mechanics: checkerboard artefacts", caption=caption, options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Mean power spectra of ``o.n`` samples of ``ctx``'s subject and of ``o.n`` real test images of
    ``ctx.data`` (unless ``o.no_real``), and the checkerboard score of every 2x upsampling layer of G.

    Writes checkerboard_spectra.png, checkerboard_layers.png (+ PDFs), summary.json and
    arrays.npz into ``ctx.out``; returns the summary.
    """
    from gan_viz.io import save_figure, write_json, write_npz

    S = ctx.subject
    _memory.require("--n", o.n, 8 * _memory.image_bytes(S.image_shape), "the samples, real images and their spectra")
    if not S.has_G:
        S.require("G")
    real, name, idx = (None, None, np.zeros(0, int)) if o.no_real else \
        real_images(S, ctx.data, ctx.data_root, o.n, ctx.seed)
    z = S.sample_z(o.n, torch.Generator().manual_seed(ctx.seed))
    result = compute_checkerboard(S.G, z, real, o.batch_size, ctx.device, generate=S.generator_fn())
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, fname)]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, g_upsample=S.config.g_upsample if S.config is not None else None,
                   dataset=name, n=o.n, real_images=None if o.no_real else len(idx), seed=ctx.seed, figures=figures,
                   notes=_notes(o, name, idx))
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), real_indices=idx, seed=np.array(ctx.seed), **arrays_of(result))
    return summary


__all__ = ["NAME", "Options", "arrays_of", "real_images", "run"]
