"""gan-viz explore: the API on a tiny model (every endpoint, every bad request, superseding,
the cached-prefix edit against the hooked generator), the command (a server the test starts
and stops, a taken port), and the page in a real browser on the bundled model."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from gan_viz.checkpoint import load_subject, save_checkpoint  # noqa: E402
from gan_viz.config import ModelConfig  # noqa: E402
from gan_viz.explore import Session, create_app  # noqa: E402
from gan_viz.hooks import count_hooks, edit_layer  # noqa: E402
from gan_viz.instruments import Instrument  # noqa: E402
from gan_viz.models import build_discriminator, build_generator, init_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # user_models
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
SHOTS = os.environ.get("GAN_VIZ_EXPLORE_SHOTS")  # keep the browser test's screenshots here


class Red(Instrument):
    """A toy instrument: a pixel is "red" where the red channel is positive."""

    def __init__(self):
        super().__init__("red-test", ("rest", "red"), note="test instrument")

    def segment(self, images, batch_size=256):
        return (images[:, 0] > 0).long()


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    cfg = ModelConfig(image_size=16, nc=3, nz=8, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g = torch.Generator().manual_seed(0)
    init_weights(G, g), init_weights(D, g)
    with torch.no_grad():  # larger weights than the paper's init: images with contrast (red and not)
        for m in G.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                m.weight.normal_(0, 0.3, generator=g)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", cfg, G, D)


@pytest.fixture
def session(tiny_ckpt) -> Session:
    return Session(load_subject(tiny_ckpt), Red(), seed=0, n=8, pins=4, scan=32)


@pytest.fixture
def client(session) -> TestClient:
    return TestClient(create_app(session))


def _png(url: str) -> np.ndarray:
    import base64

    import cv2

    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR).astype(int)


def _pins(client) -> list[int]:
    return [p["id"] for p in client.get("/api/state").json()["pins"]]


# --- endpoints -------------------------------------------------------------------------------

def test_page_and_static_files_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "/static/app.js" in r.text and "<script" in r.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    for path in ("/", "/static/app.js", "/static/style.css"):  # offline: nothing from another host
        assert not re.search(r"https?://|(src|href)=[\"']//|@import|url\(", client.get(path).text), path
    info = client.get("/api/info").json()
    assert info["default_layer"] == "G.relu2" and info["instrument"]["classes"] == ["rest", "red"]
    names = [l["name"] for l in info["layers"]]
    assert "G.relu2" in names and "D.lrelu2" in names and all(len(l["shape"]) == 3 for l in info["layers"])
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()


def test_samples_pins_and_z_download_reproduce_with_generate(client, session, tiny_ckpt, tmp_path, cli):
    r = client.post("/api/samples", json={"seed": 3, "n": 5}).json()
    assert r["n"] == 5 and len(r["images"]) == 5 and r["images"][0].startswith("data:image/png;base64,")
    pin = client.post("/api/pins", json={"grid": 4}).json()["pin"]
    assert pin["origin"] == "seed 3 #4" and pin["id"] in _pins(client)
    (tmp_path / "z.npy").write_bytes(client.get("/api/pins/z.npy").content)
    (tmp_path / "one.npy").write_bytes(client.get(f"/api/pins/{pin['id']}/z.npy").content)
    (tmp_path / "grid.npy").write_bytes(client.get("/api/samples/z.npy").content)
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (5, 8) and np.array_equal(np.load(tmp_path / "one.npy")[0], z[-1])
    assert np.array_equal(np.load(tmp_path / "grid.npy")[4], z[-1])
    code, _, err = cli("generate", "--ckpt", tiny_ckpt, "--z", tmp_path / "z.npy", "--out", tmp_path / "gen")
    assert code == 0, err
    want = session.S.images(torch.from_numpy(z))
    assert torch.allclose(torch.from_numpy(np.load(tmp_path / "gen" / "images.npy")), want, atol=1e-6)
    y = client.post("/api/pins", json={"z": [0.1] * 8}).json()["pin"]
    assert y["origin"] == "z"
    assert client.delete(f"/api/pins/{y['id']}").status_code == 200 and y["id"] not in _pins(client)


def test_edit_ablation_changes_images_and_measure(client):
    base = client.get("/api/render").json()
    assert base["before"] == base["after"] and base["measure"]["before"] == base["measure"]["after"]
    r = client.post("/api/edit", json={"layer": "G.relu2", "ablate": [0, 1, 2, 3, 4, 5, 6, 7], "seq": 4}).json()
    assert r["seq"] == 4 and r["edit"]["ablate"] == list(range(8))
    assert r["before"] == base["before"] and r["after"] != r["before"]
    m = r["measure"]
    assert m["concept"] == "red" and len(m["per_pin"]) == 4 and 0 <= m["after"] <= 1
    assert client.get("/api/state").json()["edit"]["ablate"] == list(range(8))
    assert client.get("/api/render").json()["after"] == r["after"]
    again = client.post("/api/edit", json={"layer": "G.relu2"}).json()
    assert again["after"] == base["before"]


@pytest.mark.parametrize("mode", ["remove", "insert"])
def test_painted_edit_equals_the_hooked_generator_and_stays_local(session, mode):
    """The cached-prefix path (G's layers up to the edit run once) gives G with the edit rule hooked."""
    S, pins = session.S, session.pins
    mask = np.zeros((16, 16), np.float32)
    mask[:5, :5] = 1  # the top-left corner of pinned sample 0
    e = session.parse_edit({"layer": "G.relu2", "ablate": [1], "units": [0, 2, 3, 5],
                            "strokes": {str(pins[0].id): {mode: mask.tolist()}}})
    fast = session.edited_images(e, pins)
    a, r = session._edit_tensors(e, pins)
    with torch.no_grad(), edit_layer(S.G, "relu2", a, r, prefix="G"):
        slow = S.G(session.pinned_z())
    assert count_hooks(S.G) == 0
    assert torch.allclose(fast, slow, atol=1e-6)
    only_ablate = session.edited_images(session.parse_edit({"layer": "G.relu2", "ablate": [1]}), pins)
    diff = (fast - only_ablate).abs().amax(1)  # (P, H, W)
    assert diff[1:].max() == 0 and diff[0].max() > 0  # only the painted sample changes ...
    assert diff[0, 10:, 10:].max() == 0  # ... and only near the stroke (a 4x4 transposed conv after the layer)


@pytest.mark.parametrize("kind", ["nested", "pytorch-examples"])
def test_users_models_edit_by_a_hook_on_their_own_forward(kind):
    """A G of nested blocks and a PyTorch examples G (z as (N, nz, 1, 1), layers ``main.N``): the
    edit runs as a scoped hook on G's forward, equal to edit_layer by hand; D units are guided."""
    from gan_viz.subject import Subject
    from user_models import Critic, NestedGenerator, PTDiscriminator, PTGenerator, seeded

    G, D = ((NestedGenerator(nz=16), Critic()) if kind == "nested" else (PTGenerator(nz=16), PTDiscriminator()))
    S = Subject.from_modules(seeded(G, 1), seeded(D, 2), nz=16)
    s = Session(S, Red(), n=4, pins=3, scan=16)
    c = TestClient(create_app(s))
    layer = c.get("/api/info").json()["default_layer"]
    assert layer == ("G.blocks.2.act" if kind == "nested" else "G.main.8") and s._tail(layer[2:]) is None
    ids = _pins(c)
    mask = np.zeros((32, 32), np.float32)
    mask[:12] = 1
    body = {"layer": layer, "ablate": [0, 1], "units": [2, 3], "strokes": {str(ids[1]): {"insert": mask.tolist()}}}
    r = c.post("/api/edit", json=body).json()
    assert r["after"][0] != r["before"][0] and r["after"][2] != r["before"][2]
    e = s.parse_edit(body)
    a, rr = s._edit_tensors(e, s.pins)
    with torch.no_grad(), edit_layer(S.G, layer, a, rr, prefix="G"):
        want = S.images(s.pinned_z())
    assert torch.allclose(s.edited_images(e, s.pins), want, atol=1e-6) and count_hooks(S.G) == 0
    first, *_, last = [l["name"] for l in c.get("/api/info").json()["layers"] if l["kind"] == "LeakyReLU"]
    d = c.get("/api/unit", params={"layer": last, "unit": 0}).json()
    assert len(d["gbp_maps"]) == 8 and count_hooks(S.D) == 0
    d = c.get("/api/unit", params={"layer": first, "unit": 0}).json()  # guiding it would be the plain gradient
    assert "plain gradient" in d["gbp_absent"] and len(d["images"]) == 8


def test_units_table_detail_and_concept_units(client, session):
    t = client.get("/api/units", params={"layer": "G.relu2"}).json()
    assert t["shape"] == [8, 8, 8] and len(t["units"]) == 8 and t["editable"]
    assert np.asarray(t["iou_rows"]).shape == (8, 2) and {"label", "iou", "max"} <= set(t["units"][0])
    d = client.get("/api/unit", params={"layer": "G.relu2", "unit": 3}).json()
    assert len(d["images"]) == len(d["heat"]) == 8 and d["unit"] == 3 and d["top_classes"][0]["class"] in ("rest", "red")
    acts = d["activations"]
    assert acts == sorted(acts, reverse=True)
    dd = client.get("/api/unit", params={"layer": "D.lrelu2", "unit": 1}).json()
    assert len(dd["gbp_maps"]) == 8 and dd["gbp_rule"] == "leaky" and not client.get(
        "/api/units", params={"layer": "D.lrelu2"}).json()["editable"]
    for rank in ("iou", "causal"):
        c = client.get("/api/concept", params={"layer": "G.relu2", "concept": "red", "rank": rank, "k": 3}).json()
        assert len(c["units"]) == 3 and c["scores"] == sorted(c["scores"], reverse=True), c
    iou = session.units.table("G.relu2")["iou"][:, 1]
    default = client.get("/api/concept", params={"layer": "G.relu2", "concept": "red"}).json()
    assert default["k"] == 2 and default["units"] == [int(i) for i in np.argsort(-iou, kind="stable")[:2]]


def test_walk_and_arithmetic(client, session):
    a, b, *rest = _pins(client)
    r0 = client.post("/api/walk", json={"a": a, "b": b, "t": 0.0, "interp": "linear"}).json()
    r1 = client.post("/api/walk", json={"a": a, "b": b, "t": 1.0, "interp": "linear"}).json()
    mid = client.post("/api/walk", json={"a": a, "b": b, "t": 0.5, "seq": 9}).json()
    before = client.get("/api/render").json()["before"]
    zs = session.pinned_z()
    assert r0["z"] == zs[0].tolist() and r1["z"] == zs[1].tolist()
    assert np.abs(_png(r0["frame"]) - _png(before[0])).max() <= 1 and np.abs(_png(r1["frame"]) - _png(before[1])).max() <= 1
    assert np.abs(_png(mid["frame"]) - _png(r0["frame"])).max() > 1
    assert mid["seq"] == 9 and len(mid["strip"]) == 9 and len(mid["strip_fractions"]) == 9
    assert abs(sum(mid["fractions"][0]) - 1) < 1e-6 and mid["classes"] == ["rest", "red"]
    ar = client.post("/api/arithmetic", json={"a": [a], "b": [b], "c": rest[:2]}).json()
    y = zs[0] - zs[1] + zs[2:4].mean(0)
    assert np.allclose(ar["y"], y.numpy(), atol=1e-6) and len(ar["means"]) == 3 and len(ar["noisy"]) == 4
    assert set(ar["fractions"]) >= {"means", "results"}


def test_no_instrument_says_why(tiny_ckpt):
    s = Session(load_subject(tiny_ckpt), None, "the model's domain is unknown", n=4, pins=2, scan=16)
    c = TestClient(create_app(s))
    assert c.get("/api/render").json()["measure"] == {"absent": "the model's domain is unknown"}
    r = c.get("/api/concept", params={"layer": "G.relu2", "concept": "window"})
    assert r.status_code == 422 and "domain is unknown" in r.json()["error"]
    assert "label" not in c.get("/api/units", params={"layer": "G.relu2"}).json()["units"][0]


def test_a_discriminator_alone_is_browsed_on_real_images():
    from gan_viz.subject import Subject

    D = build_discriminator(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8))
    s = Session(Subject.from_modules(None, D, domain="rooms"), None, "no generator to draw", scan=16)
    c = TestClient(create_app(s))
    info = c.get("/api/info").json()
    assert not info["has_G"] and info["default_layer"] is None and {l["net"] for l in info["layers"]} == {"D"}
    t = c.get("/api/units", params={"layer": "D.lrelu3"}).json()
    assert len(t["units"]) == 32 and t["scan"] == 16
    r = c.post("/api/samples", json={"n": 4})
    assert r.status_code == 422 and "has no generator" in r.json()["error"]
    assert c.post("/api/edit", json={}).status_code == 422


# --- bad requests: 4xx JSON naming the problem, state unchanged ------------------------------

MASK_OK = [0.0] * 256
BAD = [
    ("post", "/api/edit", {"layer": "G.nope"}, 422, "unknown layer 'G.nope'"),
    ("post", "/api/edit", {"layer": "D.lrelu2"}, 422, "edits apply to the generator"),
    ("post", "/api/edit", {"layer": "G.tanh"}, 422, "not hidden feature maps"),
    ("post", "/api/edit", {"ablate": [8]}, 422, "unit 8 is out of range: G.relu2 has 8 units (0-7)"),
    ("post", "/api/edit", {"ablate": [-1]}, 422, "unit -1 is out of range"),
    ("post", "/api/edit", {"ablate": list(range(10 ** 5))}, 422, "100000 units given, G.relu2 has only 8"),
    ("post", "/api/edit", {"ablate": ["x"]}, 422, "ablate.0"),
    ("post", "/api/edit", {"units": [0], "strokes": {"PIN0": {"remove": [1.0] * 100}}}, 422,
     "has shape [100]; the images are 16x16: give 256 values"),
    ("post", "/api/edit", {"units": [0], "strokes": {"PIN0": {"insert": [[1.0] * 15] * 16}}}, 422, "has shape [16, 15]"),
    ("post", "/api/edit", {"units": [0], "strokes": {"PIN0": {"remove": [2.0] * 256}}}, 422, "values in [0, 1]"),
    ("post", "/api/edit", {"units": [0], "strokes": {"999": {"remove": MASK_OK}}}, 422, "no pinned sample has id 999"),
    ("post", "/api/edit", {"concept": "window"}, 422, "concept 'window' is not a class of red-test"),
    ("post", "/api/edit", {"layer": "G.relu2", "colour": 1}, 422, "unknown field 'colour'"),
    ("post", "/api/edit", b"{bad json", 400, "malformed JSON"),
    ("post", "/api/edit", b"[1, 2]", 400, "must be a JSON object"),
    ("post", "/api/samples", {"n": 10 ** 9}, 422, "n=1000000000: a grid holds 1 to 64 samples"),
    ("post", "/api/samples", {"n": 0}, 422, "a grid holds 1 to 64"),
    ("post", "/api/samples", {"seed": 2 ** 70}, 422, "out of range"),
    ("post", "/api/samples", b"{\"n\": ", 400, "malformed JSON"),
    ("post", "/api/pins", {"grid": 99}, 422, "grid index 99 is out of range"),
    ("post", "/api/pins", {"z": [0.0] * 3}, 422, "this model needs 8 finite numbers"),
    ("post", "/api/pins", {}, 422, "give either grid"),
    ("delete", "/api/pins/999", None, 422, "no pinned sample has id 999"),
    ("get", "/api/pins/999/z.npy", None, 422, "no pinned sample has id 999"),
    ("get", "/api/units?layer=G.nope", None, 422, "unknown layer 'G.nope'"),
    ("get", "/api/units", None, 422, "layer: Field required"),
    ("get", "/api/unit?layer=G.relu2&unit=8", None, 422, "unit 8 is out of range: G.relu2 has 8 units"),
    ("get", "/api/unit?layer=D.lrelu1&unit=100000", None, 422, "unit 100000 is out of range"),
    ("get", "/api/unit?layer=G.relu2&unit=x", None, 422, "unit: "),
    ("get", "/api/concept?layer=D.lrelu2&concept=red", None, 422, "chosen in a G layer"),
    ("get", "/api/concept?layer=G.relu2&concept=red&k=9", None, 422, "k=9: choose 1 to 8 units"),
    ("get", "/api/concept?layer=G.relu2&concept=sky", None, 422, "concept 'sky' is not a class"),
    ("get", "/api/concept?layer=G.relu2&concept=red&rank=best", None, 422, "rank 'best'"),
    ("post", "/api/walk", {"a": "PIN0", "b": 999}, 422, "no pinned sample has id 999"),
    ("post", "/api/walk", {"a": "PIN0", "b": "PIN1", "t": 3}, 422, "t=3.0: the walk's position is a number from 0 to 1"),
    ("post", "/api/walk", {"a": "PIN0", "b": "PIN1", "interp": "cubic"}, 422, "interp 'cubic'"),
    ("post", "/api/walk", b"nope", 400, "malformed JSON"),
    ("post", "/api/arithmetic", {"a": [], "b": ["PIN0"], "c": ["PIN1"]}, 422, "term A: give 1 to 8 pinned samples"),
    ("post", "/api/arithmetic", {"a": ["PIN0"], "b": ["PIN0"], "c": [999]}, 422, "no pinned sample has id 999"),
]


def _fill(body, pins):
    """Replace "PIN0"/"PIN1" (keys and values) with real pin ids."""
    if isinstance(body, bytes) or body is None:
        return body
    text = json.dumps(body)
    for i, p in enumerate(pins):
        text = text.replace(f'"PIN{i}":', f'"{p}":').replace(f'"PIN{i}"', str(p))
    return json.loads(text)


@pytest.mark.parametrize("method,path,body,status,needle", BAD, ids=[f"{b[1]}:{b[4][:28]}" for b in BAD])
def test_bad_request_is_a_4xx_naming_the_problem_and_changes_nothing(client, method, path, body, status, needle):
    client.post("/api/edit", json={"layer": "G.relu2", "ablate": [2]})
    state, render = client.get("/api/state").json(), client.get("/api/render").json()
    body = _fill(body, _pins(client))
    kw = {} if body is None else ({"content": body, "headers": {"content-type": "application/json"}}
                                  if isinstance(body, bytes) else {"json": body})
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert needle in err and "Traceback" not in err and "\n" not in err, err
    assert client.get("/api/state").json() == state
    assert client.get("/api/render").json()["after"] == render["after"]


def test_server_errors_are_one_line_json(session):
    client = TestClient(create_app(session), raise_server_exceptions=False)
    session.units.table = lambda name: 1 / 0  # a bug somewhere below: still JSON, no traceback
    r = client.get("/api/units", params={"layer": "G.relu2"})
    assert r.status_code == 500 and r.json() == {"error": "internal error: ZeroDivisionError: division by zero"}


# --- superseded requests are dropped ---------------------------------------------------------

def test_superseded_edits_are_dropped_not_queued(client, session):
    results: dict[int, object] = {}
    computed = []
    real = session.render
    session.render = lambda measure=True: computed.append(session.edit.ablate) or real(measure)

    def send(i):
        results[i] = client.post("/api/edit", json={"ablate": [i], "seq": i})

    with session.compute_lock:  # a long edit is running: three more arrive meanwhile
        threads = []
        for i in range(3):
            threads.append(threading.Thread(target=send, args=(i,)))
            threads[-1].start()
            deadline = time.time() + 10
            while session._tickets.get("edit", 0) < i + 1 and time.time() < deadline:
                time.sleep(0.01)
    for t in threads:
        t.join(10)
    codes = {i: r.status_code for i, r in results.items()}
    assert codes == {0: 409, 1: 409, 2: 200}, codes
    assert results[0].json() == {"error": "superseded by a newer edit request", "superseded": True}
    assert computed == [(2,)] and session.edit.ablate == (2,) and results[2].json()["seq"] == 2


# --- the command -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], timeout: float = 90) -> tuple[subprocess.Popen, str]:
    """Start ``gan-viz explore ARGS`` and wait for the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "gan_viz", "explore", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline, lines = time.time() + timeout, []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"open (http://\S+) \(Ctrl-C stops\)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"no URL printed: {lines} {proc.stderr.read()}")


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out


def test_the_server_the_test_starts_is_stopped_by_it(tiny_ckpt):
    port = _free_port()
    proc, url = _start(["--ckpt", str(tiny_ckpt), "--port", str(port), "--samples", "4", "--pins", "2", "--scan", "16"])
    try:
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url + "api/info", timeout=10) as r:
            assert json.load(r)["default_layer"] == "G.relu2"
    finally:
        code, out = _stop(proc)
    assert code == 0 and "stopped" in out
    with socket.socket() as s:  # nothing listens there any more
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_taken_port_is_one_line_exit_2(cli, tiny_ckpt):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, out, err = cli("explore", "--ckpt", tiny_ckpt, "--port", port)
    assert code == 2 and err.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is taken" in err and "--port" in err


@pytest.mark.parametrize("args,needle", [(["--samples", "0"], "--samples 0"), (["--pins", "20"], "--pins 20"),
                                         (["--port", "70000"], "--port 70000"), (["--scan", "1"], "--scan 1"),
                                         (["--segmenter", "sky"], "--segmenter 'sky'")])
def test_bad_options_are_one_line_exit_2(cli, tiny_ckpt, args, needle):
    code, _, err = cli("explore", "--ckpt", tiny_ckpt, "--port", "0", *args)
    assert code == 2 and needle in err and err.count("\n") == 1, err


# --- the page in a real browser, on the bundled model ----------------------------------------

def _directions_run(folder: Path, nz: int) -> Path:
    """A small ``gan-viz directions`` run for the page: three unit directions, one not above random."""
    folder.mkdir(parents=True, exist_ok=True)
    v = np.random.default_rng(0).standard_normal((3, nz)).astype(np.float32)
    keys = ["window/interfacegan", "bed/exemplar", "sefa/0"]
    np.savez(folder / "arrays.npz", keys=np.array(keys), **{k: x / np.linalg.norm(x) for k, x in zip(keys, v)})
    rows = {"window/interfacegan": {"method": "interfacegan", "concept": "window", "slope": 0.05, "above_random": True},
            "bed/exemplar": {"method": "exemplar", "concept": "bed", "slope": 0.001, "above_random": False},
            "sefa/0": {"method": "sefa", "concept": "ceiling", "slope": 0.02, "above_random": True}}
    (folder / "summary.json").write_text(json.dumps({"t": 1.5, "directions": rows}))
    return folder


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory):
    run = _directions_run(tmp_path_factory.mktemp("directions"), load_subject(None).nz)
    proc, url = _start(["--port", "0", "--directions", str(run)])
    yield url
    code, _ = _stop(proc)
    assert code == 0


def _shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _after_srcs(page) -> list[str]:
    return page.eval_on_selector_all("#pins img.after", "els => els.map(e => e.src)")


def _wait_changed(page, old: list[str], timeout: float = 60000) -> None:
    page.wait_for_function("old => { const n = [...document.querySelectorAll('#pins img.after')].map(e => e.src);"
                           " return n.length === old.length && n.some((s, i) => s !== old[i]); }", arg=old,
                           timeout=timeout)


def _measure(page) -> dict:
    return page.eval_on_selector("#measure", "e => ({...e.dataset})")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (/usr/bin/chromium absent; "
                                              ".ci/run installs Debian's chromium where apt-get works)")
def test_the_page_in_chromium(bundled_server, tmp_path):
    """Open, click a unit, toggle an ablation, ablate the window units, paint a mask that removes
    windows and one that inserts them, move the walk slider, compute A - B + C, move a direction's
    slider: the images change and the parser's window share moves the right way."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(bundled_server)
            page.wait_for_selector("body[data-ready='1']", timeout=90000)
            assert page.locator("#pins img.after").count() == 8 and page.locator("#units tbody tr").count() == 64
            assert page.locator("#grid img").count() == 16 and "rooms-parser" in page.inner_text("#instrument")
            _shot(page, shots, "01_open")

            page.click("#units tbody tr[data-unit='10']")  # a unit: its top images and activation maps
            page.wait_for_selector("#unit-detail img", timeout=30000)
            assert page.locator("#unit-detail img").count() == 16 and "unit 10" in page.inner_text("#unit-detail")
            _shot(page, shots, "02_unit")

            old = _after_srcs(page)
            page.click("#units tbody tr[data-unit='10'] input.ablate")  # toggle one ablation
            _wait_changed(page, old)
            page.click("#units tbody tr[data-unit='10'] input.ablate")  # and back
            page.wait_for_function("() => [...document.querySelectorAll('#pins figure')].every("
                                   "f => f.querySelector('img.after').src === f.querySelector('img.before').src)")

            m0 = _measure(page)
            page.select_option("#concept", "window")
            page.select_option("#rank", "causal")  # IoU-ranked units of a 64x64 G's relu4 remove only ~13%
            page.click("#pick-concept")  # the window units (forget's causal ranking), as the brush's units
            page.wait_for_function("() => document.querySelector('#brush-units').textContent !== 'none'")
            old = _after_srcs(page)
            page.click("#ablate-brush")  # ablate them everywhere
            _wait_changed(page, old)
            page.wait_for_function("() => +document.querySelector('#measure').dataset.after < "
                                   "+document.querySelector('#measure').dataset.before", timeout=30000)
            m1 = _measure(page)
            assert float(m1["after"]) < 0.85 * float(m1["before"]) and m1["before"] == m0["before"]
            _shot(page, shots, "03_ablate_window_units")

            page.click("#reset-edit")
            page.wait_for_function("() => document.querySelector('#measure').dataset.after === "
                                   "document.querySelector('#measure').dataset.before")
            shares = page.eval_on_selector_all("#pins .pin-measure", "els => els.map(e => +e.dataset.before)")
            target = int(np.argmax(shares))  # paint "remove" over the sample with the most window
            box = page.locator("#pins canvas.overlay").nth(target).bounding_box()
            old = _after_srcs(page)
            page.mouse.move(box["x"] + 2, box["y"] + 2)
            page.mouse.down()
            for k, y in enumerate(np.linspace(2, box["height"] - 2, 9)):
                xs = (2, box["width"] - 2) if k % 2 == 0 else (box["width"] - 2, 2)
                page.mouse.move(box["x"] + xs[0], box["y"] + y, steps=2)
                page.mouse.move(box["x"] + xs[1], box["y"] + y, steps=6)
            page.mouse.up()
            _wait_changed(page, old)
            page.wait_for_function("() => document.querySelector('#measure').dataset.inMaskBefore !== ''", timeout=30000)
            m2 = _measure(page)
            assert float(m2["inMaskAfter"]) < float(m2["inMaskBefore"]), m2
            _shot(page, shots, "04_paint_remove")

            page.click("#clear-paint")
            page.wait_for_function("() => document.querySelector('#measure').dataset.inMaskBefore === ''")
            page.check("input[name=brush][value=insert]")  # draw windows into the upper half of another sample
            box = page.locator("#pins canvas.overlay").nth(int(np.argmin(shares))).bounding_box()
            old = _after_srcs(page)
            page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + 0.15 * box["height"])
            page.mouse.down()
            for y in np.linspace(0.15, 0.4, 4):
                page.mouse.move(box["x"] + 0.85 * box["width"], box["y"] + y * box["height"], steps=5)
                page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + (y + 0.06) * box["height"], steps=5)
            page.mouse.up()
            _wait_changed(page, old)
            page.wait_for_function("() => document.querySelector('#measure').dataset.inMaskBefore !== ''", timeout=30000)
            m3 = _measure(page)
            assert float(m3["inMaskAfter"]) > float(m3["inMaskBefore"]) + 0.1, m3
            _shot(page, shots, "05_paint_insert")

            frame0 = page.get_attribute("#walk-frame", "src")
            slider = page.locator("#walk-t").bounding_box()
            page.mouse.click(slider["x"] + slider["width"] * 0.6, slider["y"] + slider["height"] / 2)
            page.wait_for_function("() => +document.querySelector('#walk-frame').dataset.t > 0.3", timeout=30000)
            assert page.get_attribute("#walk-frame", "src") != frame0
            assert page.locator("#walk-strip img").count() == 9 and page.locator("#walk-fractions .bar-row").count() >= 6
            _shot(page, shots, "06_walk")

            page.click("#arith-go")
            page.wait_for_selector("#arith-result", timeout=30000)
            assert page.locator("#arith-out img").count() == 9
            _shot(page, shots, "07_arithmetic")

            dir_srcs = lambda: page.eval_on_selector_all("#dir-images img", "els => els.map(e => e.src)")  # noqa: E731
            befores = page.eval_on_selector_all("#pins img.before", "els => els.map(e => e.src)")
            assert page.locator("#dir-sliders .dir-row").count() == 3 and dir_srcs() == befores  # alpha 0: the pins
            assert page.locator("#dir-sliders .dir-row.weak").count() == 1 and "window \u00b7 interfacegan" in \
                page.inner_text("#dir-sliders")
            page.locator('#dir-sliders input[data-key="window/interfacegan"]').fill("1.2")
            page.wait_for_function("() => +document.querySelector('#dir-images').dataset.alpha > 1", timeout=30000)
            assert dir_srcs() != befores and len(dir_srcs()) == 8
            assert "window" in page.inner_text("#dir-fractions .bar-row.strong")
            assert 0 <= float(page.get_attribute("#dir-fractions", "data-concept")) <= 1
            _shot(page, shots, "08_directions")
            assert errors == [] and "error" not in (page.get_attribute("#status", "class") or "")
        finally:
            browser.close()
