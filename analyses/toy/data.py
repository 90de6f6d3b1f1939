"""The toy data: Gaussian mixtures with equal isotropic components, known in closed form."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_viz.errors import UserError


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
