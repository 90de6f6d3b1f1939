"""Mode coverage: planted collapse with a hand-built classifier, a real classifier on digits, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import modes as M
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator


class _PixelOracle(nn.Module):
    """Reads the class from pixel (0, 0): value (k / 10) * 2 - 1 -> confident logits for class k."""

    def forward(self, x):
        k = torch.round((x[:, 0, 0, 0] + 1) / 2 * 10).long().clamp(0, 9)
        return torch.nn.functional.one_hot(k, 10).float() * 20


def _images(classes) -> torch.Tensor:
    x = torch.zeros(len(classes), 1, 8, 8)
    x[:, 0, 0, 0] = torch.as_tensor(classes, dtype=torch.float) / 10 * 2 - 1
    return x


def test_planted_collapse_to_three_digits_is_flagged():
    real_labels = np.repeat(np.arange(10), 50)
    collapsed = _images(np.resize([3, 5, 8], 600))
    r = M.compute_modes(_PixelOracle(), collapsed, _images(real_labels), real_labels)
    s = M.summary_of(r)
    assert r.collapsed and s["modes_covered"] == 3
    assert s["missing_modes"] == ["0", "1", "2", "4", "6", "7", "9"]
    assert sorted(s["dominant_classes"]) == ["3", "5", "8"] and s["dominant_share"] == pytest.approx(1.0)
    assert r.test_accuracy == 1.0 and r.kl_real_gen > 1.0
    assert r.classifier_score == pytest.approx(3.0, rel=1e-3)  # confident, three classes


def test_balanced_samples_cover_everything():
    real_labels = np.repeat(np.arange(10), 50)
    r = M.compute_modes(_PixelOracle(), _images(np.arange(1000) % 10), _images(real_labels), real_labels)
    assert not r.collapsed and r.covered.all()
    assert r.kl_real_gen == pytest.approx(0.0, abs=1e-6) and r.kl_gen_real == pytest.approx(0.0, abs=1e-6)
    assert r.classifier_score == pytest.approx(10.0, rel=1e-3) and r.confidence > 0.99
    # a class at 10% of its real share is not covered at the default 0.2 rule
    few = np.concatenate([np.arange(900) % 9, np.full(10, 9)])
    r2 = M.compute_modes(_PixelOracle(), _images(few), _images(real_labels), real_labels)
    assert not r2.covered[9] and r2.covered[:9].all() and r2.collapsed


def test_small_cnn_learns_digits():
    from gan_viz.data.labelled import load_split

    train = load_split("digits", 16, 1, "train", n=800, seed=0)
    test = load_split("digits", 16, 1, "test", n=200, seed=0)
    clf = M.train_classifier(train.images, train.labels, 10, epochs=3, seed=0)
    acc = (M.predict_proba(clf, test.images).argmax(1) == test.labels).mean()
    assert acc > 0.8 and not clf.training


@pytest.fixture
def digits_ckpt(tmp_path):
    cfg = ModelConfig(image_size=16, nc=1, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", cfg, build_generator(cfg), build_discriminator(cfg),
                           train_config={"dataset": "digits"})


def test_cli_end_to_end(cli, digits_ckpt, tmp_path):
    args = ["modes", "--ckpt", digits_ckpt, "--n", "64", "--n-train", "400", "--n-test", "100", "--epochs", "1"]
    code, out, err = cli(*args, "--out", tmp_path / "a")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["n_classes"] == 10 and s["n_generated"] == 64 and isinstance(s["collapsed"], bool)
    assert 0 <= s["modes_covered"] <= 10 and sum(s["generated_share"].values()) == pytest.approx(1.0)
    for f in ("modes.png", "modes.pdf", "samples_by_class.png", "arrays.npz"):
        assert (tmp_path / "a" / f).exists()
    a = np.load(tmp_path / "a" / "arrays.npz")
    assert a["z"].shape == (64, 8) and a["probs"].shape == (64, 10)
    assert cli(*args, "--out", tmp_path / "b")[0] == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["generated_share"] == s["generated_share"]


def test_cli_classifier_size_trains_on_averaged_images(cli, digits_ckpt, tmp_path, monkeypatch):
    """--classifier-size 8 on a 16x16 model: the classifier sees 8x8 images (train, samples, held-out)."""
    from gan_viz.analyses.modes import classifier, run as modes_run

    seen = []
    train = classifier.train_classifier

    def spy(images, *a, **k):
        seen.append(tuple(images.shape[-2:]))
        return train(images, *a, **k)

    monkeypatch.setattr(modes_run, "train_classifier", spy)
    shapes = []
    predict = modes_run.compute_modes

    def spy_compute(clf, generated, real, *a, **k):
        shapes.extend([tuple(generated.shape[-2:]), tuple(real.shape[-2:])])
        return predict(clf, generated, real, *a, **k)

    monkeypatch.setattr(modes_run, "compute_modes", spy_compute)
    args = ["modes", "--ckpt", digits_ckpt, "--n", "32", "--n-train", "200", "--n-test", "50", "--epochs", "1"]
    code, _, err = cli(*args, "--classifier-size", "8", "--out", tmp_path / "a")
    assert code == 0, err
    assert seen == [(8, 8)] and shapes == [(8, 8), (8, 8)]
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["classifier_size"] == 8 and "averaged down to 8x8" in s["classifier"]
    assert np.load(tmp_path / "a" / "arrays.npz")["images"].shape[-1] == 16  # the samples themselves stay
    seen.clear()
    code, _, err = cli(*args, "--classifier-size", "16", "--out", tmp_path / "b")  # the model's own size: unchanged
    assert code == 0 and seen == [(16, 16)]
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["classifier_size"] is None


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "fake"], "has no labels"),
    (["--min-share", "0"], "min-share"),
    (["--attribute", "n_windows"], "rooms only"),
    (["--n", "0"], "--n must"),
    (["--classifier-size", "4"], "at least 8 pixels"),
])
def test_cli_bad_input(cli, digits_ckpt, tmp_path, extra, message):
    out = tmp_path / "never"
    code, _, err = cli("modes", "--ckpt", digits_ckpt, *extra, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_confusion_correction_recovers_the_true_shares():
    rng = np.random.default_rng(0)
    C = np.eye(4) * 0.7 + 0.1  # 70% + 10% right, 10% to each other class
    C /= C.sum(1, keepdims=True)
    q = np.array([0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(M.correct_shares(C.T @ q, C), q, atol=1e-9)
    p = rng.dirichlet(np.ones(4))
    got = M.correct_shares(C.T @ p, C)
    np.testing.assert_allclose(got, p, atol=1e-9)
    assert (got >= 0).all() and got.sum() == pytest.approx(1.0)
    true = np.repeat(np.arange(3), 4)
    np.testing.assert_allclose(M.confusion_matrix(true, np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 0]), 4),
                               [[0.75, 0.25, 0, 0], [0, 1, 0, 0], [0.25, 0, 0.75, 0], [0, 0, 0, 1]])


def test_summary_states_corrected_and_uncorrected_coverage():
    real_labels = np.repeat(np.arange(10), 50)
    r = M.compute_modes(_PixelOracle(), _images(np.resize([3, 5, 8], 600)), _images(real_labels), real_labels)
    s = M.summary_of(r)
    assert s["modes_covered"] == s["modes_covered_uncorrected"] == 3 and s["coverage_warning"] == []
    assert s["generated_share_corrected"]["3"] == pytest.approx(1 / 3, abs=1e-6)
    assert s["confusion_condition_number"] == pytest.approx(1.0)
