"""Checkerboard artefacts of G's upsampling layers, seen in the power spectrum.

A stride-2 transposed convolution whose kernel size is not a multiple of the stride
writes an uneven number of kernel taps into neighbouring output pixels (see
``gan-viz upsampling``), which leaves a pattern of period 2 in that layer's output:
energy at the Nyquist frequencies (Odena, Dumoulin, Olah 2016, "Deconvolution and
Checkerboard Artifacts"). DCGAN's k4 s2 p1 layers have even overlap inside the image,
but the learned kernels can still weight their four phases differently. After later 2x
upsamplings a period-2 pattern of a layer of resolution r shows in the S x S image at
period 2 * S / r.

Score: at each stride frequency of a period p (the frequency indices that are
multiples of S/p on both axes, excluding those of period p/2), the power divided by the
mean power of its neighbours within 2 frequency bins (excluding DC and every stride
frequency, and on the same axis for a peak on an axis, see ``_axis_class``); the
score is the mean of these ratios. 1 means no excess. It is reported for
generated and real images at periods 2, 4, ..., and for each upsampling layer of G at
its own period 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from gan_viz.analyses.registry import register
from gan_viz import memory as _memory
from gan_viz.errors import UserError
from gan_viz.hooks import capture

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NEIGHBOUR_RADIUS = 2


def power_spectrum(x: torch.Tensor) -> np.ndarray:
    """Mean power spectrum over images and channels, DC of each map removed.

    Args:
        x: (N, C, H, W) images or feature maps.
    Returns:
        (H, W) float64, unshifted (index 0 is DC), |FFT|^2 / (H W).
    """
    x = x.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    p = torch.fft.fft2(x).abs() ** 2 / (x.shape[-1] * x.shape[-2])  # (N, C, H, W)
    return p.mean(dim=(0, 1)).numpy()


def stride_peaks(size: int, period: int) -> list[tuple[int, int]]:
    """Frequency indices (u, v) of a pattern of ``period`` pixels, not already of period/2."""
    if period < 2 or size % period:
        return []
    k = size // period
    out = []
    for a in range(period):
        for b in range(period):
            if (a, b) != (0, 0) and not (a % 2 == 0 and b % 2 == 0 and period > 2):
                out.append(((k * a) % size, (k * b) % size))
    return sorted(set(out))


def periods_for(size: int, max_period: int | None = None) -> list[int]:
    """2, 4, ... up to size / 4 (or ``max_period``)."""
    top = max_period or max(2, size // 4)
    out, p = [], 2
    while p <= top and size % p == 0:
        out.append(p)
        p *= 2
    return out


def peak_score(spec: np.ndarray, period: int, exclude_periods: list[int] | None = None) -> float:
    """Mean over the stride frequencies of ``period`` of power / mean power of their neighbours."""
    h, w = spec.shape
    if h != w:
        raise ValueError("square spectra only")
    peaks = stride_peaks(h, period)
    if not peaks:
        return float("nan")
    excluded = {(0, 0)} | set(peaks)
    for p in exclude_periods or []:
        excluded |= set(stride_peaks(h, p))
    r, ratios = NEIGHBOUR_RADIUS, []
    for u, v in peaks:
        neigh = [((u + du) % h, (v + dv) % w) for du in range(-r, r + 1) for dv in range(-r, r + 1)]
        neigh = [q for q in neigh if q not in excluded and _axis_class(q) == _axis_class((u, v))]
        around = np.mean([spec[q] for q in neigh]) if neigh else 0.0
        if around > 0 and spec[u, v] > 0:
            ratios.append(spec[u, v] / around)
    return float(np.mean(ratios)) if ratios else float("nan")


def _axis_class(q: tuple[int, int]) -> int:
    """0 on the vertical-frequency axis, 1 on the horizontal one, 2 off the axes.

    Axis-aligned edges (and the image border) put a cross of energy on the axes; a peak
    on an axis is compared only with neighbours on the same axis, an off-axis peak only
    with off-axis neighbours, so that cross is not mistaken for a checkerboard.
    """
    return 0 if q[1] == 0 else 1 if q[0] == 0 else 2


def image_scores(spec: np.ndarray, periods: list[int]) -> dict[str, float]:
    return {f"period_{p}": peak_score(spec, p, periods) for p in periods}


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


def summary_of(r: CheckerboardResult) -> dict:
    return {"checkerboard": {"generated": r.generated, "real": r.real, "per_layer": r.per_layer},
            "score": "mean over the stride frequencies of power / mean power of neighbours within "
                     f"{NEIGHBOUR_RADIUS} bins on the same axis, or off the axes (1 = no excess)",
            "image_size": r.image_size, "periods": r.periods}


def arrays_of(r: CheckerboardResult) -> dict[str, np.ndarray]:
    out = {"spec_generated": r.spec_generated, "layers": np.array(r.layers)}
    if r.spec_real is not None:
        out["spec_real"] = r.spec_real
    for k, s in r.layer_specs.items():
        out[f"spec_layer_{k}"] = s
    return out


# --- display -----------------------------------------------------------------------

def _log_shifted(spec: np.ndarray) -> np.ndarray:
    s = spec.copy()
    s[0, 0] = np.nan  # DC was removed
    return np.fft.fftshift(np.log10(np.maximum(s, 1e-12)))


def plot_spectra(r: CheckerboardResult):
    """Generated vs real mean power spectrum (log10, centred) and their ratio."""
    import matplotlib.pyplot as plt

    panels = [("generated", r.spec_generated)]
    if r.spec_real is not None:
        panels += [("real", r.spec_real), ("generated / real", None)]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.6 * (len(panels) + 1), 3.6))
    half = r.image_size // 2
    ext = (-half - 0.5, half - 0.5, half - 0.5, -half - 0.5)
    for ax, (title, spec) in zip(axes, panels):
        if spec is None:
            img = _log_shifted(r.spec_generated) - _log_shifted(r.spec_real)
            lim = np.nanmax(np.abs(img))
            im = ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=ext)
            title = "log10 generated / real"
        else:
            im = ax.imshow(_log_shifted(spec), cmap="magma", extent=ext)
            scores = r.generated if title == "generated" else r.real
            count = r.n_generated if title == "generated" else r.n_real
            title += f" ({count})" if count else ""
            title += ": " + ", ".join(f"p{k.split('_')[1]} {v:.2f}" for k, v in scores.items())
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("horizontal frequency (cycles / image)", fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax = axes[-1]
    if r.sample_images is not None:
        from gan_viz.images import grid, to_uint8

        ax.imshow(grid(to_uint8(r.sample_images[:4]), nrow=2))
        ax.set_title("generated samples", fontsize=8)
    ax.axis("off")
    fig.suptitle("Mean power spectrum (log10; score = power at period-p stride frequencies / neighbours)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def plot_layers(r: CheckerboardResult):
    """Each upsampling layer's mean spectrum, and its period-2 checkerboard score."""
    import matplotlib.pyplot as plt

    n = len(r.layers)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.0 * (n + 1), 3.2), squeeze=False)
    if not n:
        axes[0][0].text(0.5, 0.5, "G has no 2x upsampling convolution modules to score", ha="center",
                        va="center", fontsize=9)
        axes[0][0].axis("off")
        return fig
    for ax, name in zip(axes[0], r.layers):
        ax.imshow(_log_shifted(r.layer_specs[name]), cmap="magma")
        info = r.per_layer[name]
        ax.set_title(f"G.{name} ({info['resolution']}x{info['resolution']}): {info['score']:.2f}", fontsize=8)
        ax.axis("off")
    ax = axes[0][-1]
    ax.bar(range(n), [r.per_layer[k]["score"] for k in r.layers], color="tab:purple")
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xticks(range(n), [f"G.{k}" for k in r.layers], fontsize=7)
    ax.set_ylabel("Nyquist power / neighbours")
    ax.set_title("checkerboard score per layer", fontsize=8)
    fig.suptitle("Upsampling layers of G: log10 mean power spectrum of their outputs", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {"checkerboard_spectra": plot_spectra, "checkerboard_layers": plot_layers}


# --- the analysis -------------------------------------------------------------------------

def real_images(subject, name: str | None, root: str | None, n: int, seed: int) -> tuple[torch.Tensor, str, np.ndarray]:
    """(M, C, S, S) held-out real images of ``name`` (None: raises with how to pass one or skip them)."""
    from gan_viz.data import build_dataset

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
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    x = ds.get_batch(idx) if hasattr(ds, "get_batch") else torch.stack([ds[int(i)][0] for i in idx])
    if tuple(x.shape[1:]) != (C, H, W):
        raise UserError(f"{name} images have shape {tuple(x.shape[1:])} but the model makes {(C, H, W)}; "
                        "pass a matching --dataset")
    return x.float(), name, idx


def caption(s: dict) -> str:
    """The report's caption: checkerboard scores of generated and real images and of each G layer."""
    num = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
    c = s.get("checkerboard") or {}
    per = ", ".join(f"{k} ({v.get('resolution')}px, period {v.get('image_period')}) {num(v.get('score'))}"
                    for k, v in (c.get("per_layer") or {}).items()) or "no upsampling convolution modules"
    fmt = lambda d: ", ".join(f"{k} {num(v)}" for k, v in d.items()) if d else "not measured"  # noqa: E731
    said = "".join(f"{w[0].upper()}{w[1:]}. " for w in s.get("notes") or [])
    real = s.get("real_images")
    return said + (f"Mean power spectrum of {s.get('n')} generated vs {'' if real is None else f'{real} '}real "
                   f"images ({s.get('g_upsample') or 'G'} upsampling). Checkerboard score (1 = no excess power at "
                   f"the stride frequencies): generated {fmt(c.get('generated'))}; real {fmt(c.get('real'))}; per G "
                   f"layer: {per}.")


@register("checkerboard", needs=("G",), title="Mechanics: checkerboard artefacts", caption=caption)
def run(ctx: "Context", *, n: int = 512, no_real: bool = False, batch_size: int = 128) -> dict:
    """Mean power spectra of ``n`` samples of ``ctx``'s subject and of ``n`` real test images of
    ``ctx.data`` (unless ``no_real``), and the checkerboard score of every 2x upsampling layer of G.

    Writes checkerboard_spectra.png, checkerboard_layers.png (+ PDFs), summary.json and
    arrays.npz into ``ctx.out``; returns the summary.
    """
    from gan_viz.io import save_figure, write_json, write_npz

    if n < 1 or batch_size < 1:
        raise UserError("--n and --batch-size must be at least 1")
    S = ctx.subject
    _memory.require("--n", n, 8 * _memory.image_bytes(S.image_shape), "the samples, real images and their spectra")
    if not S.has_G:
        S.require("G")
    real, name, idx = (None, None, np.zeros(0, int)) if no_real else \
        real_images(S, ctx.data, ctx.data_root, n, ctx.seed)
    z = S.sample_z(n, torch.Generator().manual_seed(ctx.seed))
    result = compute_checkerboard(S.G, z, real, batch_size, ctx.device, generate=S.generator_fn())
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = []
    for fname, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, fname)]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, g_upsample=S.config.g_upsample if S.config is not None else None,
                   dataset=name, n=n, real_images=None if no_real else len(idx), seed=ctx.seed, figures=figures,
                   notes=[f"{len(idx)} real images used of the {n} asked (the {'folder' if name == 'folder' else f'{name} test split'} holds {len(idx)})"]
                   if not no_real and len(idx) < n else [])
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), real_indices=idx, seed=np.array(ctx.seed), **arrays_of(result))
    return summary
