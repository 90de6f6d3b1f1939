"""``gan-viz directions`` (issue 25): the four methods' pieces, the CLI on the bundled model, refusals, and a
user's model without an instrument (SeFa and GANSpace run, unnamed and unjudged, with the reason)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from user_models import PTGenerator, seeded  # noqa: E402

from gan_viz.analyses import directions as DR  # noqa: E402
from gan_viz.errors import UserError  # noqa: E402
from gan_viz.subject import Subject  # noqa: E402

TINY = ("--n-find", "120", "--eval-samples", "16", "--components", "2", "--random", "6", "--grid-rows", "2",
        "--steps", "3", "--concepts", "window,bed")

MODEL_DEF = f'''
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import torch
from torch import nn
from user_models import PTGenerator, seeded


class Squashed(nn.Module):
    """Its first layer reads tanh(z), not z: no linear map from z for SeFa."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(torch.tanh(z.flatten(1)))).view(len(z), 3, 8, 8)


def pt():
    return {{"G": seeded(PTGenerator(), 1), "nz": 16}}


def squashed():
    return {{"G": seeded(Squashed(), 2), "nz": 16}}
'''


@pytest.fixture(scope="module")
def model_def(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "mine.py"
    path.write_text(textwrap.dedent(MODEL_DEF))
    return path


def test_concept_groups_split_top_and_bottom_without_overlap():
    scores = np.arange(100.0)
    g = DR.concept_groups(scores, 0.2, 0.25, seed=0)
    (pt, pv), (mt, mv) = g["plus"], g["minus"]
    assert len(pt) == 15 and len(pv) == 5 and len(mt) == 15 and len(mv) == 5
    assert set(pt) | set(pv) == set(range(80, 100)) and set(mt) | set(mv) == set(range(20))
    assert (np.diff(scores[pt]) < 0).all()  # most extreme first
    with pytest.raises(UserError, match="fewer than 2"):
        DR.concept_groups(scores[:5], 0.2, 0.2, 0)


def test_sefa_reads_the_first_convtranspose_as_a_linear_map():
    G = seeded(PTGenerator(nz=16), 3)
    S = Subject.from_modules(G, None, 16)
    name, A = DR.first_linear_map(S)
    W = G.main[0].weight.detach().double()  # (nz, C, 4, 4)
    np.testing.assert_allclose(A, W.permute(1, 2, 3, 0).reshape(-1, 16).numpy(), atol=1e-6)
    assert name == "main.0"
    dirs, lam = DR.sefa_directions(A, 3)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1, rtol=1e-9)
    assert (np.diff(lam) <= 0).all()
    top = np.linalg.svd(A)[2][0]
    assert abs(dirs[0] @ top) > 0.999


def test_ganspace_regresses_the_top_component_back_to_z():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 10, generator=g)
    u = torch.zeros(10)
    u[3] = 1
    acts = torch.cat([5 * (z @ u)[:, None], 0.1 * torch.randn(500, 20, generator=g)], 1)  # dominant along z_3
    dirs, ratio = DR.ganspace_directions(acts, z, 2)
    assert abs(dirs[0][3]) > 0.99 and ratio[0] > 0.9


def test_slopes_band_and_entanglement():
    alphas = np.array([-1.0, 0.0, 1.0])
    curves = np.stack([np.stack([0.1 + 0.2 * alphas, 0.5 - 0.1 * alphas], 1)])  # (1, A, 2)
    np.testing.assert_allclose(DR.slopes(curves, alphas), [[0.2, -0.1]])
    both, band = DR.random_band(np.array([[0.01, 0.0], [-0.02, 0.01]]))
    assert both.shape == (4, 2) and band[0] >= 0.02
    np.testing.assert_allclose(DR.entanglement(np.array([0.2, -0.1]), 0), [1.0, -0.5])


def _tiny(cli, out, *extra):
    return cli("directions", *TINY, "--out", out, *extra)


def test_cli_on_the_bundled_model_writes_figures_summary_and_arrays(cli, tmp_path):
    code, text, err = _tiny(cli, tmp_path / "a")
    assert code == 0, err
    out = tmp_path / "a"
    for name in ("effect_window", "effect_bed", "entanglement", "agreement", "grid_exemplar", "grid_interfacegan",
                 "grid_ganspace", "grid_sefa"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["judge"]["name"] == "rooms-parser-b" and s["instrument"]["name"] == "rooms-parser"
    assert s["judge"]["is_selecting_instrument"] is False and s["sefa_layer"] == "conv1"
    d = s["directions"]["window/interfacegan"]
    assert 0 <= d["val_accuracy"] <= 1 and "random_band" in d and "largest_entanglement" in d
    assert all(s["directions"][f"ganspace/{i}"]["concept"] in s["judge"]["class_names"] for i in range(2))
    a = np.load(out / "arrays.npz")
    assert a["window/interfacegan"].shape == (100,) and abs(np.linalg.norm(a["sefa/0"]) - 1) < 1e-5
    assert a["grid_images"].shape[:3] == (2 * 2 + 2 + 2 + 6, 2, 3)
    assert "window interfacegan" in text and "rooms-parser" in text
    # the band: Bonferroni over every direction x class judged, at least the largest random |slope|
    m = len(s["directions"]) * len(s["judge"]["class_names"])
    assert s["band_comparisons"] == m and s["band_family_alpha"] == 0.05
    assert abs(s["band_sd"] - DR.band_multiple(s["n_random"], m)) < 1e-9 and s["band_sd"] > 3
    rs = a["random_slopes"]  # (2R, K): the randoms and their negatives
    band = np.maximum(np.abs(rs).max(0), s["band_sd"] * np.sqrt((rs ** 2).mean(0)))
    np.testing.assert_allclose(a["band"], band, rtol=1e-9)


def test_same_seed_same_summary(cli, tmp_path):
    assert _tiny(cli, tmp_path / "a", "--methods", "interfacegan,sefa")[0] == 0
    assert _tiny(cli, tmp_path / "b", "--methods", "interfacegan,sefa")[0] == 0
    assert (tmp_path / "a" / "summary.json").read_text() == (tmp_path / "b" / "summary.json").read_text()
    assert _tiny(cli, tmp_path / "c", "--methods", "interfacegan,sefa", "--seed", "1")[0] == 0
    assert (tmp_path / "a" / "summary.json").read_text() != (tmp_path / "c" / "summary.json").read_text()


@pytest.mark.parametrize("extra, message", [
    (("--layer", "G.nope"), "unknown layer"),
    (("--layer", "D.conv1"), "G layer"),
    (("--steps", "4"), "odd"),
    (("--random", "3"), "at least 6"),
    (("--methods", "pca"), "choose from"),
    (("--concepts", "sofa"), "not a class"),
])
def test_bad_input_exits_2_with_one_line(cli, tmp_path, extra, message):
    code, _, err = _tiny(cli, tmp_path / "bad", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


def test_user_model_without_instrument_runs_sefa_and_ganspace_unnamed(cli, tmp_path, model_def):
    code, text, err = cli("directions", "--model-def", f"{model_def}:pt", "--n-find", "60", "--components", "2",
                          "--eval-samples", "8", "--grid-rows", "2", "--out", tmp_path / "u")
    assert code == 0, err
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert not s["judged"] and s["judge"]["name"] is None and "domain" in s["judge"]["absent"]
    assert set(s["refused"]) == {"exemplar", "interfacegan"}
    assert set(s["directions"]) == {"ganspace/0", "ganspace/1", "sefa/0", "sefa/1"}
    assert all(d["concept"] is None and "slope" not in d for d in s["directions"].values())
    assert (tmp_path / "u" / "grid_sefa.png").exists() and not (tmp_path / "u" / "entanglement.png").exists()
    assert "not judged" in text
    code, _, err = cli("directions", "--model-def", f"{model_def}:pt", "--concepts", "window", "--out", tmp_path / "v")
    assert code == 2 and "need a concept instrument" in err


def test_sefa_refused_with_the_reason_when_the_first_layer_does_not_read_z(cli, tmp_path, model_def):
    code, _, err = cli("directions", "--model-def", f"{model_def}:squashed", "--n-find", "60", "--components", "2",
                       "--eval-samples", "8", "--grid-rows", "2", "--out", tmp_path / "s")
    assert code == 0, err
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert "does not take z itself" in s["refused"]["sefa"] and "ganspace/0" in s["directions"]


def test_no_hooks_left_and_model_mode_kept():
    from gan_viz.hooks import count_hooks

    G = seeded(PTGenerator(nz=16), 3).train()
    S = Subject.from_modules(G, None, 16)
    G.train()
    z = S.sample_z(40, torch.Generator().manual_seed(0))
    r = DR.compute_directions(S, z, None, (), (), None, z[:4], DR.Settings(methods=("ganspace", "sefa"), components=2,
                                                                        grid_rows=2, steps=3))
    assert count_hooks(G) == 0 and G.training
    assert r.keys == ("ganspace/0", "ganspace/1", "sefa/0", "sefa/1") and r.slopes is None


def test_latent_walk_along_a_direction_from_the_arrays(cli, tmp_path):
    assert _tiny(cli, tmp_path / "d", "--methods", "interfacegan")[0] == 0
    spec = f"{tmp_path / 'd' / 'arrays.npz'}:window/interfacegan"
    code, _, err = cli("latent-walk", "--direction", spec, "--points", "3", "--steps", "2", "--no-video",
                       "--out", tmp_path / "w")
    assert code == 0, err
    a = np.load(tmp_path / "w" / "arrays.npz")
    d = np.load(tmp_path / "d" / "arrays.npz")["window/interfacegan"]
    steps = np.diff(a["anchors"], axis=0)  # (2, nz): equal steps along d
    np.testing.assert_allclose(steps / np.linalg.norm(steps, axis=1, keepdims=True), np.stack([d, d]), atol=1e-5)
    assert str(a["interp"]) == "linear"
    code, _, err = cli("latent-walk", "--direction", f"{tmp_path / 'd' / 'arrays.npz'}:nope", "--out", tmp_path / "x")
    assert code == 2 and "window/interfacegan" in err and len(err.strip().splitlines()) == 1


def test_a_users_segmenter_without_a_second_one_judges_itself_and_says_so(cli, tmp_path, model_def):
    seg = tmp_path / "seg.py"
    seg.write_text("def build():\n    return {'segment': lambda x: (x[:, 0] > 0).long(), 'classes': ['rest', 'red']}\n")
    code, text, err = cli("directions", "--model-def", f"{model_def}:pt", "--segmenter", f"{seg}:build",
                          "--n-find", "60", "--components", "2", "--eval-samples", "8", "--grid-rows", "2",
                          "--out", tmp_path / "j")
    assert code == 0, err
    s = json.loads((tmp_path / "j" / "summary.json").read_text())
    assert s["judge"]["is_selecting_instrument"] is True and "THE JUDGE IS THE SELECTING INSTRUMENT" in s["judge_note"]
    assert s["concepts_asked"] == ["red"] and "red/interfacegan" in s["directions"]
    assert "THE JUDGE IS THE SELECTING INSTRUMENT" in text
