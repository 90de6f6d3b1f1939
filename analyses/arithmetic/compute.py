"""Fig. 7's arithmetic on concept means and Fig. 8's directions: z in, frozen results out.

:func:`compute_arithmetic`: the arithmetic on per-concept mean z (Y and its noisy neighbours)
and on the exemplar images (pixel space). :func:`compute_direction`: a direction (one group's
mean z minus another's) walked over alphas, measured by an instrument (``class_fractions``,
``class_names``) beside control directions of the same norm (the package docstring has the
paper's procedures).

Example:
    >>> terms = parse_expr("A - B + C")            # (("A", 1.0), ("B", -1.0), ("C", 1.0))
    >>> r = compute_arithmetic(G, terms, [zA, zB, zC], noise=0.25, n_noisy=8, seed=0)
    >>> r.result_images.shape[0]                   # Y and its 8 noisy neighbours
    9
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from gan_viz.errors import UserError
from gan_viz.latent_directions import antithetic_controls, mean_difference
from gan_viz.subject import Subject, generate_images


def _images(G, z: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """G(z), batched, in eval mode: a Subject's images, or a module's."""
    if isinstance(G, Subject):
        return G.images(z, batch_size, device)
    return generate_images(G, z, batch_size, device)


# --- Fig. 7: arithmetic on concept means ---------------------------------------------

@dataclass(frozen=True)
class ArithmeticResult:
    """Vector arithmetic on T concepts with k_i exemplars each (E = sum k_i)."""

    names: tuple  # (T,) concept names in expression order
    coefs: np.ndarray  # (T,) coefficients
    exemplar_z: np.ndarray  # (E, nz)
    owner: np.ndarray  # (E,) index of the concept of each exemplar
    exemplar_images: np.ndarray  # (E, C, H, W)
    mean_z: np.ndarray  # (T, nz) per-concept mean z
    mean_images: np.ndarray  # (T, C, H, W) G(mean z)
    y: np.ndarray  # (nz,) sum_i coef_i * mean_z_i
    noisy_z: np.ndarray  # (n, nz) Y + U(-noise, noise)
    result_images: np.ndarray  # (1 + n, C, H, W): G(Y) first, then the noisy ones
    pixel_means: np.ndarray  # (T, C, H, W) mean exemplar image per concept
    pixel_result: np.ndarray  # (C, H, W) sum_i coef_i * pixel_means_i, clipped to [-1, 1]
    noise: float
    seed: int
    fractions: dict | None = None  # "exemplars"/"means"/"results"/"pixel" -> (M, K) parser fractions
    class_names: tuple = ()


def noisy_around(y: torch.Tensor, n: int, scale: float, seed: int) -> torch.Tensor:
    """(n, nz): ``y`` plus independent uniform noise in [-scale, scale] (the paper: 0.25)."""
    u = torch.rand(n, y.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (y.double()[None] + (2 * u - 1) * scale).float()


def compute_arithmetic(G, terms, exemplar_z: list, noise: float = 0.25, n_noisy: int = 8,
                       seed: int = 0, instrument=None, batch_size: int = 256,
                       device: torch.device | str = "cpu") -> ArithmeticResult:
    """Arithmetic on per-concept mean z, and the same arithmetic in pixel space.

    Args:
        G: the generator module or a Subject. terms: ``parse_expr`` output ((name, coef), ...).
        exemplar_z: one (k_i, nz) tensor per term, in term order (k_i >= 1).
        noise: half-width of the uniform noise added to Y. n_noisy: noisy samples.
        seed: seed of that noise. instrument: an Instrument (``class_fractions``, ``class_names``)
            for class fractions, or None.
    Returns:
        An :class:`ArithmeticResult`.
    """
    if len(exemplar_z) != len(terms) or any(len(z) == 0 for z in exemplar_z):
        raise UserError("every concept of the expression needs at least one exemplar")
    if noise < 0 or n_noisy < 0:
        raise UserError(f"--noise {noise} and --noisy {n_noisy} must not be negative")
    coefs = torch.tensor([c for _, c in terms], dtype=torch.float64)
    ex = torch.cat(exemplar_z).float()  # (E, nz)
    owner = torch.cat([torch.full((len(z),), i) for i, z in enumerate(exemplar_z)])
    means = torch.stack([z.double().mean(0) for z in exemplar_z])  # (T, nz)
    y = (coefs[:, None] * means).sum(0).float()  # (nz,) the z that G sees
    noisy = noisy_around(y, n_noisy, noise, seed)
    gen = lambda z: _images(G, z.float(), batch_size, device)  # noqa: E731
    ex_img, mean_img, res_img = gen(ex), gen(means), gen(torch.cat([y[None], noisy]))
    pix = torch.stack([ex_img[owner == i].double().mean(0) for i in range(len(terms))])  # (T, C, H, W)
    pixel_result = (coefs[:, None, None, None] * pix).sum(0).clamp(-1, 1).float()
    fr = None
    if instrument is not None:
        f = lambda x: instrument.class_fractions(x).numpy().astype(np.float64)  # noqa: E731
        fr = {"exemplars": f(ex_img), "means": f(mean_img), "results": f(res_img), "pixel": f(pixel_result[None])}
    return ArithmeticResult(
        names=tuple(n for n, _ in terms), coefs=coefs.numpy(), exemplar_z=ex.numpy(), owner=owner.numpy(),
        exemplar_images=ex_img.numpy(), mean_z=means.float().numpy(), mean_images=mean_img.numpy(),
        y=y.numpy(), noisy_z=noisy.numpy(), result_images=res_img.numpy(), pixel_means=pix.float().numpy(),
        pixel_result=pixel_result.numpy(), noise=float(noise), seed=int(seed), fractions=fr,
        class_names=tuple(instrument.class_names) if instrument is not None else ())


# --- Fig. 8: directions ---------------------------------------------------------------

@dataclass(frozen=True)
class DirectionResult:
    """A direction d = mean(plus) - mean(minus), walked and measured (A alphas, N eval samples)."""

    d: np.ndarray  # (nz,)
    plus_z: np.ndarray  # (m+, nz)
    minus_z: np.ndarray  # (m-, nz)
    alphas: np.ndarray  # (A,) multiples of d
    bases: np.ndarray  # (B, nz) rows of the walk figure
    walk_images: np.ndarray  # (B, A, C, H, W): G(base + alpha d)
    eval_z: np.ndarray  # (N, nz) fresh samples for the measurement
    controls: np.ndarray  # (R, nz) random directions, |r| = |d|
    seed: int
    fractions: np.ndarray | None = None  # (A, N, K) along d
    control_fractions: np.ndarray | None = None  # (R, A, N, K) along the controls
    class_names: tuple = ()


def compute_direction(G, plus_z: torch.Tensor, minus_z: torch.Tensor, alphas, bases: torch.Tensor,
                      eval_z: torch.Tensor, instrument=None, n_controls: int = 3, seed: int = 0,
                      batch_size: int = 256, device: torch.device | str = "cpu") -> DirectionResult:
    """Walk along d = mean(plus_z) - mean(minus_z) and measure it against random directions.

    Args:
        G: the generator module or a Subject. plus_z, minus_z: (m, nz) the two groups.
        alphas: multiples of d. bases: (B, nz) starting points of the walk figure.
        eval_z: (N, nz) samples measured at every alpha (with an instrument).
        instrument: an Instrument, or None. n_controls: random directions of the same norm, in
            opposite pairs (r, -r) (an odd count ends with a lone r).
        seed: seed of the control directions.
    Returns:
        A :class:`DirectionResult`; ``fractions`` only with an instrument.
    """
    d = mean_difference(plus_z, minus_z)  # (nz,)
    a = torch.tensor([float(x) for x in alphas])
    walk_z = bases[:, None, :] + a[None, :, None] * d  # (B, A, nz)
    walk = _images(G, walk_z.flatten(0, 1), batch_size, device)
    walk = walk.reshape(len(bases), len(a), *walk.shape[1:])
    ctrl = antithetic_controls(n_controls, d, seed)  # (R, nz): r and -r, |r| = |d|
    fr = cfr = None
    if instrument is not None:
        dirs = torch.cat([d[None], ctrl])  # (1 + R, nz)
        out = np.zeros((len(dirs), len(a), len(eval_z), len(instrument.class_names)))
        with tqdm(total=len(dirs) * len(a), desc="direction", unit="alpha", leave=False) as bar:
            for i, v in enumerate(dirs):
                for j, alpha in enumerate(a):
                    img = _images(G, eval_z + alpha * v, batch_size, device)
                    out[i, j] = instrument.class_fractions(img).numpy()
                    bar.update()
        fr, cfr = out[0], out[1:]
    return DirectionResult(d=d.numpy(), plus_z=plus_z.float().numpy(), minus_z=minus_z.float().numpy(),
                           alphas=a.numpy(), bases=bases.float().numpy(), walk_images=walk.numpy(),
                           eval_z=eval_z.float().numpy(), controls=ctrl.numpy(), seed=int(seed), fractions=fr,
                           control_fractions=cfr,
                           class_names=tuple(instrument.class_names) if instrument is not None else ())


def arithmetic_arrays(r: ArithmeticResult, chosen: dict) -> dict:
    """arrays.npz's Fig. 7 entries; ``chosen``: name -> the sheet indices of its exemplars."""
    return {"terms": np.array(r.names), "coefs": r.coefs, "exemplar_index": np.concatenate([chosen[n] for n in r.names]),
            "exemplar_owner": r.owner, "exemplar_z": r.exemplar_z, "exemplar_images": r.exemplar_images,
            "mean_z": r.mean_z, "mean_images": r.mean_images, "y": r.y, "noisy_z": r.noisy_z,
            "result_images": r.result_images, "pixel_means": r.pixel_means, "pixel_result": r.pixel_result,
            "noise": r.noise, **({f"fractions_{k}": v for k, v in r.fractions.items()} if r.fractions else {})}


def direction_arrays(d: DirectionResult, plus: list, minus: list) -> dict:
    """arrays.npz's Fig. 8 entries; ``plus`` / ``minus``: the sheet indices of the two groups."""
    a = {"direction": d.d, "plus_index": np.array(plus), "minus_index": np.array(minus), "alphas": d.alphas,
         "walk_bases": d.bases, "walk_images": d.walk_images, "eval_z": d.eval_z, "control_directions": d.controls}
    if d.fractions is not None:
        a["direction_fractions"] = d.fractions.astype(np.float32)
        a["control_fractions"] = d.control_fractions.astype(np.float32)
    return a
