"""The latent codes of a walk: straight lines (:func:`lerp`) or great circles (:func:`slerp`) between anchors."""

from __future__ import annotations

import torch

from gan_viz.errors import UserError

INTERPS = ("linear", "slerp")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: (nz,), (nz,), (T,) -> (T, nz)."""
    t = t.to(torch.float64)[:, None]
    return (1 - t) * a.double() + t * b.double()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the direction, linear interpolation of the norm.

    Args:
        a, b: (nz,) endpoints. t: (T,) positions in [0, 1].
    Returns:
        (T, nz) float64 with ``|z(t)| = (1 - t)|a| + t|b|`` exactly; falls back to
        :func:`lerp` when an endpoint is zero or the two directions (anti)coincide.
    """
    a, b, t = a.double(), b.double(), t.to(torch.float64)[:, None]
    na, nb = a.norm(), b.norm()
    if na < 1e-12 or nb < 1e-12:
        return lerp(a, b, t[:, 0])
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.clamp(ua @ ub, -1.0, 1.0))
    if torch.sin(omega) < 1e-6:  # parallel or opposite: no unique great circle
        return lerp(a, b, t[:, 0])
    u = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    u = u / u.norm(dim=1, keepdim=True)
    return u * ((1 - t) * na + t * nb)


def walk_z(anchors: torch.Tensor, steps: int, interp: str) -> torch.Tensor:
    """The latent codes of a walk through ``anchors``.

    Args:
        anchors: (P, nz), P >= 2. steps: frames per segment (>= 1). interp: linear/slerp.
    Returns:
        (F, nz) float32, F = (P - 1) * steps + 1; row ``k * steps`` equals anchor k exactly.
    """
    if anchors.ndim != 2 or len(anchors) < 2:
        raise UserError(f"a walk needs at least 2 anchor points; got {tuple(anchors.shape)}")
    if steps < 1:
        raise UserError(f"--steps {steps}: each segment needs at least 1 step")
    if interp not in INTERPS:
        raise UserError(f"unknown interpolation {interp!r}; choose one of {', '.join(INTERPS)}")
    fn = slerp if interp == "slerp" else lerp
    t = torch.arange(steps, dtype=torch.float64) / steps  # (steps,), 0 included, 1 excluded
    rows = [fn(anchors[k], anchors[k + 1], t) for k in range(len(anchors) - 1)]
    z = torch.cat(rows + [anchors[-1:].double()]).float()  # (F, nz)
    z[::steps] = anchors.float()  # anchors bit-exact
    return z
