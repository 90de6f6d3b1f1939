"""Calibration of gan-viz evaluate's metrics on synthetic feature sets (a Gaussian mixture of 10 modes).

Real A and real B: two independent draws of the mixture (the null: real vs real at the same N).
Planted cases against real A, each at the same N:

- identical sets (A vs A): Frechet distance ~0, precision, recall, density, coverage ~1;
- mode drop (the generated set draws from 5 of the 10 modes): recall and coverage fall, precision holds;
- noise (every generated point moved by N(0, SIGMA^2) noise, off the modes): precision and density fall;
- shifted statistics (every generated point shifted by SIGMA per dimension): Frechet distance and KID rise.

Through the command, on images in the rooms parser's features (N=250): a "generator" that returns real
training rooms scores as real (within 0.1 of the real-vs-real control), and the same rooms under a 5x5 box
blur lose precision and density (intervals apart from the control).

The metrics' values go into the calibration JSON (``GAN_VIZ_CALIBRATION=FILE``).
"""

from __future__ import annotations

import numpy as np
import pytest

from gan_viz.analyses.evaluate import compute_evaluate

N, F, MODES, SIGMA = 500, 8, 10, 1 / 6  # unit-variance mode centres, modes of std SIGMA
BOOT = 30


def mixture(n: int, rng: np.random.Generator, modes=range(MODES)) -> np.ndarray:
    centres = np.random.default_rng(123).normal(size=(MODES, F))  # the same centres for every set
    which = rng.choice(np.asarray(list(modes)), n)
    return centres[which] + rng.normal(size=(n, F)) * SIGMA


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return {"A": mixture(N, rng), "B": mixture(N, rng), "dropped": mixture(N, rng, range(5)),
            "noisy": mixture(N, rng) + rng.normal(size=(N, F)) * SIGMA,
            "shifted": mixture(N, rng) + SIGMA}


def _values(gen, a, b):
    r = compute_evaluate({"s": (gen, a, b)}, bootstraps=BOOT, seed=0, keep_features=False)
    return ({m: e["value"] for m, e in r.model["s"].items()}, {m: e["value"] for m, e in r.control["s"].items()},
            r.model["s"], r.control["s"])


@pytest.fixture(scope="module")
def null(sets):
    return _values(sets["B"], sets["A"], sets["B"])


def test_identical_sets(sets, calibration):
    model, _, _, _ = _values(sets["A"], sets["A"], sets["B"])
    assert abs(model["frechet"]) < 1e-6
    for m in ("precision", "recall", "density", "coverage"):
        assert model[m] == pytest.approx(1.0, abs=1e-9), m
    assert abs(model["kid"]) < 0.05  # the unbiased estimator on one set twice: -2 (diag - off-diag mean) / N
    calibration("evaluate_identical", "Frechet |FD| < 1e-6; precision, recall, density, coverage == 1",
                planted=model)


def test_null_real_vs_real(null, calibration):
    _, control, _, c = null
    assert control["frechet"] < 0.1 and abs(control["kid"]) < 0.05
    for m in ("precision", "recall", "coverage"):
        assert control[m] > 0.8, m
    assert 0.8 < control["density"] < 1.2
    for m in c:
        assert c[m]["low"] <= c[m]["value"] <= c[m]["high"]
    calibration("evaluate_null", "real vs real at equal N: FD < 0.1, |KID| < 0.05, P/R/C > 0.8, D in (0.8, 1.2)",
                null=control)


def test_mode_drop(sets, null, calibration):
    model, _, e, _ = _values(sets["dropped"], sets["A"], sets["B"])
    control = null[1]
    assert model["recall"] < control["recall"] - 0.3 and model["coverage"] < control["coverage"] - 0.3
    assert model["precision"] > control["precision"] - 0.05
    assert e["recall"]["high"] < null[3]["recall"]["low"] and e["coverage"]["high"] < null[3]["coverage"]["low"]
    calibration("evaluate_mode_drop", "5 of 10 modes: recall and coverage < real-vs-real - 0.3 (intervals apart); "
                "precision > real-vs-real - 0.05", planted={k: model[k] for k in ("precision", "recall", "coverage")},
                null={k: control[k] for k in ("precision", "recall", "coverage")})


def test_noise(sets, null, calibration):
    model, _, e, _ = _values(sets["noisy"], sets["A"], sets["B"])
    control = null[1]
    assert model["precision"] < control["precision"] - 0.2 and model["density"] < control["density"] - 0.3
    assert e["precision"]["high"] < null[3]["precision"]["low"] and e["density"]["high"] < null[3]["density"]["low"]
    calibration("evaluate_noise", "N(0, SIGMA^2) noise on every point: precision < real-vs-real - 0.2, density < "
                "real-vs-real - 0.3 (intervals apart)", planted={k: model[k] for k in ("precision", "density")},
                null={k: control[k] for k in ("precision", "density")})


def test_shifted_statistics(sets, null, calibration):
    model, _, e, _ = _values(sets["shifted"], sets["A"], sets["B"])
    control = null[1]
    assert model["frechet"] > control["frechet"] + 0.1 and model["kid"] > control["kid"] + 0.05
    assert e["frechet"]["low"] > null[3]["frechet"]["high"] and e["kid"]["low"] > null[3]["kid"]["high"]
    calibration("evaluate_shift", "+SIGMA per dimension (|shift|^2 = 8 SIGMA^2 = 0.22): FD > real-vs-real + 0.1, "
                "KID > real-vs-real + 0.05 (intervals apart)", planted={k: model[k] for k in ("frechet", "kid")},
                null={k: control[k] for k in ("frechet", "kid")})


# --- through the command, on images: the rooms parser's features ------------------------------------

ROOMS_MODEL = '''
import torch
import torch.nn.functional as F
from gan_viz.data import build_dataset

ROOMS = build_dataset("rooms", 32, 3, "train", n=1000)


def _model(blur):
    state = {"next": 0}

    def generate(z):  # real training rooms in turn (a perfect generator), blurred where asked
        idx = [(state["next"] + i) % len(ROOMS) for i in range(len(z))]
        state["next"] += len(z)
        x = ROOMS.get_batch(idx)
        return F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, 1) if blur else x

    return {"generate": generate, "nz": 4, "dataset": "rooms"}


def copier():
    return _model(False)


def blurred():
    return _model(True)
'''


@pytest.fixture(scope="module")
def rooms_runs(tmp_path_factory):
    import json

    from gan_viz.cli import main

    tmp = tmp_path_factory.mktemp("rooms")
    md = tmp / "rooms_model.py"
    md.write_text(ROOMS_MODEL)
    out = {}
    for name in ("copier", "blurred"):
        code = main(["evaluate", "--model-def", f"{md}:{name}", "--n", "250", "--bootstraps", "20", "--device", "cpu",
                     "--out", str(tmp / name)])
        assert code == 0
        out[name] = json.loads((tmp / name / "summary.json").read_text())["evaluate"]["parser"]
    return out


def test_images_a_copier_of_real_rooms_scores_as_real(rooms_runs, calibration):
    """G = real training rooms: every metric's model value inside or near the real-vs-real control."""
    e = rooms_runs["copier"]
    for m in ("precision", "recall", "density", "coverage"):
        assert abs(e[m]["model"]["value"] - e[m]["control"]["value"]) < 0.1, (m, e[m])
    assert e["frechet"]["model"]["value"] < 2 * e["frechet"]["control"]["value"] + 0.05
    calibration("evaluate_parser_copier", "G = real rooms (parser features, N=250): |P/R/D/C - real-vs-real| < 0.1, "
                "FD < 2 x real-vs-real + 0.05", null={m: e[m]["model"]["value"] for m in e},
                control={m: e[m]["control"]["value"] for m in e})


def test_images_blurred_rooms_lose_precision_and_density(rooms_runs, calibration):
    e = rooms_runs["blurred"]
    for m in ("precision", "density"):
        assert e[m]["model"]["high"] < e[m]["control"]["low"], (m, e[m])
    assert e["frechet"]["model"]["low"] > e["frechet"]["control"]["high"]
    calibration("evaluate_parser_blur", "5x5 box blur of real rooms (parser features, N=250): precision, density "
                "and FD intervals apart from real-vs-real", planted={m: e[m]["model"]["value"] for m in e},
                control={m: e[m]["control"]["value"] for m in e})
