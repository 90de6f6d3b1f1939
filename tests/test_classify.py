"""D features as a classifier: draws, pooling, the SVM protocol on planted features, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_viz.analyses import classify as K
from gan_viz.analyses.classify import compute as classify_compute
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.data.labelled import labelled_pair, load_split, real_pair
from gan_viz.errors import UserError
from gan_viz.features import d_features, feature_layers
from gan_viz.hooks import count_hooks
from gan_viz.models import build_discriminator, build_generator


@pytest.fixture
def digits_ckpt(tmp_path):
    """A tiny untrained 16x16 grayscale DCGAN that records digits as its dataset."""
    cfg = ModelConfig(image_size=16, nc=1, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", cfg, build_generator(cfg), build_discriminator(cfg),
                           train_config={"dataset": "digits"})


def test_balanced_draws_and_validation_are_disjoint():
    labels = np.repeat(np.arange(4), 30)
    p = K.split_protocol(labels, n_val=20, n_labels=10, draws=3, seed=0)
    assert p.draws.shape == (3, 10) and p.balanced
    for d in p.draws:
        counts = np.bincount(labels[d], minlength=4)
        assert counts.max() - counts.min() <= 1 and counts.sum() == 10
        assert not set(d) & set(p.val) and len(set(d)) == 10
    assert not np.array_equal(p.draws[0], p.draws[1])
    full = K.split_protocol(labels, n_val=20, n_labels=None, draws=5, seed=0)
    assert full.draws.shape == (1, 100) and not full.balanced


def test_labels_beyond_what_exists_or_below_one_per_class():
    labels = np.repeat(np.arange(4), 10)
    with pytest.raises(UserError, match="per class"):
        K.split_protocol(labels, n_val=8, n_labels=400, draws=2, seed=0)
    with pytest.raises(UserError, match="fewer than one per class"):
        K.split_protocol(labels, n_val=8, n_labels=3, draws=2, seed=0)


def test_d_features_are_max_pooled_and_leave_no_hooks(tiny_cfg):
    D = build_discriminator(tiny_cfg)
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    layers = feature_layers(D)
    assert layers == ["lrelu1", "lrelu2"]
    f = d_features(D, x, layers, batch_size=2)
    assert f.shape == (5, 8 * 16 + 16 * 16)  # lrelu1 (8, 8, 8) pooled to 4x4; lrelu2 (16, 4, 4) kept
    D.eval()
    with torch.no_grad():
        h1 = D.lrelu1(D.conv1(x))
    np.testing.assert_allclose(f[:, :128], F.max_pool2d(h1, 2).flatten(1).numpy(), rtol=1e-5, atol=1e-6)
    assert count_hooks(D) == 0 and D.training is False
    with pytest.raises(UserError, match="unknown layer"):
        d_features(D, x, ["nope"])
    assert count_hooks(D) == 0


def test_svm_separates_planted_features_and_not_noise():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 60)
    yt = np.repeat(np.arange(3), 30)
    centres = rng.normal(size=(3, 20)) * 3
    good, good_t = centres[y] + rng.normal(size=(180, 20)), centres[yt] + rng.normal(size=(90, 20))
    noise, noise_t = rng.normal(size=(180, 20)), rng.normal(size=(90, 20))
    p = K.split_protocol(y, n_val=30, n_labels=15, draws=4, seed=1)
    r = K.compute_classify({"good": good, "noise": noise}, y, p, {"good": good_t, "noise": noise_t}, yt,
                           C_grid=(0.01, 1.0))
    assert r.accuracy.shape == (2, 4)
    assert r.mean[0] > 0.9 and r.mean[1] < 0.6
    assert r.chance == pytest.approx(1 / 3)
    _check_against_sklearn(r, good, y, p, good_t, yt, s=0, C_grid=(0.01, 1.0))
    s = K.summary_of(r)
    assert s["feature_sets"]["good"]["dims"] == 20 and s["labels_per_draw"] == 15
    assert s["feature_sets"]["good"]["balanced_accuracy_mean"] > 0.9
    assert s["chance_balanced_accuracy"] == pytest.approx(1 / 3)


def _check_against_sklearn(r, X, y, p, Xt, yt, s, C_grid):
    """Every draw of set ``s`` recomputed apart: a scaler + LinearSVC pipeline per C, the C with the best
    validation accuracy (first on ties), then its test accuracy and sklearn's balanced accuracy."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    for d, draw in enumerate(p.draws):
        fits = [make_pipeline(StandardScaler(), LinearSVC(C=C, dual=True, max_iter=2000, random_state=0))
                .fit(X[draw], y[draw]) for C in C_grid]
        val = [f.score(X[p.val], y[p.val]) for f in fits]
        best = int(np.argmax(val))
        assert r.chosen_C[s, d] == C_grid[best] and r.val_accuracy[s, d] == pytest.approx(val[best])
        assert r.accuracy[s, d] == pytest.approx(fits[best].score(Xt, yt))
        assert r.balanced_accuracy[s, d] == pytest.approx(balanced_accuracy_score(yt, fits[best].predict(Xt)))


def test_ci95_and_summary_against_hand_values():
    """1.96 times the (population) std over the draws, from hand-computed numbers."""
    acc = np.array([[0.5, 0.7, 0.6, 0.8], [0.25, 0.25, 0.25, 0.25]])
    r = K.ClassifyResult(("a", "b"), (3, 4), acc, acc[::-1].copy(), acc, np.ones_like(acc), None, (1.0,),
                         np.array([6, 2, 2]), 0)
    # a: mean 0.65, deviations +-0.15, +-0.05: variance (2 * 0.0225 + 2 * 0.0025) / 4 = 0.0125
    assert r.mean.tolist() == pytest.approx([0.65, 0.25])
    assert r.ci95.tolist() == pytest.approx([0.219135, 0.0], abs=1e-6)  # 1.96 * sqrt(0.0125)
    assert r.balanced_ci95.tolist() == pytest.approx([0.0, 0.219135], abs=1e-6)
    assert r.chance == pytest.approx(0.6) and r.balanced_chance == pytest.approx(1 / 3)


def test_balanced_accuracy_of_a_constant_answer_is_one_over_classes():
    y = np.array([0] * 90 + [1] * 10)
    assert K.balanced_accuracy(np.zeros(100, int), y) == pytest.approx(0.5)
    assert K.balanced_accuracy(y.copy(), y) == 1.0


def test_rooms_attribute_labels_match_the_scene():
    from gan_viz.data.rooms import RoomsDataset

    d = load_split("rooms", 32, 3, "train", n=12, seed=3, attribute="time_of_day")
    ds = RoomsDataset(32, "train", seed=0)
    names = [ds.sample(int(i)).attrs["time_of_day"] for i in d.indices]
    assert [d.classes[k] for k in d.labels] == names
    assert d.images.shape == (12, 3, 32, 32)
    torch.testing.assert_close(d.images, ds.get_batch(d.indices))
    with pytest.raises(UserError, match="rooms only"):
        load_split("digits", 16, 1, "train", n=5, attribute="lamp_on")


def test_cli_end_to_end_and_reproducible(cli, digits_ckpt, tmp_path):
    args = ["classify", "--ckpt", digits_ckpt, "--n-train", "300", "--n-test", "150", "--labels", "30",
            "--draws", "2", "--C-grid", "0.01,1"]
    code, out, err = cli(*args, "--out", tmp_path / "a")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(s["feature_sets"]) == {"trained_D", "random_D", "pixels"}
    assert s["dataset"] == "digits" and s["draws"] == 2 and s["labels_per_draw"] == 30
    assert s["feature_sets"]["pixels"]["dims"] == 256
    assert s["feature_sets"]["pixels"]["accuracy_mean"] > 0.5  # digits are easy even from pixels
    for f in ("classify.png", "classify.pdf", "arrays.npz", "run.json"):
        assert (tmp_path / "a" / f).exists()
    a = np.load(tmp_path / "a" / "arrays.npz")
    assert a["accuracy"].shape == (3, 2) and a["draw_positions"].shape == (2, 30)
    assert cli(*args, "--out", tmp_path / "b")[0] == 0
    s2 = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert s2["feature_sets"] == s["feature_sets"]


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "fake"], "has no labels"),
    (["--labels", "5000", "--n-train", "300"], "per class"),
    (["--labels", "3"], "fewer than one per class"),
    (["--attribute", "lamp_on"], "rooms only"),
    (["--C-grid", "a,b"], "C-grid"),
    (["--layers", "lrelu9"], "unknown layer"),
])
def test_cli_bad_input(cli, digits_ckpt, tmp_path, extra, message):
    out = tmp_path / "never"
    code, _, err = cli("classify", "--ckpt", digits_ckpt, "--n-test", "50", *extra, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_fit_svm_in_worker_processes_equals_in_process(monkeypatch):
    g = np.random.default_rng(0)
    X, Xv = g.normal(size=(120, 30)), g.normal(size=(40, 30))
    y, yv = (X[:, 0] + 0.5 * g.normal(size=120) > 0).astype(int), (Xv[:, 0] > 0).astype(int)
    Cs = (1e-3, 1e-1, 10.0)
    calls = []
    here = K.fit_svm(X, y, Xv, yv, Cs, done=lambda: calls.append(1))
    monkeypatch.setattr(classify_compute, "PARALLEL_MIN_SIZE", 0)  # force the worker processes
    there = K.fit_svm(X, y, Xv, yv, Cs, done=lambda: calls.append(1))
    assert len(calls) == 2 * len(Cs)
    assert here[1:] == there[1:] and here[2] > 0.7
    assert np.array_equal(here[0](Xv), there[0](Xv))


def _user_models():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import user_models

    return user_models


def test_feature_layers_of_any_discriminator():
    um = _user_models()
    assert feature_layers(um.PTDiscriminator()) == ["main.1", "main.4", "main.7"]
    assert feature_layers(um.Critic()) == ["features.1", "features.4", "features.7"]
    assert feature_layers(um.FunctionalCritic()) == ["c1", "c2", "c3"]  # no rectifier modules: the convs


class _ReusedAct(torch.nn.Module):
    """One LeakyReLU module called after both convolutions."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(1, 2, 4, 2, 1), torch.nn.Conv2d(2, 3, 4, 2, 1)
        self.act = torch.nn.LeakyReLU(0.2)
        self.head = torch.nn.Linear(3 * 4 * 4, 1)

    def forward(self, x):
        return self.head(self.act(self.c2(self.act(self.c1(x)))).flatten(1))


def test_d_features_keep_every_call_of_a_reused_module():
    D = _ReusedAct().eval()
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    f = d_features(D, x, ["act"], batch_size=2)
    with torch.no_grad():
        h1 = D.act(D.c1(x))
        h2 = D.act(D.c2(h1))
    want = torch.cat([F.adaptive_max_pool2d(h1, 4).flatten(1), h2.flatten(1)], 1).numpy()
    np.testing.assert_allclose(f, want, rtol=1e-5, atol=1e-6)
    assert count_hooks(D) == 0


def test_runner_on_a_pytorch_examples_discriminator(tmp_path):
    """Table 1 through the registry on the user's own D modules (dotted layer names)."""
    from gan_viz.analyses import registry
    from gan_viz.subject import Subject

    um = _user_models()
    S = Subject.from_modules(None, um.seeded(um.PTDiscriminator(ndf=4, nc=1)), domain="digits")
    assert S.image_shape == (1, 32, 32)
    ctx = registry.Context(S, tmp_path / "c")
    s = registry.run("classify", ctx, n_train=200, n_test=100, labels=30, draws=1, C_grid="0.01")
    assert s["layers"] == ["main.1", "main.4", "main.7"] and s["dataset"] == "digits"
    assert set(s["feature_sets"]) == {"trained_D", "random_D", "pixels"}
    assert s["feature_sets"]["trained_D"]["dims"] == 16 * (4 + 8 + 16)
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["layers"] == s["layers"]
    assert (tmp_path / "c" / "classify.pdf").exists() and (tmp_path / "c" / "arrays.npz").exists()


def test_a_folder_holds_out_images_disjoint_from_training(tmp_path):
    from gan_viz.io import save_png
    from gan_viz.subject import Subject

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(10):
            save_png(tmp_path / c / f"{i}.png", np.full((16, 16, 3), 10 * i + (100 if c == "b" else 0), np.uint8))
    S = Subject.from_modules(None, _user_models().Critic(nc=3), image_shape=(3, 16, 16))
    train, held = real_pair(S, "folder", str(tmp_path), 1000, 6, seed=0)
    assert len(held.indices) == 4 and len(train.indices) == 16  # a fifth held out where both do not fit
    assert not set(train.indices) & set(held.indices)
    name, tr, te, k = labelled_pair(S, "folder", str(tmp_path), 12, 5, seed=1)
    assert k == 2 and tr.classes == ("a", "b") and not set(tr.indices) & set(te.indices)
    assert len(tr.indices) == 12 and len(te.indices) == 5


def test_svm_in_the_rows_span_is_the_full_svm():
    """n < F: fitting the rows' coordinates in their span gives the full-width LinearSVC's steps and decisions."""
    import warnings

    from sklearn.svm import LinearSVC

    g = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 20)
    X = 0.3 * g.normal(size=(3, 500))[y] + g.normal(size=(60, 500))
    Xt = 0.3 * g.normal(size=(3, 500))[np.repeat(np.arange(3), 30)] + g.normal(size=(90, 500))
    V = classify_compute.row_space(X)
    assert V.shape == (500, 60) and np.allclose(V.T @ V, np.eye(60), atol=1e-10)
    assert classify_compute.row_space(X[:, :40]) is None  # n >= F: nothing to gain
    for C in (1e-3, 1e-1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = LinearSVC(C=C, dual=True, max_iter=2000, random_state=0).fit(X, y)
            span = LinearSVC(C=C, dual=True, max_iter=2000, random_state=0).fit(X @ V, y)
        assert np.array_equal(full.n_iter_, span.n_iter_)
        np.testing.assert_allclose(span.decision_function(Xt @ V), full.decision_function(Xt), atol=1e-6)
        assert np.array_equal(span.predict(Xt @ V), full.predict(Xt))
