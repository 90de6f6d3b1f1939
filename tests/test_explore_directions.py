"""gan-viz explore --directions: the directions' list and the slider's endpoint on a tiny model (alpha 0
is the pinned samples, alpha moves them, the judge's class fractions), bad requests, the option's refusals."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from gan_viz.checkpoint import load_subject, save_checkpoint  # noqa: E402
from gan_viz.config import ModelConfig  # noqa: E402
from gan_viz.explore import Session, create_app  # noqa: E402
from gan_viz.explore.directions import load_directions  # noqa: E402
from gan_viz.instruments import Instrument  # noqa: E402
from gan_viz.latent_directions import default_walk_t  # noqa: E402
from gan_viz.models import build_discriminator, build_generator, init_weights  # noqa: E402

NZ = 8


class Red(Instrument):
    """A toy instrument: a pixel is "red" where the red channel is positive."""

    def __init__(self):
        super().__init__("red-test", ("rest", "red"), note="test instrument")

    def segment(self, images, batch_size=256):
        return (images[:, 0] > 0).long()


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    cfg = ModelConfig(image_size=16, nc=3, nz=NZ, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g = torch.Generator().manual_seed(0)
    init_weights(G, g), init_weights(D, g)
    with torch.no_grad():  # contrast: red and not red pixels
        for m in G.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                m.weight.normal_(0, 0.3, generator=g)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", cfg, G, D)


def _write_run(folder, nz=NZ, summary=True, **extra):
    """A directions run as ``gan-viz directions`` writes it: arrays.npz (+ summary.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, nz)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    keys = ["red/interfacegan", "red/exemplar", "sefa/0"]
    arrays = {k: x for k, x in zip(keys, v)}
    arrays.update({"random/0": v[0], "keys": np.array(keys), "alphas": np.linspace(-1.5, 1.5, 5), **extra})
    np.savez(folder / "arrays.npz", **arrays)
    if summary:
        rows = {"red/interfacegan": {"method": "interfacegan", "concept": "red", "slope": 0.12, "above_random": True},
                "red/exemplar": {"method": "exemplar", "concept": "red", "slope": 0.01, "above_random": False},
                "sefa/0": {"method": "sefa", "concept": "red", "slope": 0.05, "above_random": True}}
        (folder / "summary.json").write_text(json.dumps({"t": 1.5, "directions": rows}))
    return folder


@pytest.fixture
def client(tiny_ckpt, tmp_path):
    S = load_subject(tiny_ckpt)
    d = load_directions(_write_run(tmp_path / "run"), S.nz, S.z_dist, Red())
    s = Session(S, Red(), seed=0, n=8, pins=4, scan=32, directions=d)
    return TestClient(create_app(s))


def _png(url):
    import base64

    import cv2

    return cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR).astype(int)


def test_directions_are_listed_with_summary_figures(client):
    r = client.get("/api/directions").json()
    assert r["t"] == 1.5 and r["judge"]["name"] == "red-test" and r["absent"] is None
    rows = {d["key"]: d for d in r["directions"]}
    assert list(rows) == ["red/interfacegan", "red/exemplar", "sefa/0"]
    assert rows["red/exemplar"] == {"key": "red/exemplar", "concept": "red", "method": "exemplar", "slope": 0.01,
                                    "above_random": False}
    assert rows["sefa/0"]["method"] == "sefa" and rows["red/interfacegan"]["above_random"] is True


def test_alpha_zero_is_the_pins_and_alpha_moves_them(client):
    before = client.get("/api/render").json()["before"]
    r0 = client.post("/api/direction", json={"key": "red/interfacegan", "alpha": 0.0, "seq": 3}).json()
    assert r0["seq"] == 3 and r0["images"] == before and r0["classes"] == ["rest", "red"]
    assert r0["concept"] == "red" and r0["concept_index"] == 1 and r0["judge"] == "red-test"
    for alpha in (-1.5, 0.7, 1.5):
        r = client.post("/api/direction", json={"key": "red/interfacegan", "alpha": alpha}).json()
        assert len(r["images"]) == 4 and r["alpha"] == alpha
        assert max(np.abs(_png(a) - _png(b)).max() for a, b in zip(r["images"], before)) > 1
        f = np.array(r["fractions"])
        assert ((f >= 0) & (f <= 1)).all() and abs(f.sum() - 1) < 1e-6
        per = np.array(r["per_pin"])
        assert per.shape == (4, 2) and np.allclose(per.sum(1), 1, atol=1e-4)
        assert np.allclose(per.mean(0), f, atol=1e-4)


def test_the_move_is_z_plus_alpha_v(client, tiny_ckpt, tmp_path):
    S = load_subject(tiny_ckpt)
    s = client.app.state.session
    v = torch.from_numpy(np.load(tmp_path / "run" / "arrays.npz")["sefa/0"])
    want = S.images(s.pinned_z() + 0.5 * v / v.norm())
    got = client.post("/api/direction", json={"key": "sefa/0", "alpha": 0.5}).json()["images"]
    from gan_viz.explore.encode import image_urls

    assert max(np.abs(_png(a) - _png(b)).max() for a, b in zip(got, image_urls(want))) <= 1


@pytest.mark.parametrize("body,status,needle", [
    ({"key": "red/interfacegan", "alpha": 1.6}, 422, "alpha=1.6"),
    ({"key": "red/interfacegan", "alpha": -9}, 422, "from -1.5 to 1.5"),
    ({"key": "red/interfacegan", "alpha": "x"}, 422, "alpha"),
    ({"key": "bed/interfacegan", "alpha": 0}, 404, "no direction 'bed/interfacegan'"),
    ({"alpha": 0}, 422, "key"),
    ({"key": "sefa/0", "alpha": 0, "beta": 1}, 422, "unknown field 'beta'"),
])
def test_bad_direction_requests_are_4xx_naming_the_problem(client, body, status, needle):
    r = client.post("/api/direction", json=body)
    assert r.status_code == status and needle in r.json()["error"], r.json()


def test_without_directions_or_judge_it_says_why(tiny_ckpt, tmp_path):
    S = load_subject(tiny_ckpt)
    c = TestClient(create_app(Session(S, None, "no instrument here", n=4, pins=2, scan=16)))
    assert c.get("/api/directions").json()["directions"] == [] and "--directions" in c.get("/api/directions").json()["absent"]
    r = c.post("/api/direction", json={"key": "sefa/0", "alpha": 0})
    assert r.status_code == 422 and "--directions" in r.json()["error"]
    d = load_directions(_write_run(tmp_path / "bare", summary=False), S.nz, S.z_dist, None, "no instrument here")
    assert d.t == default_walk_t(S.z_dist) and d.meta["sefa/0"]["concept"] is None
    assert d.meta["red/interfacegan"] == {"key": "red/interfacegan", "concept": "red", "method": "interfacegan",
                                          "slope": None, "above_random": None}
    c = TestClient(create_app(Session(S, None, "no instrument here", n=4, pins=2, scan=16, directions=d)))
    r = c.post("/api/direction", json={"key": "sefa/0", "alpha": 1.0}).json()
    assert r["absent"] == "no instrument here" and "fractions" not in r and len(r["images"]) == 2


def test_default_walk_t_is_two_standard_deviations_of_z():
    assert default_walk_t("normal") == 2.0 and default_walk_t("uniform") == pytest.approx(2 / np.sqrt(3))
    u = torch.rand(200_000, 1) * 2 - 1
    assert 2 * float(u.std()) == pytest.approx(default_walk_t("uniform"), rel=1e-2)


def test_the_cli_loads_a_run_folder_or_its_npz(tiny_ckpt, tmp_path):
    from gan_viz.cli.explore import _directions

    S = load_subject(tiny_ckpt)
    run = _write_run(tmp_path / "run")
    for spec in (run, run / "arrays.npz"):
        d = _directions(S, argparse.Namespace(directions=str(spec), segmenter=None), None, "none here")
        assert list(d.vectors) == ["red/interfacegan", "red/exemplar", "sefa/0"] and d.judge is None
        assert all(abs(float(v.norm()) - 1) < 1e-6 for v in d.vectors.values())


def _bad(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "nowhere"
    if kind == "not-npz":
        (tmp_path / "x.npz").write_text("not a zip")
        return tmp_path / "x.npz"
    if kind == "missing-key":
        f = tmp_path / "mk.npz"
        np.savez(f, keys=np.array(["red/interfacegan", "bed/sefa"]), **{"red/interfacegan": np.ones(NZ, np.float32)})
        return f
    if kind == "no-keys":
        f = tmp_path / "nk.npz"
        np.savez(f, alphas=np.zeros(3))
        return f
    return _write_run(tmp_path / "wide", nz=NZ + 2)


@pytest.mark.parametrize("kind,needle", [("missing", "does not exist"), ("not-npz", "is not a .npz file"),
                                         ("missing-key", "missing: bed/sefa"), ("no-keys", "names no direction"),
                                         ("wrong-nz", "length nz=8")])
def test_bad_directions_are_one_line_exit_2(cli, tiny_ckpt, tmp_path, kind, needle):
    code, _, err = cli("explore", "--ckpt", tiny_ckpt, "--port", "0", "--directions", _bad(tmp_path, kind))
    assert code == 2 and "--directions" in err and needle in err and err.count("\n") == 1, err


def test_the_baseline_fractions_are_those_at_alpha_zero(client):
    r0 = client.post("/api/direction", json={"key": "sefa/0", "alpha": 0.0}).json()
    r1 = client.post("/api/direction", json={"key": "red/exemplar", "alpha": 1.2}).json()
    assert np.allclose(r0["fractions"], r0["fractions_base"]) and r1["fractions_base"] == r0["fractions_base"]
    s = client.app.state.session
    s.unpin(s.pins[0].id)  # a new pinned set: a new baseline, 3 images
    r2 = client.post("/api/direction", json={"key": "sefa/0", "alpha": 0.0}).json()
    assert len(r2["images"]) == 3 and np.allclose(r2["fractions"], r2["fractions_base"])
