"""gan-viz samples: PNGs to annotate, an indexed contact sheet, a manifest (index, file, z)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from gan_viz.boxes import load_manifest
from gan_viz.checkpoint import save_checkpoint
from gan_viz.images import to_uint8
from gan_viz.models import build_generator


@pytest.fixture
def ckpt(tmp_path, tiny_cfg):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "g.pt", tiny_cfg, build_generator(tiny_cfg), None)


def test_samples_writes_pngs_sheet_and_manifest(cli, ckpt, tmp_path, tiny_cfg):
    out = tmp_path / "s"
    code, stdout, err = cli("samples", "--ckpt", ckpt, "--n", "7", "--seed", "3", "--columns", "4", "--out", out)
    assert code == 0, err
    man = load_manifest(out / "manifest.json")
    assert man.files == tuple(f"sample_{i:04d}.png" for i in range(7)) and man.scale == 1
    assert man.z.shape == (7, tiny_cfg.nz) and np.array_equal(man.z, np.load(out / "z.npy"))
    raw = json.loads((out / "manifest.json").read_text())
    assert [s["index"] for s in raw["samples"]] == list(range(7))
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet.shape[1] > 4 * 96 and sheet.shape[0] > 2 * 96  # 4 columns, 2 rows of enlarged tiles
    assert (out / "boxes_template.csv").read_text().startswith("file,label,x0,y0,x1,y1")
    from gan_viz.checkpoint import load_checkpoint

    G = load_checkpoint(ckpt).G
    with torch.no_grad():
        want = to_uint8(G(torch.from_numpy(man.z)))
    for i, f in enumerate(man.files):  # every PNG is G(z) of its manifest entry
        png = cv2.imread(str(out / f))[:, :, ::-1]
        assert np.array_equal(png, want[i])
    assert "manifest.json" in stdout


def test_samples_scale_and_same_seed(cli, ckpt, tmp_path):
    for name in ("a", "b"):
        assert cli("samples", "--ckpt", ckpt, "--n", "3", "--scale", "4", "--out", tmp_path / name)[0] == 0
    png = cv2.imread(str(tmp_path / "a" / "sample_0002.png"))
    assert png.shape == (64, 64, 3)  # 16px samples written 4x larger
    assert np.array_equal(png[::4, ::4], png[1::4, 1::4])  # nearest neighbour blocks
    assert np.array_equal(png, cv2.imread(str(tmp_path / "b" / "sample_0002.png")))
    assert load_manifest(tmp_path / "a" / "manifest.json").scale == 4


@pytest.mark.parametrize("args, msg", [(["--n", "0"], "--n 0"), (["--scale", "0"], "--scale"),
                                       (["--scale", "99"], "too large")])
def test_samples_bad_input(cli, ckpt, tmp_path, args, msg):
    code, _, err = cli("samples", "--ckpt", ckpt, *args, "--out", tmp_path / "never")
    assert code == 2 and msg in err
    assert not (tmp_path / "never").exists()


def test_samples_needs_a_generator(cli, tmp_path, tiny_cfg):
    from gan_viz.models import build_discriminator

    d_only = save_checkpoint(tmp_path / "d.pt", tiny_cfg, None, build_discriminator(tiny_cfg))
    code, _, err = cli("samples", "--ckpt", d_only, "--out", tmp_path / "x")
    assert code == 2 and "no generator" in err
