"""The Frechet distance of training's quality figures against hand values and an independent formula."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viz.training.quality import frechet_distance


def _sym_sqrt(a: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root by eigendecomposition (not scipy's sqrtm)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _frechet_by_eigh(f1: np.ndarray, f2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), the symmetric form (Dowson & Landau 1982)."""
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = _sym_sqrt(s1)
    return float(((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * _sym_sqrt(r1 @ s2 @ r1)))


def test_frechet_distance_hand_value():
    """Axis-aligned corners: S1 = diag(4/3, 16/3) (ddof 1); f2 = 3 f1 + (10, 0): S2 = 9 S1, means (1, 2) and
    (13, 6). FD = 12^2 + 4^2 + sum (sqrt(a) - 3 sqrt(a))^2 = 160 + 4 (4/3 + 16/3) = 560 / 3."""
    f1 = np.array([[0, 0], [2, 0], [0, 4], [2, 4]], float)
    f2 = 3 * f1 + np.array([10, 0])
    assert frechet_distance(f1, f2) == pytest.approx(560 / 3, rel=1e-9)
    assert frechet_distance(f1, f1) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_one_feature():
    """One feature: (mu1 - mu2)^2 + (sd1 - sd2)^2; [0, 2] vs [5, 9]: 36 + (sqrt 2 - sqrt 8)^2 = 38."""
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([[5.0], [9.0]])) == pytest.approx(38.0)


def test_frechet_distance_equals_the_symmetric_form_on_correlated_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))  # correlated, non-commuting covariances
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    fd = frechet_distance(a, b)
    assert fd == pytest.approx(_frechet_by_eigh(a, b), rel=1e-6)
    assert fd == pytest.approx(frechet_distance(b, a), rel=1e-6) and fd > 1


# --- the real-vs-real floor at the model's N (issue 26) ------------------------------------------

def test_reference_split_is_disjoint_and_the_control_has_the_samples_size():
    from gan_viz.training.quality import N_REAL, N_SAMPLES, reference_split

    ref, control = reference_split(5000)
    assert (len(ref), len(control)) == (N_REAL, N_SAMPLES) and ref.stop == control.start
    ref, control = reference_split(30)  # a small folder: a third is the control
    assert (len(ref), len(control)) == (20, 10) and not set(ref) & set(control)
    assert reference_split(2) == (range(1), range(1, 2)) and reference_split(1) == (range(1), range(1, 1))


def test_epoch_quality_floor_compares_a_disjoint_set_of_equal_size_with_the_same_reference(tmp_path, monkeypatch):
    """The floor row is the control set (N_SAMPLES held-out rooms, disjoint from the reference) against the
    reference, as the samples are: nn distance and the parser's Frechet distance (was: half vs half)."""
    from types import SimpleNamespace

    import torch

    from gan_viz import metrics
    from gan_viz.config import ModelConfig
    from gan_viz.models import build_generator
    from gan_viz.training import quality as Q

    monkeypatch.setattr(Q, "N_REAL", 210)
    monkeypatch.setattr(Q, "N_SAMPLES", 205)  # above the parser's 202 dimensions, small enough to be quick
    monkeypatch.setattr(Q, "_plot_fractions", lambda *a: None)
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    run = SimpleNamespace(info=SimpleNamespace(is_main=True), mcfg=cfg, out=tmp_path, step=3, device="cpu",
                          tcfg=SimpleNamespace(dataset="rooms", data_root=None, seed=0),
                          nets=SimpleNamespace(G=build_generator(cfg)))
    run.sampling_G = lambda: run.nets.G  # a run without --g-ema samples from G itself
    row = Q.epoch_quality(run, 1)
    ref = run._quality_ref
    assert len(ref.control) == Q.N_SAMPLES and len(ref.images) == Q.N_REAL
    assert not torch.equal(ref.control[0], ref.images[0])
    want = float(Q.nn_distance(ref.control, ref.images).mean())
    assert row["nn_dist_heldout_to_heldout"] == pytest.approx(want, rel=1e-9)
    floor = metrics.frechet_distance(ref.features, ref.control_features)
    assert row["frechet_parser_real_vs_real"] == pytest.approx(floor, rel=1e-9)
    assert 0 < row["frechet_parser_real_vs_real"] < row["frechet_parser"]
    # KID, precision and recall logged beside their equal-N floors: an untrained G is far from real on each
    assert row["kid_parser"] > row["kid_parser_real_vs_real"] + 0.05
    assert row["precision_parser"] < row["precision_parser_real_vs_real"] - 0.3
    assert row["recall_parser"] < row["recall_parser_real_vs_real"] - 0.3


@pytest.mark.parametrize("images", [1, 2])
def test_epoch_quality_on_a_folder_of_one_or_two_images(tmp_path, images):
    """Two images: one reference, one control; one image: no control, the floor is NaN (no crash)."""
    import math
    from types import SimpleNamespace

    import torch

    from gan_viz.config import ModelConfig
    from gan_viz.io import save_png
    from gan_viz.models import build_generator
    from gan_viz.training import quality as Q

    root = tmp_path / "imgs"
    for i in range(images):
        save_png(root / f"{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    cfg = ModelConfig(image_size=16, nc=3, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    run = SimpleNamespace(info=SimpleNamespace(is_main=True), mcfg=cfg, out=tmp_path / "run", step=1, device="cpu",
                          tcfg=SimpleNamespace(dataset="folder", data_root=str(root), seed=0),
                          nets=SimpleNamespace(G=build_generator(cfg)))
    run.sampling_G = lambda: run.nets.G  # a run without --g-ema samples from G itself
    row = Q.epoch_quality(run, 1)
    assert math.isnan(row["nn_dist_heldout_to_heldout"]) == (images == 1)
    assert np.isfinite(row["nn_dist_fake_to_heldout"])
