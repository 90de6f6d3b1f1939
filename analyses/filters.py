"""Filters collapsing over training: dead, near-duplicate and oscillating filters.

Radford et al. (section 7) note that models trained longer "sometimes collapse a subset
of filters to a single oscillating mode". This reads the numbered checkpoints of a
training run and, for every hidden convolution of G and D (the ones followed by a ReLU
/ LeakyReLU), flags per checkpoint:

- *dead*: the filter's activation has no variance over samples (std over the batch,
  averaged over positions, at most ``dead_rel`` x the layer's median, or 1e-6);
- *duplicate*: another filter of the layer has weights (cosine of the flattened filter
  weights) or activations (correlation over samples and positions, live filters only)
  more similar than ``dup_threshold``;
- *oscillating*: its weight updates between consecutive checkpoints reverse direction
  (cosine of successive weight deltas below ``-osc_threshold``) in at least half of the
  checkpoint triples, with a relative step above 1e-3.

G sees fixed latent codes; D sees G's images of those codes (and real images when given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_viz.checkpoint import load_subject
from gan_viz.errors import UserError
from gan_viz.layers import CONVS, NORMS, RECTIFIERS
from gan_viz.hooks import capture

STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
MAX_PAIRS = 50  # duplicate pairs listed per layer and checkpoint in summary.json


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


PASS_THROUGH = NORMS + (nn.Dropout, nn.Dropout2d)


def analysed_layers(net: nn.Module) -> list[tuple[str, str]]:
    """(conv, activation) dotted-name pairs: each (transposed) convolution followed, after any
    normalisation, by a ReLU / LeakyReLU module, in registration order (``("conv2", "lrelu2")``
    for a gan-viz D, ``("main.2", "main.4")`` for a PyTorch examples D)."""
    leaves = [(n, m) for n, m in net.named_modules() if n and not len(m._modules)]
    pairs = []
    for i, (name, m) in enumerate(leaves):
        if not isinstance(m, CONVS):
            continue
        j = i + 1
        while j < len(leaves) and isinstance(leaves[j][1], PASS_THROUGH):
            j += 1
        if j < len(leaves) and isinstance(leaves[j][1], RECTIFIERS):
            pairs.append((name, leaves[j][0]))
    return pairs


def filter_weights(m: nn.Module) -> torch.Tensor:
    """(F, P): one row per output filter (Conv2d: weight[j]; ConvTranspose2d: weight[:, j])."""
    w = m.weight.detach().float()
    if isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(0, 1)  # (in, out, k, k) -> (out, in, k, k)
    return w.reshape(w.shape[0], -1)


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """(F, F) cosine similarity of the rows of x (F, P); zero rows give 0."""
    n = x.norm(dim=1, keepdim=True)
    u = x / torch.where(n > 0, n, torch.ones_like(n))
    return u @ u.T


def activation_stats(act: torch.Tensor, dead_rel: float) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """(std (C,), dead (C,) bool, correlation (C, C)) of activations (N, C, H, W)."""
    a = act.double()
    std = a.std(dim=0, unbiased=False).mean(dim=(1, 2)).numpy() if len(a) > 1 else np.zeros(a.shape[1])
    dead = std <= max(1e-6, dead_rel * float(np.median(std)))
    flat = a.transpose(0, 1).reshape(a.shape[1], -1)  # (C, N*H*W)
    corr = cosine_matrix(flat - flat.mean(dim=1, keepdim=True)).float()
    corr[torch.as_tensor(dead)] = 0
    corr[:, torch.as_tensor(dead)] = 0
    return std, dead, corr


def duplicate_pairs(wcos: torch.Tensor, acorr: torch.Tensor, thr: float) -> list[tuple[int, int, float, float]]:
    """(i, j, weight cosine, activation correlation) for i < j with either above ``thr``."""
    hit = torch.triu((wcos > thr) | (acorr > thr), diagonal=1)
    return [(int(i), int(j), float(wcos[i, j]), float(acorr[i, j])) for i, j in hit.nonzero().tolist()]


def reversal_cos(w0: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, min_rel_step: float) -> np.ndarray:
    """Per filter: cosine of the deltas w1 - w0 and w2 - w1 (F,); NaN where a step is negligible."""
    d1, d2 = w1 - w0, w2 - w1
    c = torch.nn.functional.cosine_similarity(d1, d2, dim=1, eps=1e-12).numpy().astype(np.float64)
    scale = w1.norm(dim=1).clamp_min(1e-12)
    small = (d1.norm(dim=1) / scale < min_rel_step) | (d2.norm(dim=1) / scale < min_rel_step)
    c[small.numpy()] = np.nan
    return c


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


def summary_of(r: FiltersResult) -> dict:
    th = r.thresholds
    last = {name: {"filters": r.n_filters[name], "dead": r.dead[name][-1], "duplicate": r.duplicate[name][-1],
                   "duplicate_pairs": [list(p) for p in r.pairs[name][-1][:MAX_PAIRS]],
                   "oscillating": r.oscillating[name]} for name in r.layers}
    per_ckpt = [{"step": s, "checkpoint": p,
                 "layers": {name: {"dead": r.dead[name][t], "duplicate": r.duplicate[name][t],
                                   "duplicate_pairs": len(r.pairs[name][t])} for name in r.layers}}
                for t, (s, p) in enumerate(zip(r.steps, r.paths))]
    total = {"dead": sum(len(r.dead[n][-1]) for n in r.layers),
             "duplicate": sum(len(r.duplicate[n][-1]) for n in r.layers),
             "oscillating": sum(len(r.oscillating[n]) for n in r.layers)}
    return {"checkpoints": len(r.steps), "steps": r.steps, "d_inputs": r.d_inputs,
            "rules": {"dead": f"activation std over samples <= max(1e-6, {th.dead_rel:g} x layer median)",
                      "duplicate": f"weight cosine or activation correlation > {th.dup_threshold:g} with another "
                                   "filter of the layer (dead filters excluded from activations)",
                      "oscillating": f"cosine of successive weight deltas < -{th.osc_threshold:g} in at least half "
                                     f"of the checkpoint triples (relative step > {th.min_rel_step:g})"},
            "flagged_at_last_checkpoint": total, "flagged": last, "per_checkpoint": per_ckpt}


# --- display -----------------------------------------------------------------------

KINDS = ("dead", "duplicate", "oscillating")


def plot_counts(r: FiltersResult):
    """Share of flagged filters per layer over the checkpoints, one panel per kind."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True)
    cmap = {"G": plt.get_cmap("Blues"), "D": plt.get_cmap("Oranges")}
    for ax, kind in zip(axes, KINDS):
        c = counts(r, kind)
        top = np.nanmax([100 * c[:, j] / r.n_filters[n] for j, n in enumerate(r.layers)], initial=0.0)
        ax.set_ylim(0, max(1.0, 1.1 * top))
        for j, name in enumerate(r.layers):
            net = name.split(".")[0]
            same = [n for n in r.layers if n.startswith(net + ".")]
            color = cmap[net](0.35 + 0.6 * same.index(name) / max(1, len(same) - 1))
            ax.plot(r.steps, 100 * c[:, j] / r.n_filters[name], marker=".", color=color, label=name)
        ax.set_title({"dead": "dead (no variance over samples)", "duplicate": "near-duplicate of another filter",
                      "oscillating": "update reversed since the previous checkpoint"}[kind], fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("% of the layer's filters")
    axes[-1].legend(fontsize=7, ncol=2)
    fig.suptitle("Filters of G (blue) and D (orange) over training", fontsize=10)
    fig.tight_layout()
    return fig


def plot_similarity(r: FiltersResult):
    """Weight cosine between the filters of each layer at the last checkpoint."""
    import matplotlib.pyplot as plt

    n = len(r.layers)
    cols = (n + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 6.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    g = [x for x in r.layers if x.startswith("G.")]
    d = [x for x in r.layers if x.startswith("D.")]
    for row, names in enumerate((g, d)):
        for col, name in enumerate(names[:cols]):
            ax = axes[row, col]
            ax.imshow(r.arrays[f"weight_cos_last_{name}"], cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(f"{name}: {len(r.duplicate[name][-1])} dup, {len(r.dead[name][-1])} dead", fontsize=8)
    fig.suptitle(f"Weight cosine between filters at step {r.steps[-1]} (red: alike)", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"filters_over_training": plot_counts, "filters_similarity": plot_similarity}
