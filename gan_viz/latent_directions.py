"""Directions in z shared by the analyses that walk along them (arithmetic's Fig. 8, ``gan-viz directions``).

- :func:`random_directions`: directions uniform on a sphere of a given radius (the random controls).
- :func:`antithetic_controls`: random controls in opposite pairs (r, -r) of the norm of a direction.
- :func:`mean_difference`: the paper's exemplar-mean direction, mean z of one group minus another's.
- :func:`load_direction`: one direction from a file (``FILE.npz:KEY``, ``FILE.npy``), to walk along it.
- :func:`default_walk_t`: the default end of a walk along a unit direction (2 standard deviations of z along it).

>>> d = mean_difference(torch.ones(3, 4), torch.zeros(2, 4))
>>> d.tolist()
[1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import torch

from .errors import UserError


def random_directions(n: int, nz: int, norm: float, seed: int) -> torch.Tensor:
    """(n, nz) directions uniform on the sphere of radius ``norm`` (normalised Gaussians)."""
    g = torch.randn(n, nz, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (g / g.norm(dim=1, keepdim=True) * norm).float()


def antithetic_controls(n: int, d: torch.Tensor, seed: int) -> torch.Tensor:
    """(n, nz) random directions of the norm of ``d`` (nz,), in opposite pairs (r, -r) (an odd ``n`` ends
    with a lone r): their mean effect on a smooth attribute cancels to first order, so it estimates "no
    direction" better than independent draws; their spread is the noise floor."""
    half = random_directions((n + 1) // 2, d.numel(), float(d.norm()), seed)
    return torch.stack([s * v for v in half for s in (1, -1)])[:n]


def mean_difference(plus_z: torch.Tensor, minus_z: torch.Tensor) -> torch.Tensor:
    """(nz,) float32: mean(plus_z) - mean(minus_z), computed in float64 (the paper's Fig. 8 direction)."""
    if len(plus_z) == 0 or len(minus_z) == 0:
        raise UserError("a direction needs at least one exemplar on each side")
    return (plus_z.double().mean(0) - minus_z.double().mean(0)).float()


def default_walk_t(z_dist: str) -> float:
    """2 standard deviations of z along a unit direction: 2 for Gaussian z, 2/sqrt(3) for uniform z on
    [-1, 1]^nz (whose coordinates have standard deviation 1/sqrt(3)); walks go from -t to +t."""
    import numpy as np

    return float(2 / np.sqrt(3) if z_dist == "uniform" else 2.0)


def load_direction(spec: str, nz: int) -> torch.Tensor:
    """(nz,) float32: the direction ``FILE.npz:KEY`` (e.g. ``gan-viz directions``' arrays.npz, key
    ``window/interfacegan``) or ``FILE.npy`` (one vector), checked against the model's nz.

    Raises:
        UserError: a missing file, a missing key (listing the vectors of size nz the file holds), a shape
        other than (nz,).
    """
    import numpy as np

    spec = str(spec)
    path, key = spec.rsplit(":", 1) if ":" in spec and not spec.endswith(".npy") else (spec, None)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"--direction {spec}: {path} does not exist") from None
    except (ValueError, OSError) as e:
        raise UserError(f"--direction {spec}: {path} is not a .npy / .npz file ({e})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        fits = [k for k in data.files if data[k].shape == (nz,)]
        if key is None or key not in data.files:
            raise UserError(f"--direction {spec}: give FILE.npz:KEY with KEY one of {', '.join(fits) or '(none of size nz)'}")
        v = data[key]
    else:
        v = data
    if v.shape != (nz,) or not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all() or not np.any(v):
        raise UserError(f"--direction {spec}: holds shape {v.shape} ({v.dtype}); this model needs a finite, "
                        f"non-zero float vector of shape ({nz},)")
    return torch.from_numpy(np.asarray(v, dtype=np.float32))
