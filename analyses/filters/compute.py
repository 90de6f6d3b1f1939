"""Flagging dead, duplicate and oscillating filters over a run's checkpoints: :func:`compute_filters`.

Checkpoints are read (never written); the result is a :class:`FiltersResult` of flagged
filter indices and npz-ready arrays, no files, no figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gan_viz.checkpoint import load_subject
from gan_viz.errors import UserError
from gan_viz.hooks import capture

from .measures import activation_stats, analysed_layers, cosine_matrix, duplicate_pairs, filter_weights, reversal_cos

STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
KINDS = ("dead", "duplicate", "oscillating")


@dataclass(frozen=True)
class Thresholds:
    dead_rel: float = 1e-3
    dup_threshold: float = 0.95
    osc_threshold: float = 0.5
    min_rel_step: float = 1e-3

    def __post_init__(self):
        if not 0 < self.dup_threshold < 1 or not 0 < self.osc_threshold < 1:
            raise UserError("--dup-threshold and --osc-threshold must lie strictly between 0 and 1")
        if self.dead_rel < 0:
            raise UserError("--dead-rel must not be negative")


def find_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of RUN_DIR/checkpoints/step_XXXXXXXX.pt, by step; last.pt is skipped."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"--run {run} is not a folder; pass the output folder of `gan-viz train`")
    folder = run / "checkpoints"
    found = sorted((int(m.group(1)), p) for p in (folder.iterdir() if folder.is_dir() else [])
                   if (m := STEP_FILE.match(p.name)))
    if not found:
        raise UserError(f"no numbered checkpoints (step_XXXXXXXX.pt) in {folder}; pass the folder of a "
                        "`gan-viz train` run that wrote some (--checkpoint-every)")
    return found


@dataclass
class _Layer:
    """What is tracked for one layer over the run."""

    name: str  # e.g. "G.conv2"
    dead: list = field(default_factory=list)  # per checkpoint: dead filter indices
    dup_filters: list = field(default_factory=list)  # per checkpoint: filters with a near-duplicate
    pairs: list = field(default_factory=list)  # per checkpoint: (i, j, cos_w, corr_a)
    std: list = field(default_factory=list)  # per checkpoint: (F,) activation std
    weights: list = field(default_factory=list)  # last three checkpoints' (F, P) weights
    reversal: list = field(default_factory=list)  # per triple: (F,) cosine of successive deltas
    wcos_last: np.ndarray | None = None


@dataclass(frozen=True)
class FiltersResult:
    steps: list  # checkpoint steps
    paths: list
    layers: list  # "G.conv1", ...
    n_filters: dict  # layer -> F
    dead: dict  # layer -> per checkpoint list of indices
    duplicate: dict  # layer -> per checkpoint list of indices
    pairs: dict  # layer -> per checkpoint list of (i, j, cos_w, corr_a)
    reversing: dict  # layer -> per triple list of indices
    oscillating: dict  # layer -> indices flagged over the run
    arrays: dict  # npz-ready arrays
    thresholds: Thresholds
    d_inputs: str


@torch.no_grad()
def _checkpoint(ck, z: torch.Tensor, real: torch.Tensor | None, th: Thresholds, track: dict) -> None:
    """Measure one checkpoint and append to ``track`` (layer name -> _Layer)."""
    acts_all = {}
    G, D = ck.require("G").eval(), ck.require("D").eval()
    g_layers, d_layers = analysed_layers(G), analysed_layers(D)
    with capture(G, [a for _, a in g_layers]) as acts:
        x = ck.generator_fn()(z)
    acts_all.update({f"G.{c}": acts[a] for c, a in g_layers})
    xd = x if real is None else torch.cat([x, real.to(x.dtype)])
    with capture(D, [a for _, a in d_layers]) as acts:
        D(xd)
    acts_all.update({f"D.{c}": acts[a] for c, a in d_layers})
    gm, dm = dict(G.named_modules()), dict(D.named_modules())
    mods = {f"G.{c}": gm[c] for c, _ in g_layers} | {f"D.{c}": dm[c] for c, _ in d_layers}
    for name, act in acts_all.items():
        t = track.setdefault(name, _Layer(name))
        w = filter_weights(mods[name])
        std, dead, corr = activation_stats(act, th.dead_rel)
        wcos = cosine_matrix(w)
        pairs = duplicate_pairs(wcos, corr, th.dup_threshold)
        t.dead.append(np.flatnonzero(dead).tolist())
        t.dup_filters.append(sorted({i for p in pairs for i in p[:2]}))
        t.pairs.append(pairs)
        t.std.append(std)
        t.weights = (t.weights + [w])[-3:]
        if len(t.weights) == 3:
            t.reversal.append(reversal_cos(*t.weights, th.min_rel_step))
        t.wcos_last = wcos.numpy()


def compute_filters(checkpoints: list[tuple[int, Path]], n: int = 128, seed: int = 0,
                    real: torch.Tensor | None = None, th: Thresholds = Thresholds(),
                    progress: bool = False) -> FiltersResult:
    """Flag dead / duplicate / oscillating filters in every checkpoint of a run.

    Args:
        checkpoints: (step, path) pairs from :func:`find_checkpoints`.
        n: latent codes (G's samples, and D's generated inputs), the same at every checkpoint.
        seed: seed of those codes.
        real: optional (M, C, S, S) real images added to D's inputs.
        th: thresholds.
    Returns:
        A :class:`FiltersResult`.
    """
    track: dict[str, _Layer] = {}
    z, arch0 = None, None
    for step, path in tqdm(checkpoints, desc="checkpoints", disable=not progress):
        ck = load_subject(path)
        arch = _architecture(ck)
        if arch0 is None:
            arch0 = arch
            z = ck.sample_z(n, torch.Generator().manual_seed(seed))
        elif arch != arch0:
            raise UserError(f"{path} has another model config than the first checkpoint; one run at a time")
        _checkpoint(ck, z, real, th, track)
    return _result(checkpoints, track, z, seed, th, "generated" if real is None else "generated + real")


def _architecture(ck) -> object:
    """What must stay equal over a run: the model config, or else every tensor's name and shape."""
    if ck.config is not None:
        return ck.config
    return tuple((n, tuple(t.shape)) for net in (ck.G, ck.D) if net is not None for n, t in net.state_dict().items())


def _result(checkpoints, track: dict, z: torch.Tensor, seed: int, th: Thresholds, d_inputs: str) -> FiltersResult:
    layers = list(track)
    oscillating, reversing = {}, {}
    arrays = {"steps": np.array([s for s, _ in checkpoints]), "z": z.numpy(), "seed": np.array(seed),
              "layers": np.array(layers)}
    for name, t in track.items():
        rev = np.array(t.reversal) if t.reversal else np.zeros((0, len(t.std[0])))
        flagged = rev < -th.osc_threshold  # NaN compares False
        reversing[name] = [np.flatnonzero(r).tolist() for r in flagged]
        frac = flagged.mean(axis=0) if len(rev) else np.zeros(rev.shape[1])
        oscillating[name] = np.flatnonzero(frac >= 0.5).tolist() if len(rev) else []
        arrays[f"std_{name}"] = np.stack(t.std)  # (T, F)
        arrays[f"reversal_cos_{name}"] = rev  # (T - 2, F)
        arrays[f"weight_cos_last_{name}"] = t.wcos_last  # (F, F)
    return FiltersResult([s for s, _ in checkpoints], [str(p) for _, p in checkpoints], layers,
                         {k: len(t.std[0]) for k, t in track.items()}, {k: t.dead for k, t in track.items()},
                         {k: t.dup_filters for k, t in track.items()}, {k: t.pairs for k, t in track.items()},
                         reversing, oscillating, arrays, th, d_inputs)


def counts(r: FiltersResult, kind: str) -> np.ndarray:
    """(T, L) number of flagged filters per checkpoint and layer; oscillating is per checkpoint triple."""
    T = len(r.steps)
    out = np.zeros((T, len(r.layers)))
    for j, name in enumerate(r.layers):
        per = {"dead": r.dead, "duplicate": r.duplicate}.get(kind)
        if per is not None:
            out[:, j] = [len(x) for x in per[name]]
        else:
            out[:, j] = [np.nan, np.nan][:min(2, T)] + [len(x) for x in r.reversing[name]]
    return out
