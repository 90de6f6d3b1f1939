"""gan_viz.metrics: Frechet distance, KID, precision/recall/density/coverage against hand values and prdc."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viz import metrics as M
from gan_viz.errors import UserError


def test_frechet_hand_values():
    """4 corners, f2 = 3 f1 + (10, 0): 560/3 (see test_quality); one feature [0, 2] vs [5, 9]:
    36 + (sqrt 2 - sqrt 8)^2 = 38."""
    f1 = np.array([[0, 0], [2, 0], [0, 4], [2, 4]], float)
    assert M.frechet_distance(f1, 3 * f1 + np.array([10, 0])) == pytest.approx(560 / 3, rel=1e-9)
    assert M.frechet_distance(f1, f1) == pytest.approx(0, abs=1e-9)
    assert M.frechet_distance(np.array([[0.0], [2.0]]), np.array([[5.0], [9.0]])) == pytest.approx(38.0)


def test_frechet_symmetric_form_equals_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    fd = M.frechet_distance(a, b)
    moments = M.frechet_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fd > 1 and moments == pytest.approx(fd, rel=1e-8)


def test_frechet_from_moments_on_a_singular_covariance_equals_sqrtm():
    """S1 singular (a constant feature, as an absent class fraction): the eigh fallback; both forms
    agree with scipy's sqrtm path, and the Cholesky form with the eigh form where S1 is regular."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    a[:, 2] = 0.3  # constant: S1 singular
    b = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    fd = M.frechet_distance(a, b)
    moments = M.frechet_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert moments == pytest.approx(fd, rel=1e-8)
    s1, s2 = np.cov(b, rowvar=False), np.cov(a, rowvar=False)  # regular S1 now: the Cholesky form
    r1 = M._psd_sqrt(s1)
    by_eigh = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    by_form = (np.trace(s1) + np.trace(s2) - M.frechet_from_moments(np.zeros(5), s1, np.zeros(5), s2)) / 2
    assert by_form == pytest.approx(by_eigh, rel=1e-9)


def test_frechet_refuses_too_few_images_for_the_dimension():
    rng = np.random.default_rng(0)
    with pytest.raises(UserError, match="needs more images than its 8 dimensions, and has 8"):
        M.frechet_distance(rng.normal(size=(8, 8)), rng.normal(size=(50, 8)), "D features")
    with pytest.raises(UserError, match="non-finite"):
        M.frechet_distance(np.full((10, 2), np.nan), rng.normal(size=(10, 2)))


def test_frechet_checks_the_imaginary_part_and_finiteness(monkeypatch):
    from scipy import linalg

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    real_sqrtm = linalg.sqrtm
    monkeypatch.setattr(linalg, "sqrtm", lambda m: real_sqrtm(m) + 0.5j * np.eye(len(m)))
    with pytest.raises(UserError, match="imaginary part 0.5"):
        M.frechet_distance(a, b)
    calls = []

    def nan_first(m):
        calls.append(m)
        return np.full_like(m, np.nan) if len(calls) == 1 else real_sqrtm(m)

    monkeypatch.setattr(linalg, "sqrtm", nan_first)
    info: dict = {}
    fd = M.frechet_distance(a, b, info=info)
    assert info["offset"] == M.FD_OFFSET and np.isfinite(fd) and len(calls) == 2
    monkeypatch.setattr(linalg, "sqrtm", lambda m: np.full_like(m, np.inf))
    with pytest.raises(UserError, match="not finite"):
        M.frechet_distance(a, b)


def test_kid_hand_value():
    """x = [0, 1], y = [0, 2], F = 1: k = (xy + 1)^3. Within x: k(0, 1) = 1; within y: k(0, 2) = 1;
    across: k(0,0) k(0,2) k(1,0) k(1,2) = 1, 1, 1, 27 (mean 7.5). MMD^2 = 1 + 1 - 2 * 7.5 = -13."""
    assert M.kid(np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])) == pytest.approx(-13.0)


def test_kid_subsets_and_resampled_form():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 0.3
    kxx, kyy, kxy = M.polynomial_kernel(x, x), M.polynomial_kernel(y, y), M.polynomial_kernel(x, y)
    full = M.mmd2_unbiased(kxx, kyy, kxy)
    assert M.kid(x, y) == pytest.approx(full)  # both sets within one subset: all images
    ar = np.arange(60)
    assert M._mmd2_resampled(kxx, kyy, kxy, ar, ar) == pytest.approx(full)
    # a resample with repeats: copies of one image are one image (here 0 and 0 -> pairs left out)
    ix = np.array([0, 0, 1, 2])
    want = (2 * kxx[0, 1] * 2 + 2 * kxx[0, 2] * 2 + 2 * kxx[1, 2]) / 10  # 10 ordered pairs of distinct images
    assert M._mmd2_resampled(kxx, kyy, kxy, ix, ar) == pytest.approx(
        want + (kyy.sum() - np.trace(kyy)) / (60 * 59) - 2 * kxy[np.ix_(ix, ar)].mean())
    sub = M.kid(x, y, subsets=20, subset_size=30, seed=3)
    assert sub == M.kid(x, y, subsets=20, subset_size=30, seed=3) and abs(sub - full) < 0.2
    assert M.polynomial_kernel(x[:1], y[:1])[0, 0] == pytest.approx((x[0] @ y[0] / 4 + 1) ** 3)


def test_per_image_indicators_equal_prdc():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(300, 5))
    fake = np.concatenate([rng.normal(size=(200, 5)), rng.normal(size=(100, 5)) * 0.2 + 3])
    for k in (3, 5):
        got, per = M.prdc(real, fake, k), M.prdc_per_image(real, fake, k)
        for name in ("precision", "recall", "density", "coverage"):
            assert float(per[name].mean()) == pytest.approx(got[name], abs=1e-12), (k, name)
    assert len(per["precision"]) == 300 and len(per["coverage"]) == 300


def test_prdc_hand_case():
    """Real 0, 1, 2, 3 on a line, k = 1 (balls: 1, 1, 1, 1); generated 0.5, 10: 0.5 lies in the balls of 0
    and 1 (precision 1/2, density (2/1)/2 = 1); coverage: 0, 1 have 0.5 within 1 (1/2); recall: generated
    balls 9.5 (0.5's nearest other is 10) and 9.5: every real point is inside one (1)."""
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    per = M.prdc_per_image(real, fake, 1)
    assert per["precision"].tolist() == [True, False] and per["density"].tolist() == [2.0, 0.0]
    assert per["coverage"].tolist() == [True, True, False, False] and per["recall"].all()


def test_compare_intervals_and_determinism():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(120, 4)), rng.normal(size=(120, 4)) + 0.5
    out = M.compare(a, b, bootstraps=30, seed=5)
    assert set(M.METRICS) <= set(out)
    for name in M.METRICS:
        e = out[name]
        assert e["low"] <= e["value"] <= e["high"], (name, e)
    assert out == M.compare(a, b, bootstraps=30, seed=5)
    assert M.compare(a, b, bootstraps=0, metrics=("kid",))["kid"]["low"] is None


def test_intervals_stay_within_each_metrics_range():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(80, 3))
    for b in (a + rng.normal(size=a.shape) * 1e-3, rng.normal(size=(80, 3)) * 3):  # near-identical, far apart
        out = M.compare(a, b, bootstraps=40, seed=1)
        assert out["frechet"]["low"] >= 0
        for m in ("precision", "recall", "coverage"):
            assert 0 <= out[m]["low"] <= out[m]["high"] <= 1, (m, out[m])
        assert out["density"]["low"] >= 0
