"""Sample-quality metrics between a generated and a real feature set, with bootstrap intervals.

Every function takes two feature arrays, real ``(R, F)`` and generated ``(N, F)``, and
returns plain numbers; nothing here reads images or files. Which code computes what:

- **Frechet distance** (Heusel et al. 2017, FID's formula in any feature space):
  ``|mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))``, the matrix square root by
  ``scipy.linalg.sqrtm``. Refused (one line) where a set has no more images than feature
  dimensions (the covariance is then singular); the square root's imaginary part is
  checked (pytorch-fid's rule: diagonal imaginary part within 1e-3 of the trace's scale)
  and a non-finite root is retried with 1e-6 added to both diagonals (pytorch-fid's
  offset), which is recorded. Bootstrap replicates use the symmetric form
  ``tr((S_r^(1/2) S_g S_r^(1/2))^(1/2))`` by ``numpy.linalg.eigh`` (the same number, faster).
- **KID** (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
  ``k(x, y) = (x.y / F + 1)^3``, averaged over random subsets of ``subset_size`` images
  per side (one subset = every image where both sets are that small). Own code (as in
  torchmetrics and torch-fidelity), tested against hand values.
- **Improved precision and recall** (Kynkaanniemi et al. 2019, k=3) and **density and
  coverage** (Naeem et al. 2020, k=5): the ``prdc`` package (the authors' reference code,
  ``prdc.compute_prdc``) for the values. Their intervals bootstrap the per-image
  indicators (:func:`prdc_per_image`, the same definitions, tested equal to ``prdc``)
  with the k-NN balls of the full sets held fixed: resampling with replacement would put
  duplicates inside the balls and shrink them.

Intervals: bootstrap over images (``bootstraps`` replicates, both sets resampled with
replacement; for KID a pair of copies of one image is not counted as two images, see
:func:`_mmd2_resampled`): the replicates' percentiles, recentred on the estimate. A resample
holds ~63% distinct images, so it biases the Frechet distance upward as a smaller N would
(on two samples of one Gaussian, N=1000, F=64: estimate 2.3, replicates 4.1-4.7); the
recentring keeps the spread and drops that shift. The bias of the estimate itself (about
1/N) is what the real-vs-real control at the same N shows.

Example:
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    >>> frechet_distance(a, b) < 0.2, abs(kid(a, b)) < 0.01
    (True, True)
"""

from __future__ import annotations

import contextlib
import io
import warnings
import numpy as np

from .errors import UserError

K_PR, K_DC = 3, 5  # neighbours: precision/recall (Kynkaanniemi et al.), density/coverage (Naeem et al.)
IMAG_TOL = 1e-3
FD_OFFSET = 1e-6
METRICS = ("frechet", "kid", "precision", "recall", "density", "coverage")
BOUNDS = {"frechet": (0.0, np.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0), "density": (0.0, np.inf),
          "coverage": (0.0, 1.0)}  # the range of each metric: an interval stays inside it (KID may be negative)


def check_features(f, what: str = "features") -> np.ndarray:
    """``f`` as a finite float64 (N, F) array, or a one-line error naming ``what``."""
    a = np.asarray(f, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not len(a):
        raise UserError(f"{what} must be a non-empty (N, F) array; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise UserError(f"{what} hold {int((~np.isfinite(a)).sum())} non-finite values (NaN or inf)")
    return a


# --- Frechet distance -------------------------------------------------------------------

def require_samples(n: int, dim: int, what: str = "features") -> None:
    """The Frechet distance needs more images than dimensions: a one-line refusal otherwise."""
    if n <= dim:
        raise UserError(f"the Frechet distance in {what} needs more images than its {dim} dimensions, and has "
                        f"{n}; pass --n above {dim} (and real data holding twice that), or another feature space")


def frechet_distance(real, fake, what: str = "features", info: dict | None = None) -> float:
    """Frechet distance of Gaussians fitted to two feature sets (scipy's matrix square root).

    Args:
        real: (R, F); fake: (N, F). what: the feature space, named in a refusal.
        info: a dict that receives ``max_imag`` (largest |imaginary part| on the root's
            diagonal), ``offset`` (0, or the diagonal offset a non-finite root needed) and
            ``warnings`` (scipy's, e.g. "Matrix is singular": a covariance of deficient rank).
    Raises:
        UserError: R or N <= F; a root with a large imaginary part or not finite.
    """
    from scipy import linalg

    r, g = check_features(real, f"{what} (real)"), check_features(fake, f"{what} (generated)")
    require_samples(min(len(r), len(g)), r.shape[1], what)
    mu1, mu2 = r.mean(0), g.mean(0)
    s1, s2 = np.atleast_2d(np.cov(r, rowvar=False)), np.atleast_2d(np.cov(g, rowvar=False))  # (F, F)
    offset = 0.0
    with warnings.catch_warnings(record=True) as said:  # scipy warns of a singular product: recorded in info
        warnings.simplefilter("always")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = FD_OFFSET
            eye = np.eye(len(s1)) * offset
            covmean = linalg.sqrtm((s1 + eye) @ (s2 + eye))
        if not np.isfinite(covmean).all():
            raise UserError(f"the matrix square root of the Frechet distance in {what} is not finite even with "
                            f"{offset:g} added to the covariances' diagonals")
    scale = max(1.0, float(np.abs(np.trace(s1 + s2))) / len(s1))
    imag = float(np.abs(np.diagonal(covmean).imag).max()) if np.iscomplexobj(covmean) else 0.0
    if imag > IMAG_TOL * scale:
        raise UserError(f"the matrix square root of the Frechet distance in {what} has an imaginary part "
                        f"{imag:.3g} (> {IMAG_TOL:g} x {scale:.3g}): the covariances are too ill-conditioned")
    if info is not None:
        info.update(max_imag=imag, offset=offset, warnings=sorted({str(w.message).split(".")[0] for w in said}))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_moments(mu1, s1, mu2, s2) -> float:
    """The Frechet distance by the symmetric form, from means (F,) and covariances (F, F).

    tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of L^T S2 L, where
    S1 = L L^T (Cholesky: a sixth of the arithmetic of S1's eigendecomposition), or, where S1 is
    singular, of S1^(1/2) S2 S1^(1/2) (eigh); both matrices are similar to S1 S2."""
    try:
        r1 = np.linalg.cholesky(s1)
        m = r1.T @ s2 @ r1
    except np.linalg.LinAlgError:  # positive semi-definite only (a feature constant over the set)
        r1 = _psd_sqrt(s1)
        m = r1 @ s2 @ r1
    ev = np.linalg.eigvalsh(m)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


# --- KID --------------------------------------------------------------------------------

def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / F + 1)^3 for rows of x (A, F) and y (B, F): (A, B)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices (m, m), (n, n), (m, n): the diagonals are left out."""
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel Inception Distance in any feature space: the mean unbiased MMD^2 over subsets.

    Args:
        real: (R, F); fake: (N, F). subsets: random subsets (one where both sets have at most
            ``subset_size`` images: every subset would be all of them). subset_size: images per side.
    """
    x, y = check_features(real, "real features"), check_features(fake, "generated features")
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise UserError(f"KID needs at least 2 images per side; has {min(len(x), len(y))}")
    if m == len(x) == len(y):
        return mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        a, b = x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)]
        vals.append(mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)))
    return float(np.mean(vals))


def _mmd2_resampled(kxx, kyy, kxy, ix: np.ndarray, iy: np.ndarray) -> float:
    """Unbiased MMD^2 of a bootstrap resample (indices with repeats): pairs of copies of one image left out."""
    def within(k, i):
        same = i[:, None] == i[None, :]
        return k[np.ix_(i, i)][~same].mean()
    return float(within(kxx, ix) + within(kyy, iy) - 2 * kxy[np.ix_(ix, iy)].mean())


# --- precision, recall, density, coverage ----------------------------------------------------

def prdc(real, fake, k: int) -> dict:
    """``prdc.compute_prdc`` (Naeem et al.'s code) at ``k`` neighbours: precision, recall, density, coverage."""
    from prdc import compute_prdc

    r, g = check_features(real, "real features"), check_features(fake, "generated features")
    if min(len(r), len(g)) <= k:
        raise UserError(f"precision/recall/density/coverage with k={k} need more than {k} images per side")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        out = compute_prdc(r, g, nearest_k=k)
    return {key: float(v) for key, v in out.items()}


def _pairwise(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    import sklearn.metrics

    return sklearn.metrics.pairwise_distances(x, x if y is None else y, metric="euclidean", n_jobs=1)


def _kth(d: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (self at distance 0 is the 0th)."""
    return np.partition(d, k, axis=1)[:, k]


def prdc_per_image(real, fake, k: int) -> dict:
    """Per-image indicators whose means are prdc's four numbers (same definitions, k-NN balls of the full sets).

    Returns:
        ``precision`` (N,) bool: generated image inside some real ball; ``density`` (N,): real balls
        holding it / k; ``recall`` (R,) bool: real image inside some generated ball; ``coverage`` (R,)
        bool: a generated image inside its own ball.
    """
    r, g = check_features(real, "real features"), check_features(fake, "generated features")
    rr, rg = _kth(_pairwise(r), k), _kth(_pairwise(g), k)  # (R,), (N,)
    d = _pairwise(r, g)  # (R, N)
    inside = d < rr[:, None]
    return {"precision": inside.any(0), "density": inside.sum(0) / k,
            "recall": (d < rg[None, :]).any(1), "coverage": d.min(1) < rr}


# --- everything, with intervals ------------------------------------------------------------------

def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def compare(real, fake, *, what: str = "features", bootstraps: int = 100, level: float = 0.95,
            kid_subsets: int = 100, kid_subset_size: int = 1000, k_pr: int = K_PR, k_dc: int = K_DC,
            seed: int = 0, metrics: tuple[str, ...] = METRICS) -> dict:
    """Every metric of ``metrics`` of ``fake`` against ``real``, each ``{value, low, high}``.

    Args:
        real: (R, F); fake: (N, F) features. what: the space, named in refusals.
        bootstraps: percentile-bootstrap replicates (0: no interval). level: interval coverage.
    Returns:
        ``{metric: {"value": v, "low": lo, "high": hi}}`` plus ``"frechet_info"`` (see
        :func:`frechet_distance`) where the Frechet distance was asked.
    """
    r, g = check_features(real, f"{what} (real)"), check_features(fake, f"{what} (generated)")
    rng = np.random.default_rng(seed)
    boots = [(rng.integers(0, len(r), len(r)), rng.integers(0, len(g), len(g))) for _ in range(bootstraps)]
    out: dict = {}
    if "frechet" in metrics:
        info: dict = {}
        value = frechet_distance(r, g, what, info)
        reps = [frechet_from_moments(r[i].mean(0), np.atleast_2d(np.cov(r[i], rowvar=False)),
                                     g[j].mean(0), np.atleast_2d(np.cov(g[j], rowvar=False))) for i, j in boots]
        out["frechet"] = _entry(value, reps, level, BOUNDS["frechet"])
        out["frechet_info"] = info
    if "kid" in metrics:
        value = kid(r, g, kid_subsets, kid_subset_size, seed)
        reps = []
        if boots:
            kxx, kyy, kxy = polynomial_kernel(r, r), polynomial_kernel(g, g), polynomial_kernel(r, g)
            reps = [_mmd2_resampled(kxx, kyy, kxy, i, j) for i, j in boots]
        out["kid"] = _entry(value, reps, level)
    for k, names in ((k_pr, ("precision", "recall")), (k_dc, ("density", "coverage"))):
        names = tuple(n for n in names if n in metrics)
        if not names:
            continue
        values, per = prdc(r, g, k), prdc_per_image(r, g, k)
        for n in names:
            side = per[n]
            idx = [j if n in ("precision", "density") else i for i, j in boots]
            out[n] = _entry(values[n], [float(side[t].mean()) for t in idx], level, BOUNDS[n])
    return out


def _entry(value: float, reps: list, level: float, bounds: tuple = (-np.inf, np.inf)) -> dict:
    """The estimate and its interval: the bootstrap replicates' percentiles, recentred on the estimate
    and kept within the metric's range (``bounds``)."""
    if not len(reps):
        return {"value": float(value), "low": None, "high": None}
    reps = np.asarray(reps, dtype=np.float64)
    lo, hi = _interval(reps - reps.mean() + value, level)
    return {"value": float(value), "low": float(np.clip(lo, *bounds)), "high": float(np.clip(hi, *bounds))}


def headline(real, fake, control=None, space: str = "parser", kid_subsets: int = 20,
             kid_subset_size: int = 500) -> dict:
    """The trainer's and the model card's quality figures in one feature space, no intervals:
    ``frechet_<space>``, ``kid_<space>``, ``precision_<space>``, ``recall_<space>`` (k=3),
    ``density_<space>``, ``coverage_<space>`` (k=5) of ``fake`` against ``real``, and each again
    as ``<name>_<space>_real_vs_real`` for ``control`` (a real set disjoint from ``real``, as
    large as ``fake``) where given. A figure that cannot be
    computed (too few images for the dimension) is NaN; the others stand."""
    out: dict = {}
    for tag, other in ((f"_{space}", fake), (f"_{space}_real_vs_real", control)):
        if other is None:
            continue
        for name, f in (("frechet", lambda: frechet_distance(real, other)),
                        ("kid", lambda: kid(real, other, kid_subsets, kid_subset_size)),
                        ("pr", lambda: prdc(real, other, K_PR)), ("dc", lambda: prdc(real, other, K_DC))):
            try:
                v = f()
            except UserError:
                v = float("nan") if name in ("frechet", "kid") else {}
            if name == "pr":
                out.update({f"precision{tag}": v.get("precision", float("nan")),
                            f"recall{tag}": v.get("recall", float("nan"))})
            elif name == "dc":
                out.update({f"density{tag}": v.get("density", float("nan")),
                            f"coverage{tag}": v.get("coverage", float("nan"))})
            else:
                out[f"{name}{tag}"] = float(v)
    return out
