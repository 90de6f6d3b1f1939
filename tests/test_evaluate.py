"""gan-viz evaluate end to end on a tiny model: outputs, determinism, feature spaces, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_viz.analyses.evaluate import compute_evaluate
from gan_viz.checkpoint import save_checkpoint
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator

EXTRACTOR = '''
import torch
def build():
    def features(x):                      # (N, C, H, W) in [-1, 1] -> (N, 6)
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)
    return features
def wrong():
    return lambda x: x.mean((1, 2, 3))    # (N,): not (N, F)
'''
FAST = ("--bootstraps", "10", "--kid-subsets", "5", "--device", "cpu", "--dataset", "fake")


@pytest.fixture
def ckpt(tmp_path, tiny_cfg):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "m.pt", tiny_cfg, build_generator(tiny_cfg), build_discriminator(tiny_cfg),
                           step=10, train_config={"dataset": "fake"})


@pytest.fixture
def extractor(tmp_path):
    p = tmp_path / "feats.py"
    p.write_text(EXTRACTOR)
    return p


def test_end_to_end_outputs_and_same_seed_same_output(cli, ckpt, extractor, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        code, stdout, err = cli("evaluate", "--ckpt", ckpt, "--n", "40", "--features", f"D,{extractor}:build",
                                "--out", out, *FAST)
        assert code == 0, err
        outs.append(out)
    out = outs[0]
    for f in ("evaluate_metrics.png", "evaluate_metrics.pdf", "summary.json", "arrays.npz", "run.json"):
        assert (out / f).is_file(), f
    s = json.loads((out / "summary.json").read_text())
    assert s["spaces"] == ["D", f"{extractor}:build"] and s["n"] == 40 and s["dims"][f"{extractor}:build"] == 6
    for space in s["spaces"]:
        for m in ("frechet", "kid", "precision", "recall", "density", "coverage"):
            e = s["evaluate"][space][m]
            assert set(e) == {"model", "control"} and e["model"]["low"] is not None, (space, m)
    assert "D frechet: model" in stdout and "real vs real" in stdout
    assert (outs[1] / "summary.json").read_text() == (out / "summary.json").read_text()
    with np.load(out / "arrays.npz") as a, np.load(outs[1] / "arrays.npz") as b:
        assert a["space0_generated"].shape == (40, s["dims"]["D"])
        assert not set(a["real_a_indices"]) & set(a["real_b_indices"])  # two disjoint real sets of N each
        assert len(a["real_a_indices"]) == len(a["real_b_indices"]) == 40
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k


def test_auto_records_why_the_parser_is_absent(cli, ckpt, tmp_path):
    out = tmp_path / "o"
    code, stdout, err = cli("evaluate", "--ckpt", ckpt, "--n", "30", "--out", out, *FAST)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["spaces"] == ["D"] and "rooms parser does not apply" in s["absent"]["parser"]
    assert "parser features: not measured" in stdout


@pytest.mark.parametrize("args, message", [
    (("--features", "inception"), "never downloaded"),
    (("--features", "parser"), "rooms parser does not apply"),
    (("--features", "D", "--d-pool", "4"), "needs more images than its"),
    (("--n", "1"), "--n must be at least 2"),
    (("--features", "nope"), "give auto, parser, D"),
])
def test_refusals_are_one_line_exit_2(cli, ckpt, tmp_path, args, message):
    out = tmp_path / "r"
    code, _, err = cli("evaluate", "--ckpt", ckpt, "--n", "30", "--out", out, *FAST, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()  # nothing half-written


def test_user_extractor_of_the_wrong_shape_is_refused(cli, ckpt, extractor, tmp_path):
    code, _, err = cli("evaluate", "--ckpt", ckpt, "--features", f"{extractor}:wrong", "--out", tmp_path / "w", *FAST)
    assert code == 2 and "it must return (2, F)" in err


def test_compute_refuses_unequal_sets():
    rng = np.random.default_rng(0)
    with pytest.raises(UserError, match="same size"):
        compute_evaluate({"s": (rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), rng.normal(size=(10, 2)))})


def test_real_sets_shrink_to_half_the_split_for_model_and_control(cli, tmp_path, tiny_cfg):
    """A folder of 14 images: 7 per real set, so 7 generated too (said in the notes), never 14 vs 7."""
    from gan_viz.io import save_png

    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(14):
        save_png(root / f"{i}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "m.pt", tiny_cfg, build_generator(tiny_cfg), build_discriminator(tiny_cfg))
    out = tmp_path / "f"
    code, stdout, err = cli("evaluate", "--ckpt", ck, "--dataset", "folder", "--data-root", root, "--n", "50",
                            "--features", "D", "--d-pool", "1", "--bootstraps", "5", "--device", "cpu",
                            "--out", out)
    # D features (24 dims) with 7 images per set: the Frechet distance refuses
    assert code == 2 and "has 7" in err
    extr = tmp_path / "e.py"
    extr.write_text(EXTRACTOR.replace("x.std((2, 3))", "x.std((2, 3))[:, :1]"))  # 4 dims < 7 images
    code, stdout, err = cli("evaluate", "--ckpt", ck, "--dataset", "folder", "--data-root", root, "--n", "50",
                            "--features", f"{extr}:build", "--bootstraps", "5", "--device", "cpu", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["n"] == 7 and "7 images per set used of the 50 asked" in s["notes"][0]


def test_parser_space_only_where_the_rooms_parser_applies(cli, tmp_path):
    """An untrained 32x32 rooms DCGAN fails the parser's applicability check: auto leaves the parser's
    space out with that reason and --features parser refuses with it."""
    from gan_viz.config import ModelConfig

    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "r.pt", cfg, build_generator(cfg), build_discriminator(cfg), step=1,
                         train_config={"dataset": "rooms"})
    out = tmp_path / "o"
    code, stdout, err = cli("evaluate", "--ckpt", ck, "--n", "60", "--bootstraps", "5", "--device", "cpu",
                            "--out", out)  # D's 8 + 16 + 32 = 56 dimensions: N 60
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["spaces"] == ["D"] and s["dataset"] == "rooms" and s["dims"]["D"] == 56
    assert "does not fit this model's images" in s["absent"]["parser"]
    code, _, err = cli("evaluate", "--ckpt", ck, "--n", "30", "--features", "parser", "--device", "cpu",
                       "--out", tmp_path / "p")
    assert code == 2 and "--features parser: the rooms parser does not fit" in err


def test_a_model_def_without_D_needs_an_extractor(cli, extractor, tmp_path):
    md = tmp_path / "md.py"
    md.write_text("from torch import nn\n"
                  "def build():\n"
                  "    G = nn.Sequential(nn.Linear(4, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))\n"
                  "    return {'G': G, 'nz': 4}\n")
    code, _, err = cli("evaluate", "--model-def", f"{md}:build", "--out", tmp_path / "a", *FAST)
    assert code == 2 and "no feature space applies" in err and "holds no discriminator" in err
    assert "--features FILE.py:FUNC" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "b"
    code, _, err = cli("evaluate", "--model-def", f"{md}:build", "--features", f"{extractor}:build", "--n", "20",
                       "--out", out, *FAST)
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["spaces"] == [f"{extractor}:build"]


def test_inception_only_from_local_weights(tmp_path):
    """A torchvision inception_v3 state dict on disk (random weights, saved in half precision to keep the test
    small) gives (N, 2048) features of any image size; pytorch-fid's 1008-class layout and another layout are
    refused in one line."""
    import torchvision

    from gan_viz.features import load_inception

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    path = tmp_path / "inception.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, path)
    extract = load_inception(path)
    f = extract(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert f.shape == (2, 2048) and np.isfinite(f).all()
    assert extract(torch.rand(1, 1, 16, 16)).shape == (1, 2048)  # grayscale repeated to RGB
    sd = torch.load(path, weights_only=True)
    torch.save({**sd, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, tmp_path / "fid.pt")
    with pytest.raises(UserError, match="pytorch-fid's FID Inception"):
        load_inception(tmp_path / "fid.pt")
    torch.save({"main.0.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="does not fit torchvision's inception_v3"):
        load_inception(tmp_path / "other.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_inception(tmp_path / "nope.pt")


def test_inception_weights_without_inception_features_is_refused(cli, ckpt, tmp_path):
    code, _, err = cli("evaluate", "--ckpt", ckpt, "--inception-weights", tmp_path / "w.pt", "--out", tmp_path / "o",
                       *FAST)
    assert code == 2 and "does not name inception" in err


def test_without_bootstraps_the_figure_and_lines_have_no_interval():
    from gan_viz.analyses.evaluate import plot_evaluate, summary_of
    from gan_viz.analyses.evaluate.summary import lines

    rng = np.random.default_rng(0)
    r = compute_evaluate({"s": tuple(rng.normal(size=(30, 3)) for _ in range(3))}, bootstraps=0)
    fig = plot_evaluate(r)
    assert len(fig.axes) == 6 and r.model["s"]["kid"]["low"] is None
    s = summary_of(r)
    assert s["n"] == 30 and s["dims"] == {"s": 3} and "[" not in lines(s)[0]
    assert s["sources"]["density"] == "prdc.compute_prdc (k=5)"


def test_n_at_or_below_the_dimension_is_refused_before_real_data_is_read(cli, ckpt, tmp_path):
    code, _, err = cli("evaluate", "--ckpt", ckpt, "--n", "30", "--features", "D", "--d-pool", "4", "--dataset",
                       "folder", "--data-root", tmp_path / "no_such_folder", "--device", "cpu", "--out", tmp_path / "o")
    assert code == 2 and "needs more images than its 384 dimensions, and has 30" in err  # (8 + 16) x 4 x 4
