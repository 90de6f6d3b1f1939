"""Judging directions on fresh z: effect curves, slopes, the random band, naming, entanglement, agreement.

All pure: images come from a callable ``gen(z) -> images`` and class fractions from the judge
(an Instrument: ``class_fractions``, ``class_names``).

- :func:`effect_curves`: the judge's mean class pixel fractions on ``eval_z + alpha * v`` for every
  direction and alpha (D, A, K), plus the image grid of the first rows (same z for every direction).
- :func:`slopes`: the least-squares slope of each curve over the alphas (D, K) (the slope at 0 of a
  curve symmetric in alpha).
- :func:`random_band`: per class, the larger of the largest |slope| of the random directions and
  their negatives and the |slope| a random direction exceeds with probability ``FAMILY_ALPHA / m``
  (Student t on the R random slopes, m = the directions x classes judged): a direction's effect on a
  class is above random when its |slope| exceeds the band, and on a G where no direction does anything
  the chance that any of them is called above random stays under ``FAMILY_ALPHA``. Walks are symmetric
  in alpha, so the curve of -r is the curve of r reversed (the negatives are exact, not drawn).
- :func:`name_of`: the class a direction moves most, in multiples of that class's band.
- :func:`entanglement`: each class's slope per unit slope of the direction's concept.
- :func:`agreement`: cosines between directions, and the random-vs-random floor.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm


def effect_curves(gen, eval_z: torch.Tensor, dirs: np.ndarray, alphas: np.ndarray, judge, rows: int,
                  batch_size: int = 256) -> tuple[np.ndarray | None, np.ndarray]:
    """((D, A, K) mean judged fractions, or None without a judge; (D, rows, A, C, H, W) grid images).
    alpha 0 is generated once for all directions; without a judge only the grid rows are generated."""
    d = torch.from_numpy(np.asarray(dirs, dtype=np.float32))  # (D, nz)
    zs = eval_z if judge is not None else eval_z[:rows]
    frac = lambda x: judge.class_fractions(x, batch_size).double().mean(0).numpy()  # noqa: E731
    base = gen(zs)
    f0 = frac(base) if judge is not None else None
    curves = np.zeros((len(d), len(alphas), len(judge.class_names))) if judge is not None else None
    grid = np.zeros((len(d), rows, len(alphas), *base.shape[1:]), dtype=np.float32)
    with tqdm(total=len(d) * len(alphas), desc="directions", unit="walk", leave=False) as bar:
        for i, v in enumerate(d):
            for j, a in enumerate(alphas):
                x = base if a == 0 else gen(zs + float(a) * v)
                grid[i, :, j] = x[:rows].numpy()
                if curves is not None:
                    curves[i, j] = f0 if a == 0 else frac(x)
                bar.update()
    return curves, grid


def slopes(curves: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """(..., A, K) curves -> (..., K) least-squares slopes over the alphas."""
    a = np.asarray(alphas, dtype=np.float64) - np.mean(alphas)
    y = curves - curves.mean(-2, keepdims=True)
    return np.einsum("a,...ak->...k", a, y) / float((a ** 2).sum())


FAMILY_ALPHA = 0.05  # the chance that any direction of a run is called above random on a null G


def band_multiple(n_random: int, comparisons: int, alpha: float = FAMILY_ALPHA) -> float:
    """The band in standard deviations of the random slopes: the two-sided ``alpha / comparisons``
    quantile of Student's t with ``n_random`` degrees of freedom (the slopes' mean is 0 by
    construction, so each random direction gives one). E.g. 4.6 for 10 random directions and 16
    directions x 3 classes, 5.3 for 10 random and 14 x 10 (the report on rooms), 7.2 for 6 and 14 x 10;
    with a known sd and one comparison, 1.96."""
    from scipy.stats import t

    return float(t.ppf(1 - alpha / (2 * max(1, int(comparisons))), max(1, int(n_random))))


def random_band(random_slopes: np.ndarray, comparisons: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(signed slopes of the randoms and their negatives (2R, K), band (K,)): per class the larger of
    max |slope| and :func:`band_multiple` (R, ``comparisons``) standard deviations of the signed slopes.

    ``comparisons``: how many (direction, class) slopes are held against the band, naming included
    (an unsupervised component is named after the class it moves most, a choice among K): with the
    Bonferroni bound the band controls the chance of any false call among them, not of each one (at
    3 sd, 3 of 4 hash generators, whose every direction is noise, had a direction above random).
    """
    both = np.concatenate([random_slopes, -random_slopes])
    sd = np.sqrt((both ** 2).mean(0))  # about the known mean 0
    return both, np.maximum(np.abs(both).max(0), band_multiple(len(random_slopes), comparisons) * sd)


def name_of(slope: np.ndarray, band: np.ndarray) -> tuple[int, float]:
    """(the class whose |slope| is the largest multiple of its band, that multiple)."""
    ratio = np.abs(slope) / np.maximum(band, 1e-12)
    k = int(np.argmax(ratio))
    return k, float(ratio[k])


def entanglement(slope: np.ndarray, target: int) -> np.ndarray:
    """(K,): each class's slope per unit slope of class ``target`` (the target's own entry is 1)."""
    s = float(slope[target])
    return slope / s if s != 0 else np.full_like(slope, np.nan)


def agreement(vectors: np.ndarray) -> np.ndarray:
    """(M, M) cosines between the rows of ``vectors``."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)
    return v @ v.T


def random_floor(random_vectors: np.ndarray) -> dict:
    """The cosine two random directions reach: the largest and mean |cos| over pairs of the randoms, and
    the expected mean |cos| of two random directions in nz dimensions, sqrt(2 / (pi nz))."""
    c = np.abs(agreement(random_vectors))[np.triu_indices(len(random_vectors), 1)]
    nz = random_vectors.shape[1]
    return {"max_abs": float(c.max()) if len(c) else None, "mean_abs": float(c.mean()) if len(c) else None,
            "expected_mean_abs": float(np.sqrt(2 / (np.pi * nz)))}
