"""The filter audit: Network Dissection IoU, no-mask measures, weights, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_viz.analyses import filter_audit as fa
from gan_viz.sources import ImageSource
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator


def test_feature_layers_are_the_hidden_block_responses():
    cfg = ModelConfig(image_size=32, ndf=4, ngf=4, nz=4)
    assert fa.feature_layers(build_discriminator(cfg)) == ["lrelu1", "lrelu2", "lrelu3"]
    assert fa.feature_layers(build_generator(cfg)) == ["relu1", "relu2", "relu3"]
    assert fa.feature_layers(build_generator(cfg.replace(g_upsample="nearest-conv"))) == ["relu1", "relu2", "relu3"]


def _planted():
    """4 images 8x8, class 1 = a 2x2 square; filter 0 fires on it, filter 1 everywhere else."""
    g = torch.Generator().manual_seed(0)
    cm = torch.zeros(4, 8, 8, dtype=torch.long)
    a = torch.rand(4, 2, 8, 8, generator=g) * 0.5  # background in [0, 0.5)
    for i, (r, c) in enumerate([(0, 0), (3, 4), (6, 6), (2, 1)]):
        cm[i, r:r + 2, c:c + 2] = 1
        a[i, 0, r:r + 2, c:c + 2] = 2 + torch.rand(2, 2, generator=g)
        a[i, 1] += 1
        a[i, 1, r:r + 2, c:c + 2] = -1
    return a, cm


def test_dissect_planted_detector_by_hand():
    a, cm = _planted()
    tf = 17 / 256  # 17th largest of filter 0 = the largest background value: the mask is the squares
    d = fa.dissect(a, cm, 2, top_fraction=tf)
    iou = d.iou
    assert iou[0, 1] == pytest.approx(1.0) and iou[0, 0] == pytest.approx(0.0)
    assert iou[1, 1] == pytest.approx(0.0) and 0 < iou[1, 0] < 0.1
    assert list(fa.label_filters(iou, 0.04)) == [1, 0] and list(fa.label_filters(iou, 0.5)) == [1, -1]
    np.testing.assert_allclose(d.class_share, [240 / 256, 16 / 256])
    np.testing.assert_allclose(d.mask_fraction, [16 / 256, 16 / 256])  # strictly above the 17th largest
    np.testing.assert_allclose(d.precision, [[0, 1], [1, 0]])
    np.testing.assert_allclose(d.lift[0, 1], 16.0)
    # filter 1 lies wholly on class 0 but class 0 is 94% of the pixels: lift 1.07 < 2, no precision label
    assert list(fa.precision_labels(d)) == [1, -1]
    d2 = fa.dissect(a, cm, 2, top_fraction=tf, chunk_elems=64)  # one image per chunk
    np.testing.assert_allclose(d.iou, d2.iou, atol=1e-6)
    np.testing.assert_allclose(d.threshold, d2.threshold)


def test_dissect_upsamples_to_the_mask_size():
    a, cm = _planted()
    small = torch.nn.functional.avg_pool2d(a, 2)  # (4, 2, 4, 4): the layer is coarser than the image
    iou = fa.dissect(small, cm, 2, top_fraction=0.1).iou
    assert iou.shape == (2, 2) and iou[0, 1] > 0.2 and iou[0, 1] > 3 * iou[1, 1]


def test_no_mask_measures_planted():
    a = torch.rand(5, 3, 4, 4) + 0.1  # filter 0: fires on all images alike
    a[:, 1] = -1.0  # filter 1: dead
    a[:, 2] = -1.0
    a[3, 2, 1, 1] = 5.0  # filter 2: one image only
    m = fa.no_mask_measures(a, k=2)
    assert list(m["dead"]) == [False, True, False]
    assert m["selectivity"][1] == 0 and m["selectivity"][2] == pytest.approx(1.0) and m["selectivity"][0] < 0.1
    assert m["top_index"][2, 0] == 3 and m["active_fraction"][2] == pytest.approx(1 / 80)


def test_weight_stats_and_first_layer_filters(tiny_cfg):
    G = fa.random_generator(tiny_cfg, 3)
    s = fa.weight_stats(G)
    assert set(s) == {"conv1", "conv2", "conv3"} and abs(s["conv2"]["std"] - 0.02) < 0.003
    assert fa.first_layer_filters(G, "G").shape == (8, 4, 4, 3)  # ngf filters stamping (4, 4, nc)
    assert fa.first_layer_filters(build_discriminator(tiny_cfg), "D").shape == (8, 4, 4, 3)


def test_generator_path_with_a_segmenter(tiny_cfg):
    torch.manual_seed(0)
    G = build_generator(tiny_cfg).eval()
    z = torch.randn(12, tiny_cfg.nz)
    seg = lambda images: (images[:, 0] > 0).long()  # noqa: E731 - two classes: dark, bright
    r = fa.compute_filter_audit(tiny_cfg, None, G, z=z, segment=seg, class_names=("dark", "bright"), k=3)
    names = [(a.name, a.network) for a in r.audits]
    assert names == [("G.relu1", "trained"), ("G.relu2", "trained"), ("G.relu1", "random"), ("G.relu2", "random")]
    assert all(a.iou.shape == (a.shape[0], 2) for a in r.audits) and r.class_names == ("dark", "bright")


# --- the command ---------------------------------------------------------------------------------

@pytest.fixture
def rooms_ckpt(tmp_path):
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=4, ndf=4)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "rooms.pt", cfg, build_generator(cfg), build_discriminator(cfg),
                           train_config={"dataset": "rooms"})


def test_cli_end_to_end_rooms(cli, rooms_ckpt, tmp_path):
    code, out, err = cli("filter-audit", "--ckpt", rooms_ckpt, "--images", "16", "--parser", "none",
                         "--out", tmp_path / "a")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(s["layers"]) == {"D.lrelu1", "D.lrelu2", "D.lrelu3", "G.relu1", "G.relu2", "G.relu3"}
    d3 = s["layers"]["D.lrelu3"]
    assert d3["trained"]["filters"] == 16 and "labelled" in d3["random"] and "labelled" not in s["layers"]["G.relu1"]["trained"]
    assert s["class_names"][3] == "window" and "rooms class maps" in s["sources"]["D"]
    z = np.load(tmp_path / "a" / "arrays.npz")
    assert z["D_lrelu3__trained__iou"].shape == (16, 10) and z["z"].shape == (16, 8)
    assert "window" in (tmp_path / "a" / "labels.md").read_text()
    assert "precision_labelled" in d3["trained"] and "Precision labels" in (tmp_path / "a" / "labels.md").read_text()
    for name in ("label_counts", "label_counts_precision", "selectivity", "first_layer_filters", "top_strips"):
        assert (tmp_path / "a" / f"{name}.png").stat().st_size > 0


def test_cli_user_masks(cli, rooms_ckpt, tmp_path):
    masks = np.zeros((10, 32, 32), np.int64)
    masks[:, 8:16, 8:16] = 1
    np.savez(tmp_path / "m.npz", masks=masks, class_names=np.array(["rest", "box"]))
    code, _, err = cli("filter-audit", "--ckpt", rooms_ckpt, "--nets", "D", "--images", "10",
                       "--masks", tmp_path / "m.npz", "--out", tmp_path / "o")
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["class_names"] == ["rest", "box"] and "G.relu1" not in s["layers"]


@pytest.mark.parametrize("extra, message", [
    (["--nets", "D,X"], "choose D, G"),
    (["--images", "1"], "at least 2"),
    (["--iou-threshold", "0"], "--iou-threshold"),
    (["--masks", "missing.npz"], "does not exist"),
    (["--source", "generated", "--masks", "MASKS"], "belong to real images"),
    (["--masks", "MASKS", "--images", "50"], "need (50 or more, 32, 32)"),
])
def test_cli_bad_input(cli, rooms_ckpt, tmp_path, extra, message):
    np.savez(tmp_path / "m.npz", masks=np.zeros((10, 32, 32), np.int64), class_names=np.array(["a"]))
    extra = [str(tmp_path / "m.npz") if e == "MASKS" else e for e in extra]
    code, _, err = cli("filter-audit", "--ckpt", rooms_ckpt, "--nets", "D", "--images", "8", *extra,
                       "--out", tmp_path / "x")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_cli_refuses_mlp(cli, tmp_path):
    cfg = ModelConfig(arch="mlp", image_size=16, nz=4, mlp_hidden=8)
    p = save_checkpoint(tmp_path / "mlp.pt", cfg, build_generator(cfg), build_discriminator(cfg))
    code, _, err = cli("filter-audit", "--ckpt", p, "--out", tmp_path / "x")
    assert code == 2 and "MLP" in err


def test_image_source_fetch_is_used_in_order(tiny_cfg):
    x = torch.randn(5, 3, 16, 16)
    src = ImageSource("real", "t", 5, lambda idx: x[torch.as_tensor(idx, dtype=torch.long)])
    batches = list(fa.batches_of(src.fetch, 5, 2, "t"))
    assert [len(b) for b in batches] == [2, 2, 1] and torch.equal(torch.cat(batches), x)
