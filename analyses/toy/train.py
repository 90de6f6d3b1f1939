"""The toy GAN: MLPs, the two generator losses, the training loop and a D fitted to a frozen G."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .data import ToyData
from .density import density_grid, kde_on_grid
from .measures import distance, mode_stats

G_LOSSES = ("non-saturating", "saturating")
N_DENSITY = 100_000  # G samples for the KDE of p_g
N_EVAL = 5_000  # samples for distances and mode counts
Z_DIM = 4  # latent size of the toy generator


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


def sampler(data: ToyData, G: nn.Module | None, z_dim: int, gen: torch.Generator):
    """A callable n -> (n, d) samples: of the data (``G`` None) or of ``G`` (detached)."""
    if G is None:
        return lambda n: data.sample(n, gen)
    return lambda n: G(torch.randn(n, z_dim, generator=gen)).detach()


@torch.no_grad()
def g_samples(G: nn.Module, n: int, z_dim: int, gen: torch.Generator) -> np.ndarray:
    """(n, d) float64 samples of G."""
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
            s = g_samples(G, N_EVAL, z_dim, eval_gen)
            ev.append((distance(s, reference), *mode_stats(s, data)))
        if step in snap_at:
            s = g_samples(G, N_DENSITY, z_dim, eval_gen)
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
