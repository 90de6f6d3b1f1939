"""What ``gan-viz filters`` calls (not a registered analysis: it reads a training run, not a subject).

:class:`Options` are the command's options; :func:`resolve_inputs` finds the run's numbered
checkpoints and up to ``real`` held-out real images of its dataset; :func:`run_filters` computes
and writes filters_over_training and filters_similarity (PNG + PDF), summary.json and arrays.npz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_viz.checkpoint import load_subject
from gan_viz.errors import UserError

from .compute import KINDS, FiltersResult, Thresholds, compute_filters, counts, find_checkpoints
from .plot import FIGURES
from .summary import summary_of


@dataclass(frozen=True)
class Options:
    """The command's options, checked on creation (the thresholds by :class:`Thresholds`)."""

    run: str | Path  # a `gan-viz train` output folder
    n: int = 128  # latent codes G is run on (the same at every checkpoint)
    real: int = 64  # real test images of the run's dataset added to D's inputs (0: none)
    seed: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)
    threads: int | None = None  # CPU threads for torch (None: torch's default)

    def __post_init__(self):
        if self.n < 2 or self.real < 0:
            raise UserError("--n must be at least 2 and --real at least 0")


@dataclass(frozen=True)
class Inputs:
    """What a run of the analysis reads: the checkpoints and the real images (or why there are none)."""

    checkpoints: list  # (step, path), by step
    real: torch.Tensor | None  # (M, C, S, S)
    real_note: str


def real_images(path, n: int, seed: int) -> tuple[torch.Tensor | None, str]:
    """Up to n held-out real images of the dataset of the checkpoint at ``path``, or None and why not."""
    from gan_viz.data import build_dataset
    from gan_viz.data.draw import random_items

    if n == 0:
        return None, "--real 0"
    S = load_subject(path)
    if S.domain is None:
        return None, "the checkpoint records no dataset"
    try:
        ds = build_dataset(S.domain, S.image_size, S.nc, "test", (S.train_config or {}).get("data_root"))
    except UserError as e:
        return None, f"real images unavailable ({e})"
    x, idx = random_items(ds, n, seed)
    return x, f"{len(idx)} real test images of {S.domain}"


def resolve_inputs(o: Options) -> Inputs:
    """The run's numbered checkpoints and its real images; sets torch's threads to ``o.threads`` (if given)."""
    ckpts = find_checkpoints(o.run)
    if o.threads:
        torch.set_num_threads(o.threads)
    real, note = real_images(ckpts[0][1], o.real, o.seed)
    return Inputs(ckpts, real, note)


def arrays_of(result: FiltersResult) -> dict:
    """arrays.npz: the result's arrays and, per kind, the (T, L) counts of flagged filters."""
    arrays = dict(result.arrays)
    for kind in KINDS:
        arrays[f"count_{kind}"] = counts(result, kind)  # (T, L)
    return arrays


def run_filters(out: Path, inputs: Inputs, o: Options) -> dict:
    """Flag the filters of every checkpoint of ``inputs`` and write the figures, summary.json and
    arrays.npz into ``out`` (an existing folder); returns the summary."""
    from gan_viz.io import save_figure, write_json, write_npz

    result = compute_filters(inputs.checkpoints, o.n, o.seed, inputs.real, o.thresholds, progress=True)
    figures = []
    for name, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), out, name)]
    summary = summary_of(result)
    summary.update(run=str(o.run), real_images=inputs.real_note, figures=figures)
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **arrays_of(result))
    return summary


__all__ = ["Options", "Inputs", "real_images", "resolve_inputs", "arrays_of", "run_filters"]
