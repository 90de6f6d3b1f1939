"""Requests sized before the work starts: one line naming the option and the largest value that fits."""

import re

import numpy as np
import pytest
import torch

from gan_viz import memory
from gan_viz.errors import UserError


def test_require_names_the_largest_value_that_fits_and_that_value_fits():
    with pytest.raises(UserError) as e:
        memory.require("--images", 5000, per_unit=3e6, what="activations", fixed=1e8, available=2e9)
    msg = str(e.value)
    assert msg.startswith("--images 5000 needs about 15.1 GB") and "\n" not in msg
    largest = int(re.search(r"the largest --images that fits is (\d+)", msg).group(1))
    memory.require("--images", largest, per_unit=3e6, what="activations", fixed=1e8, available=2e9)
    with pytest.raises(UserError):
        memory.require("--images", largest + 1, per_unit=3e6, what="activations", fixed=1e8, available=2e9)
    with pytest.raises(UserError, match="even one does not fit"):
        memory.require("--n", 1, per_unit=1e12, what="x", available=1e9)


def test_available_memory_is_positive_and_the_override_is_read(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    assert memory.available_bytes() > 2 ** 26
    monkeypatch.setenv(memory.ENV, "64")
    assert memory.available_bytes() == 64 * 2 ** 20
    monkeypatch.setenv(memory.ENV, "lots")
    with pytest.raises(UserError, match="not a number"):
        memory.available_bytes()


def test_layer_bytes_counts_the_captured_outputs():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3, 2, 1))
    assert memory.layer_bytes(net, ["1", "2"], torch.zeros(1, 3, 16, 16)) == 4 * (8 * 16 * 16 + 4 * 8 * 8)


@pytest.mark.parametrize("argv,option", [
    (["samples", "--n", "200000"], "--n"),
    (["generate", "--n", "200000"], "--n"),
    (["filter-audit", "--images", "200000"], "--images"),
    (["guided-backprop", "--images", "200000"], "--images"),
    (["latent-walk", "--points", "20000"], "--points"),
    (["neighbors", "--n", "200000"], "--n"),
    (["arithmetic", "--samples-n", "2000000"], "--samples-n"),
    (["arithmetic", "--draws", "2000000"], "--draws"),
    (["checkerboard", "--n", "200000"], "--n"),
    (["evaluate", "--n", "200000"], "--n"),
])
def test_commands_refuse_a_count_that_cannot_fit_before_writing(tmp_path, monkeypatch, cli, argv, option):
    monkeypatch.setenv(memory.ENV, "800")  # the fixed costs (held-out images, the sample sheet) of a 64x64 model fit
    out = tmp_path / "o"
    code, _, err = cli(*argv, "--out", out)
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert f"{option} " in line and "largest" in line and "Traceback" not in err, err
    assert not (out / "summary.json").exists() and not (out / "sample_0000.png").exists()


def test_analogy_pixel_means_one_draw_at_a_time_equal_the_whole_tensor():
    """The streamed pixel-space analogy (one draw at a time) equals the (draws, T, k, C, H, W) formula."""
    g = torch.Generator().manual_seed(0)
    sheet = torch.rand(40, 3, 8, 8, generator=g) * 2 - 1
    ctrl = np.random.default_rng(0).integers(0, 40, (6, 3, 3))
    coefs = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    whole = (coefs[None, :, None, None, None] * sheet.double()[torch.from_numpy(ctrl)].mean(2)).sum(1)
    streamed = torch.stack([(coefs[:, None, None, None] * sheet[torch.from_numpy(c)].double().mean(1)).sum(0)
                            for c in ctrl])
    assert torch.allclose(whole, streamed, atol=1e-12)
