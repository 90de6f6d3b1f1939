"""A GAN small enough to see: MLPs on 1-D / 2-D Gaussian mixtures, and the optimal D.

Goodfellow et al. (2014) argue with a 1-D picture (their Figure 1): the data density
p_data, the generator's density p_g and the discriminator D(x), which for a fixed G is
best at D*(x) = p_data(x) / (p_data(x) + p_g(x)) and equals 1/2 where p_g = p_data.
Here the data densities are known in closed form, p_g is estimated from many G samples
(binned Gaussian KDE), so D can be checked against D*.

The same run is repeated with the other generator loss (seed 003, eq. 1, is the
*saturating* ``min log(1 - D(G(z)))``; the paper and the trainer use the
*non-saturating* ``min -log D(G(z))``), from the same seed, to compare the two.
With D = sigmoid(a) the gradient on the logit a is -D (saturating: vanishes when D
rejects the fakes) and -(1 - D) (non-saturating: largest exactly then).

Distances to p_data: exact 1-Wasserstein between equal-size sample sets in 1-D, sliced
1-Wasserstein (32 fixed directions) in 2-D. Modes: a sample is *high quality* when
within 3 standard deviations of its nearest mixture component; a mode is *covered* when
it holds at least 20% of its fair share (n / modes) of high-quality samples.

Plots are in :mod:`gan_viz.analyses.toy_plots`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.errors import UserError

G_LOSSES = ("non-saturating", "saturating")
HQ_SIGMAS = 3.0  # high quality: within 3 std of the nearest component
COVER_SHARE = 0.2  # covered: >= 20% of the fair share of high-quality samples
SUPPORT = 0.01  # d_star_mae is averaged where p_data + p_g > 1% of its maximum
N_DENSITY = 100_000  # G samples for the KDE of p_g
N_EVAL = 5_000  # samples for distances and mode counts
N_SLICES = 32
Z_DIM = 4  # latent size of the toy generator


@dataclass(frozen=True)
class ToyData:
    """A Gaussian mixture with equal isotropic components, known in closed form."""

    name: str
    means: np.ndarray  # (K, d)
    std: float
    box: tuple[float, float]  # plotting / density grid range on every axis

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n, d) float32 samples."""
        k = torch.randint(len(self.means), (n,), generator=gen)
        noise = torch.randn(n, self.dim, generator=gen) * self.std
        return torch.as_tensor(self.means, dtype=torch.float32)[k] + noise

    def density(self, x: np.ndarray, extra_var: float = 0.0) -> np.ndarray:
        """p(x) for points (M, d); ``extra_var`` adds a Gaussian smoothing of that variance."""
        var = self.std ** 2 + extra_var
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)  # (M, K)
        return np.exp(-d2 / (2 * var)).mean(1) / (2 * np.pi * var) ** (self.dim / 2)


def _ring(n: int = 8, radius: float = 2.0) -> np.ndarray:
    t = 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], 1)


DATASETS = {
    "gauss1d": ToyData("gauss1d", np.array([[2.0]]), 0.5, (-2.0, 4.5)),
    "mixture1d": ToyData("mixture1d", np.array([[-2.0], [2.0]]), 0.4, (-4.0, 4.0)),
    "ring2d": ToyData("ring2d", _ring(), 0.05, (-2.6, 2.6)),
}


def get_data(name: str) -> ToyData:
    if name not in DATASETS:
        raise UserError(f"unknown toy data {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


# --- densities and D* --------------------------------------------------------------

def grid_axis(data: ToyData) -> np.ndarray:
    """Grid coordinates along one axis: 512 points in 1-D, 256 in 2-D."""
    return np.linspace(*data.box, 512 if data.dim == 1 else 256)


def kde_kernel_std(data: ToyData) -> float:
    """KDE kernel: a quarter of the component std in 1-D, half in 2-D (fewer samples per cell)."""
    return data.std / (4 if data.dim == 1 else 2)


def kde_variance(data: ToyData) -> float:
    """Smoothing variance per axis of the binned KDE: kernel std^2 + bin width^2 / 12."""
    step = np.diff(grid_axis(data))[0]
    return kde_kernel_std(data) ** 2 + step ** 2 / 12


def density_grid(data: ToyData) -> np.ndarray:
    """Grid points (M, d): the axis in 1-D, its square (row-major, y then x) in 2-D."""
    ax = grid_axis(data)
    if data.dim == 1:
        return ax[:, None]
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], 1)


def _smooth(h: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian filter (in grid cells) along every axis, zero outside."""
    r = max(1, int(np.ceil(4 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in range(h.ndim):
        h = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, h)
    return h


def kde_on_grid(samples: np.ndarray, data: ToyData) -> np.ndarray:
    """Binned Gaussian KDE (kernel ``kde_kernel_std``) of samples (N, d) on ``density_grid`` -> (M,)."""
    ax = grid_axis(data)
    step, bandwidth = ax[1] - ax[0], kde_kernel_std(data)
    edges = np.append(ax - step / 2, ax[-1] + step / 2)
    if data.dim == 1:
        hist, _ = np.histogram(samples[:, 0], edges)
    else:
        hist, _, _ = np.histogram2d(samples[:, 1], samples[:, 0], [edges, edges])  # (y, x)
    dens = _smooth(hist.astype(np.float64), bandwidth / step) / (len(samples) * step ** data.dim)
    return dens.ravel()


def d_star(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """The optimal discriminator p_data / (p_data + p_g); 1/2 where both are 0."""
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5, dtype=np.float64), where=total > 0)


def support_mask(p_data: np.ndarray, p_g: np.ndarray, frac: float = SUPPORT) -> np.ndarray:
    total = p_data + p_g
    return total > frac * total.max()


# --- models and training -----------------------------------------------------------

def mlp(d_in: int, d_out: int, hidden: int = 64, act: type = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, d_out))


def g_loss_of(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss from D's logits on fakes: saturating log(1 - D) or -log D, both minimised."""
    return -F.softplus(logits).mean() if kind == "saturating" else F.softplus(-logits).mean()


def d_loss_of(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@torch.no_grad()
def d_on_grid(D: nn.Module, grid: np.ndarray) -> np.ndarray:
    return torch.sigmoid(D(torch.as_tensor(grid, dtype=torch.float32))).squeeze(1).double().numpy()


def fit_discriminator(D: nn.Module, real, fake, steps: int = 1500, batch: int = 512, lr: float = 1e-3,
                      progress: bool = False) -> nn.Module:
    """Train D alone against fixed distributions (callables n -> (n, d) tensors)."""
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in tqdm(range(steps), desc="fit D to frozen G", disable=not progress, leave=False):
        loss = d_loss_of(D(real(batch)), D(fake(batch)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return D


def distance(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """1-Wasserstein (1-D) or sliced 1-Wasserstein (2-D) between equal-size samples (N, d)."""
    if a.shape[1] == 1:
        return float(np.abs(np.sort(a[:, 0]) - np.sort(b[:, 0])).mean())
    dirs = np.random.default_rng(seed).normal(size=(a.shape[1], N_SLICES))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.ascontiguousarray((a @ dirs).T), np.ascontiguousarray((b @ dirs).T)  # (slices, N)
    return float(np.abs(np.sort(pa, 1) - np.sort(pb, 1)).mean())


def mode_stats(samples: np.ndarray, data: ToyData) -> tuple[int, float]:
    """(modes covered, share of high-quality samples) of samples (N, d)."""
    d = np.sqrt(((samples[:, None, :] - data.means[None]) ** 2).sum(-1))  # (N, K)
    nearest, dist = d.argmin(1), d.min(1)
    hq = dist < HQ_SIGMAS * data.std
    counts = np.bincount(nearest[hq], minlength=len(data.means))
    fair = len(samples) / len(data.means)
    return int((counts >= COVER_SHARE * fair).sum()), float(hq.mean())


@dataclass(frozen=True)
class ToyTrace:
    """One training run. Per step arrays have ``steps`` entries; eval arrays ``len(eval_steps)``."""

    g_loss: str
    G: nn.Module = field(repr=False)
    D: nn.Module = field(repr=False)
    loss_d: np.ndarray  # (steps,)
    loss_g: np.ndarray  # (steps,)
    d_fake: np.ndarray  # (steps,) mean D(G(z)) seen by the G step
    g_grad_norm: np.ndarray  # (steps,) norm of the gradient on G's parameters
    eval_steps: np.ndarray  # (E,)
    dist: np.ndarray  # (E,) distance to p_data
    modes: np.ndarray  # (E,) modes covered
    hq: np.ndarray  # (E,) share of high-quality samples
    snap_steps: np.ndarray  # (S,)
    snap_samples: np.ndarray  # (S, n_show, d) G samples
    snap_p_g: np.ndarray  # (S, M) KDE of p_g on the grid
    snap_d: np.ndarray  # (S, M) D(x) on the grid


def _sampler(data: ToyData, G: nn.Module | None, z_dim: int, gen: torch.Generator):
    if G is None:
        return lambda n: data.sample(n, gen)
    return lambda n: G(torch.randn(n, z_dim, generator=gen)).detach()


@torch.no_grad()
def _g_samples(G: nn.Module, n: int, z_dim: int, gen: torch.Generator) -> np.ndarray:
    return G(torch.randn(n, z_dim, generator=gen)).double().numpy()


def train_toy(data: ToyData, g_loss: str, steps: int, seed: int = 0, z_dim: int = Z_DIM, batch: int = 256,
              lr: float = 1e-3, n_snap: int = 6, n_eval: int = 40, progress: bool = False) -> ToyTrace:
    """Alternate one D step and one G step (Adam, beta1 0.5) for ``steps`` steps.

    Args:
        data: the toy distribution.
        g_loss: "non-saturating" or "saturating".
        steps: G updates.
        seed: the same seed gives the same initial G, D, z and data batches for both losses.
    Returns:
        A :class:`ToyTrace` with per-step curves, evaluations and Fig. 1 snapshots.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = mlp(z_dim, data.dim), mlp(data.dim, 1, act=lambda: nn.LeakyReLU(0.2))
    gen, eval_gen = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    grid = density_grid(data)
    snap_at = np.unique(np.linspace(0, steps, n_snap).round().astype(int))
    eval_at = np.unique(np.linspace(0, steps, n_eval + 1).round().astype(int))
    reference = data.sample(N_EVAL, torch.Generator().manual_seed(seed + 3)).double().numpy()
    per_step = np.zeros((4, steps))
    ev, snaps = [], []
    for step in tqdm(range(steps + 1), desc=f"toy GAN ({g_loss})", disable=not progress, leave=False):
        if step in eval_at:
            s = _g_samples(G, N_EVAL, z_dim, eval_gen)
            ev.append((distance(s, reference), *mode_stats(s, data)))
        if step in snap_at:
            s = _g_samples(G, N_DENSITY, z_dim, eval_gen)
            snaps.append((s[:2000], kde_on_grid(s, data), d_on_grid(D, grid)))
        if step == steps:
            break
        x, z = data.sample(batch, gen), torch.randn(batch, z_dim, generator=gen)
        loss_d = d_loss_of(D(x), D(G(z).detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        logits = D(G(torch.randn(batch, z_dim, generator=gen))).squeeze(1)
        loss_g = g_loss_of(logits, g_loss)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        gnorm = torch.sqrt(sum((p.grad ** 2).sum() for p in G.parameters()))
        opt_g.step()
        per_step[:, step] = (loss_d.item(), loss_g.item(), torch.sigmoid(logits).mean().item(), gnorm.item())
    ev_arr = np.array(ev)
    return ToyTrace(g_loss, G, D, *per_step, eval_at, ev_arr[:, 0], ev_arr[:, 1].astype(int), ev_arr[:, 2],
                    snap_at, *(np.stack(a) for a in zip(*snaps)))


@dataclass(frozen=True)
class ToyResult:
    """Both losses trained from one seed, and D fitted to the final G of ``main``."""

    data: ToyData
    seed: int
    steps: int
    main: str  # the g_loss shown in the Fig. 1 panels
    traces: dict  # g_loss -> ToyTrace
    grid: np.ndarray  # (M, d)
    p_data: np.ndarray  # (M,) smoothed by the same kernel as p_g
    p_g: np.ndarray  # (M,) KDE of the final G of ``main``
    d_star: np.ndarray  # (M,)
    d_fit: np.ndarray  # (M,) D fitted to the frozen final G
    mask: np.ndarray  # (M,) bool, where p_data + p_g is non-negligible
    bandwidth: float  # std of the KDE smoothing (kernel and binning), applied to p_data too

    @property
    def d_star_mae(self) -> float:
        return float(np.abs(self.d_fit - self.d_star)[self.mask].mean())

    @property
    def d_star_mae_before_fit(self) -> float:
        d = self.traces[self.main].snap_d[-1]
        return float(np.abs(d - self.d_star)[self.mask].mean())

    @property
    def d_where_equal(self) -> float:
        """Mean fitted D where p_g ~ p_data (|D* - 1/2| < 0.05): the theory says 1/2."""
        sel = self.mask & (np.abs(self.d_star - 0.5) < 0.05)
        return float(self.d_fit[sel].mean()) if sel.any() else float("nan")


def compute_toy(data_name: str = "gauss1d", g_loss: str = "non-saturating", steps: int = 2000,
                seed: int = 0, fit_steps: int = 1500, progress: bool = False) -> ToyResult:
    """Train the toy GAN with both G losses, then fit D to the frozen final G.

    Args:
        data_name: "gauss1d", "mixture1d" or "ring2d".
        g_loss: the loss shown in the Fig. 1 panels (both are trained).
        steps: training steps of each run.
        seed: everything random derives from it.
        fit_steps: D updates against the frozen final G.
    """
    data = get_data(data_name)
    if g_loss not in G_LOSSES:
        raise UserError(f"unknown --g-loss {g_loss!r}; choose one of {', '.join(G_LOSSES)}")
    if steps < 1 or fit_steps < 1:
        raise UserError("--steps and --fit-steps must be at least 1")
    traces = {k: train_toy(data, k, steps, seed, progress=progress) for k in G_LOSSES}
    tr, grid = traces[g_loss], density_grid(data)
    gen = torch.Generator().manual_seed(seed + 4)
    fit_steps_gen = torch.Generator().manual_seed(seed + 5)
    p_g = kde_on_grid(_g_samples(tr.G, N_DENSITY, Z_DIM, gen), data)
    p_data = data.density(grid, extra_var=kde_variance(data))
    D = fit_discriminator(copy.deepcopy(tr.D), _sampler(data, None, Z_DIM, fit_steps_gen),
                          _sampler(data, tr.G, Z_DIM, fit_steps_gen),
                          fit_steps, progress=progress)
    return ToyResult(data, seed, steps, g_loss, traces, grid, p_data, p_g, d_star(p_data, p_g),
                     d_on_grid(D, grid), support_mask(p_data, p_g), kde_variance(data) ** 0.5)


def summary_of(r: ToyResult) -> dict:
    """The figures of merit (``d_star_mae``, ``g_loss``), JSON-ready."""
    def one(t: ToyTrace) -> dict:
        k = max(1, len(t.d_fake) // 10)
        q = max(1, len(t.dist) // 4)
        return {"distance_final": float(t.dist[-1]), "distance_min": float(t.dist.min()),
                "distance_mean_last_quarter": float(t.dist[-q:].mean()),
                "modes_covered_final": int(t.modes[-1]), "high_quality_share_final": float(t.hq[-1]),
                "mean_d_fake_first_10pct": float(t.d_fake[:k].mean()),
                "median_g_grad_norm_first_10pct": float(np.median(t.g_grad_norm[:k])),
                "median_g_grad_norm_last_10pct": float(np.median(t.g_grad_norm[-k:]))}

    tr = r.traces[r.main]
    return {"data": r.data.name, "modes": len(r.data.means), "seed": r.seed, "steps": r.steps, "main_g_loss": r.main,
            "d_star_mae": r.d_star_mae, "d_star_mae_before_fit": r.d_star_mae_before_fit,
            "d_where_p_g_equals_p_data": r.d_where_equal, "theory_d_where_equal": 0.5,
            "support_threshold": f"p_data + p_g > {SUPPORT} * max", "kde_smoothing_std": r.bandwidth,
            "distance": "wasserstein1" if r.data.dim == 1 else f"sliced_wasserstein1 ({N_SLICES} directions)",
            "mode_rule": f"high quality: within {HQ_SIGMAS:g} std of the nearest mode; covered: "
                         f">= {COVER_SHARE:g} x fair share of high-quality samples",
            "g_loss": {k.replace("-", "_"): one(t) for k, t in r.traces.items()},
            "modes_covered_curve": tr.modes.tolist(), "eval_steps": tr.eval_steps.tolist()}


def arrays_of(r: ToyResult) -> dict[str, np.ndarray]:
    out = {"grid": r.grid, "p_data": r.p_data, "p_g": r.p_g, "d_star": r.d_star, "d_fit": r.d_fit,
           "mask": r.mask, "seed": np.array(r.seed), "data_means": r.data.means, "data_std": np.array(r.data.std)}
    for k, t in r.traces.items():
        p = k.replace("-", "_")
        for name in ("loss_d", "loss_g", "d_fake", "g_grad_norm", "eval_steps", "dist", "modes", "hq",
                     "snap_steps", "snap_samples", "snap_p_g", "snap_d"):
            out[f"{p}_{name}"] = getattr(t, name)
    return out
