"""gan-viz filters: planted dead, duplicate and oscillating filters are flagged; bad runs fail cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_viz.analyses import filters as F
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator

DEAD = {"G.conv2": [3], "D.conv2": [5]}
DUPS = {"G.conv2": (0, 1), "D.conv1": (2, 7)}
OSC = {"G.conv1": [4]}


@torch.no_grad()
def _plant(G, D, t: int, drift: dict) -> None:
    """Checkpoint t: every analysed weight drifts steadily; then plant the three defects."""
    for net, tag in ((G, "G"), (D, "D")):
        for conv, _ in F.analysed_layers(net):
            net.get_submodule(conv).weight.add_(t * drift[f"{tag}.{conv}"])
    G.conv1.weight[:, 4] += (-1) ** t * 0.05 * drift["osc"]  # back and forth: oscillating
    G.conv2.weight[:, 3] = 0  # dead (ConvTranspose2d filters are weight[:, j])
    D.conv2.weight[5] = 0  # dead (Conv2d filters are weight[j])
    G.conv2.weight[:, 1] = G.conv2.weight[:, 0]  # duplicate, with its BatchNorm too
    G.bn2.weight[1], G.bn2.bias[1] = G.bn2.weight[0], G.bn2.bias[0]
    D.conv1.weight[7] = D.conv1.weight[2]


@pytest.fixture
def run_dir(tmp_path, tiny_cfg):
    """A fake training run: 4 numbered checkpoints with planted defects, and a last.pt to skip."""
    torch.manual_seed(0)
    G0, D0 = build_generator(tiny_cfg), build_discriminator(tiny_cfg)
    g = torch.Generator().manual_seed(1)
    drift = {}
    for net, tag in ((G0, "G"), (D0, "D")):
        for conv, _ in F.analysed_layers(net):
            w = net.get_submodule(conv).weight
            drift[f"{tag}.{conv}"] = 0.01 * torch.randn(w.shape, generator=g)
    drift["osc"] = torch.randn(G0.conv1.weight[:, 4].shape, generator=g)
    for t in range(4):
        G, D = build_generator(tiny_cfg), build_discriminator(tiny_cfg)
        G.load_state_dict(G0.state_dict())
        D.load_state_dict(D0.state_dict())
        _plant(G, D, t, drift)
        save_checkpoint(tmp_path / "checkpoints" / f"step_{(t + 1) * 100:08d}.pt", tiny_cfg, G, D, step=(t + 1) * 100)
    other = ModelConfig(image_size=32, nz=4, ngf=4, ndf=4)  # would fail the one-config check if read
    save_checkpoint(tmp_path / "checkpoints" / "last.pt", other, build_generator(other), build_discriminator(other))
    return tmp_path


def test_find_checkpoints_sorts_and_skips_last(run_dir):
    found = F.find_checkpoints(run_dir)
    assert [s for s, _ in found] == [100, 200, 300, 400]
    assert all(p.name != "last.pt" for _, p in found)


def test_planted_defects_are_flagged(run_dir):
    r = F.compute_filters(F.find_checkpoints(run_dir), n=32, seed=0)
    assert r.layers == ["G.conv1", "G.conv2", "D.conv1", "D.conv2"]
    for name in r.layers:
        assert r.dead[name][-1] == DEAD.get(name, []), name
        expected = sorted(DUPS[name]) if name in DUPS else []
        assert r.duplicate[name][-1] == expected, name
        assert r.oscillating[name] == OSC.get(name, []), name
    i, j, cos_w, _ = r.pairs["G.conv2"][-1][0]
    assert (i, j) == (0, 1) and cos_w > 0.999
    c = F.counts(r, "oscillating")
    assert np.isnan(c[:2]).all() and (c[2:, r.layers.index("G.conv1")] == 1).all()


def test_helpers():
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    cos = F.cosine_matrix(x)
    assert cos[0, 1] == pytest.approx(1.0) and cos[2].abs().sum() == 0
    w0 = torch.zeros(2, 3)
    w1 = torch.tensor([[1.0, 0, 0], [1.0, 0, 0]])
    w2 = torch.tensor([[0.0, 0, 0], [2.0, 0, 0]])
    np.testing.assert_allclose(F.reversal_cos(w0, w1, w2, 1e-3), [-1.0, 1.0])
    act = torch.randn(10, 3, 4, 4)
    act[:, 1] = 0.7  # constant over samples: dead
    std, dead, corr = F.activation_stats(act, 1e-3)
    assert dead.tolist() == [False, True, False] and corr[1].abs().sum() == 0


def test_cli_writes_summary(cli, run_dir, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = cli("filters", "--run", run_dir, "--n", "16", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["checkpoints"] == 4 and s["steps"] == [100, 200, 300, 400]
    assert s["flagged"]["G.conv2"]["dead"] == [3] and s["flagged"]["D.conv1"]["duplicate"] == [2, 7]
    assert s["flagged"]["G.conv1"]["oscillating"] == [4]
    assert s["flagged_at_last_checkpoint"] == {"dead": 2, "duplicate": 4, "oscillating": 1}
    arrays = np.load(out / "arrays.npz")
    assert arrays["count_dead"].shape == (4, 4) and arrays["z"].shape == (16, 8)
    assert (out / "filters_over_training.png").exists() and (out / "filters_similarity.pdf").exists()


def test_bad_runs(cli, tmp_path):
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    for run in (tmp_path / "empty", tmp_path / "missing"):
        out = tmp_path / "out"
        code, _, err = cli("filters", "--run", run, "--out", out)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not out.exists()
    code, _, err = cli("filters", "--run", tmp_path / "empty", "--dup-threshold", "1.5", "--out", tmp_path / "o")
    assert code == 2 and "dup-threshold" in err
