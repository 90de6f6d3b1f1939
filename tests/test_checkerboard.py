"""Checkerboard scores: synthetic spectra, a planted uneven transposed conv, and the CLI."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import checkerboard as C
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator


def test_stride_peaks():
    assert C.stride_peaks(8, 2) == [(0, 4), (4, 0), (4, 4)]
    p4 = C.stride_peaks(16, 4)
    assert (0, 4) in p4 and (4, 4) in p4 and (0, 8) not in p4 and (8, 8) not in p4
    assert C.periods_for(32) == [2, 4, 8]


def test_scores_on_synthetic_images():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(64, 1, 32, 32, generator=g)
    white = C.image_scores(C.power_spectrum(noise), [2, 4, 8])
    assert all(0.7 < v < 1.4 for v in white.values()), white
    i, j = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker2 = ((-1.0) ** (i + j))[None, None]  # period 2 on both axes
    s = C.image_scores(C.power_spectrum(noise + 0.5 * checker2), [2, 4, 8])
    assert s["period_2"] > 10 and s["period_4"] < 1.5
    stripes4 = torch.cos(np.pi / 2 * j.float())[None, None]  # period 4 horizontally
    s = C.image_scores(C.power_spectrum(noise + 0.5 * stripes4), [2, 4, 8])
    assert s["period_4"] > 2 and s["period_2"] < 1.5


def test_axis_cross_is_not_a_checkerboard():
    # horizontal and vertical edges put energy on the frequency axes, not a checkerboard
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(64, 1, 32, 32)
    for k in range(64):
        r, c = torch.randint(4, 28, (2,), generator=g).tolist()
        x[k, 0, r:, :] += 1.0
        x[k, 0, :, c:] += 1.0
    s = C.image_scores(C.power_spectrum(x), [2, 4, 8])
    assert s["period_2"] < 1.5, s


class _OneLayerG(nn.Sequential):
    """z (N, 64) -> 8x8 map -> one stride-2 transposed conv -> (N, 1, 16, 16)."""

    def __init__(self, kernel: torch.Tensor):
        super().__init__(OrderedDict([("unflatten", nn.Unflatten(1, (1, 8, 8))),
                                      ("conv", nn.ConvTranspose2d(1, 1, 4, 2, 1, bias=False))]))
        with torch.no_grad():
            self.conv.weight.copy_(kernel.view(1, 1, 4, 4))


def test_planted_uneven_kernel_scores_high_and_even_kernel_does_not():
    # positive inputs, like ReLU activations: uneven taps then modulate their mean
    z = torch.rand(128, 64, generator=torch.Generator().manual_seed(2)) + 0.5
    one_phase = torch.zeros(4, 4)
    one_phase[0::2, 0::2] = 1.0  # only even output pixels receive taps: a checkerboard
    uneven = C.compute_checkerboard(_OneLayerG(one_phase), z)
    even = C.compute_checkerboard(_OneLayerG(torch.ones(4, 4)), z)
    assert uneven.layers == ["conv"] and uneven.per_layer["conv"]["resolution"] == 16
    assert uneven.per_layer["conv"]["score"] > 5
    assert even.per_layer["conv"]["score"] < 1.5
    assert uneven.generated["period_2"] > 5 > even.generated["period_2"]


@pytest.mark.parametrize("up, expected", [("transposed", ["conv2", "conv3"]), ("nearest-conv", ["conv2", "conv3"])])
def test_upsampling_layers_of_both_generators(tiny_cfg, up, expected):
    G = build_generator(tiny_cfg.replace(g_upsample=up))
    assert C.upsampling_layers(G) == expected
    r = C.compute_checkerboard(G, torch.randn(6, tiny_cfg.nz), batch_size=4)
    assert set(r.per_layer) == set(expected) and r.spec_generated.shape == (16, 16)
    assert [r.per_layer[k]["image_period"] for k in expected] == [4, 2]


def _ckpt(path, dataset):
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    extra = {"train_config": {"dataset": dataset}} if dataset else {}
    return save_checkpoint(path, cfg, build_generator(cfg), build_discriminator(cfg), step=10, **extra)


def test_cli_with_rooms(cli, tmp_path):
    ck = _ckpt(tmp_path / "m.pt", "rooms")
    out = tmp_path / "out"
    code, stdout, err = cli("checkerboard", "--ckpt", ck, "--n", "12", "--device", "cpu", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    cb = s["checkerboard"]
    assert set(cb) == {"generated", "real", "per_layer"} and set(cb["real"]) == {"period_2", "period_4", "period_8"}
    assert set(cb["per_layer"]) == {"conv2", "conv3", "conv4"} and s["dataset"] == "rooms"
    arrays = np.load(out / "arrays.npz")
    assert arrays["z"].shape == (12, 8) and arrays["spec_real"].shape == (32, 32)
    assert (out / "checkerboard_spectra.pdf").exists() and (out / "checkerboard_layers.png").exists()


def test_cli_requires_dataset_when_checkpoint_lacks_it(cli, tmp_path):
    ck = _ckpt(tmp_path / "m.pt", None)
    out = tmp_path / "out"
    code, _, err = cli("checkerboard", "--ckpt", ck, "--n", "4", "--out", out)
    assert code == 2 and "--dataset" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = cli("checkerboard", "--ckpt", ck, "--n", "4", "--no-real", "--device", "cpu", "--out", out)
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["checkerboard"]["real"] is None


def test_upsampling_layers_and_runner_on_user_generators(tmp_path):
    """Dotted layer names of any G; the runner reshapes z as the G takes it ((N, nz, 1, 1) here)."""
    import sys
    from pathlib import Path

    from gan_viz.analyses import registry
    from gan_viz.subject import Subject

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import user_models as um

    assert C.upsampling_layers(um.PTGenerator()) == ["main.3", "main.6", "main.9"]
    assert C.upsampling_layers(um.NestedGenerator()) == ["blocks.0.conv", "blocks.1.conv", "blocks.2.conv"]
    S = Subject.from_modules(um.seeded(um.PTGenerator(nz=8, ngf=4)), nz=8)
    s = registry.run("checkerboard", registry.Context(S, tmp_path / "cb"), n=6, no_real=True)
    assert set(s["checkerboard"]["per_layer"]) == {"main.3", "main.6", "main.9"}
    assert [s["checkerboard"]["per_layer"][k]["image_period"] for k in ("main.3", "main.6", "main.9")] == [8, 4, 2]
    assert s["checkerboard"]["real"] is None and s["g_upsample"] is None
    assert (tmp_path / "cb" / "checkerboard_layers.png").exists()
