"""Guided backprop of D (Fig. 5): the rules, the batching, the baseline, the command."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import guided_backprop as gb
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz import layers as L
from gan_viz.hooks import count_hooks, forward_to
from gan_viz.models import build_discriminator, build_generator
from gan_viz.sources import ImageSource
from gan_viz.units import UnitCone, cone_windows, receptive_chain, scan_top


def _busy(net: nn.Module, seed: int = 0) -> nn.Module:
    """Weights and BN statistics far from the init, so every rule takes effect (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.3)
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=g) * 0.3)  # seeded too
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
    return net.eval()


@pytest.fixture
def D(tiny_cfg):
    return _busy(build_discriminator(tiny_cfg))


@pytest.fixture
def rows():
    """Six rows, several per filter, each its own unit of D.lrelu2 (16x16 input -> 4x4 map)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 16, 16, generator=g) * 2 - 1
    f = torch.tensor([0, 0, 3, 3, 7, 15])
    pos = torch.tensor([[0, 0], [1, 2], [2, 3], [3, 3], [0, 1], [2, 0]])
    return x, f, pos


def manual_rule(net, layer, x, f, pos, rule):
    """Independent reference: walk the children backwards, applying the rule by hand (no hooks, no captum)."""
    saved, h = [], x
    for name, m in net.named_children():
        inp = h.detach().requires_grad_(True)
        h = m(inp.clone() if getattr(m, "inplace", False) else inp)
        saved.append((m, inp, h))
        if name == layer:
            break
    g = torch.zeros_like(h)
    g[torch.arange(len(x)), f, pos[:, 0], pos[:, 1]] = 1.0
    for m, inp, out in reversed(saved):
        if isinstance(m, (nn.ReLU, nn.LeakyReLU)) and rule != "plain":
            a = getattr(m, "negative_slope", 0.0) if rule == "leaky" else 0.0
            g = g.clamp(min=0) * torch.where(inp > 0, torch.ones_like(inp), torch.full_like(inp, a))
        else:
            (g,) = torch.autograd.grad(out, inp, g)
    return g.detach()


# --- layers -----------------------------------------------------------------------------

def test_default_layer_is_computed_from_the_names():
    for size, want in ((16, "lrelu2"), (32, "lrelu3"), (64, "lrelu4")):
        assert L.default_layer(build_discriminator(ModelConfig(image_size=size, ndf=4)), "D") == want
    with pytest.raises(UserError, match="fewer than two convolution"):
        L.default_layer(build_discriminator(ModelConfig(arch="mlp", image_size=16, mlp_hidden=8)), "D")


def test_check_layer_rejects_unknown_other_net_and_non_conv(D):
    assert L.check_layer(D, "D.bn2", "D")[0] == "bn2" and L.check_layer(D, "conv1", "D")[0] == "conv1"
    with pytest.raises(UserError, match="valid layers are"):
        L.check_layer(D, "lrelu9", "D")
    with pytest.raises(UserError, match="not convolutional"):
        L.check_layer(D, "D.sigmoid", "D")
    with pytest.raises(UserError, match="give a D layer"):
        L.check_layer(D, "G.conv1", "D")


# --- the rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("rule", gb.RULES)
def test_batched_maps_equal_independent_autograd_of_the_rule(D, rows, rule):
    x, f, pos = rows
    got = gb.guided_maps(D, "lrelu2", x, f, pos, rule, batch_size=4, progress=False)
    want = manual_rule(D, "lrelu2", x, f, pos, rule)
    assert want.abs().max() > 0
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()


def test_guided_differs_from_plain_and_captum_alone_is_plain(D, rows):
    from captum.attr import NeuronGuidedBackprop

    x, f, pos = rows
    leaky = gb.guided_maps(D, "lrelu2", x, f, pos, "leaky", progress=False)
    relu = gb.guided_maps(D, "lrelu2", x, f, pos, "relu", progress=False)
    plain = gb.guided_maps(D, "lrelu2", x, f, pos, "plain", progress=False)
    for other in (relu, plain):
        assert (leaky - other).abs().max() > 0.05 * leaky.abs().max()
    # The pitfall: captum's own guided backprop rewires only nn.ReLU -> plain gradient on LeakyReLU.
    i = 2
    alone = NeuronGuidedBackprop(D, D.lrelu2).attribute(x[i:i + 1].clone().requires_grad_(),
                                                          neuron_selector=(int(f[i]), *pos[i].tolist()))
    assert torch.allclose(alone, plain[i:i + 1], atol=1e-6)
    assert not torch.allclose(alone, leaky[i:i + 1], atol=1e-3)


def test_batched_equals_one_captum_call_per_filter(D, rows):
    x, f, pos = rows
    for rule in gb.RULES:
        batched = gb.guided_maps(D, "lrelu2", x, f, pos, rule, batch_size=256, progress=False)
        loop = gb.guided_maps_per_filter(D, "lrelu2", x, f, pos, rule)
        assert (batched - loop).abs().max() <= 1e-5


def test_receptive_field_cones_give_the_full_image_maps(D, rows):
    x, f, pos = rows
    trunk, n_conv = receptive_chain(D, "lrelu2")
    assert n_conv == 2 and list(dict(trunk.named_children()))[-1] == "lrelu2"
    for rule in gb.RULES:
        full = gb.guided_maps(D, "lrelu2", x, f, pos, rule, cone=False, progress=False)
        cone = gb.guided_maps(D, "lrelu2", x, f, pos, rule, batch_size=2, progress=False)
        assert (full - cone).abs().max() <= 1e-6
    # unit (0, 0) of a 4x4 map on 16x16 images (stride 4) sees rows/cols 0..6 only
    assert full[0, :, 7:, :].abs().max() == 0 and full[0, :, :, 7:].abs().max() == 0
    other = nn.Sequential(OrderedDict(conv1=nn.Conv2d(3, 4, 3, 1, 1), lrelu1=nn.LeakyReLU(0.2)))
    assert receptive_chain(other, "lrelu1") is None and receptive_chain(D, "nope") is None


@pytest.mark.parametrize("size", [32, 64])
def test_unit_cone_gives_the_full_image_value_and_map_at_every_position(size):
    D = _busy(build_discriminator(ModelConfig(image_size=size, ndf=4)), seed=size)
    layer = L.default_layer(D, "D")  # lrelu3 (4x4 map, 22 px cone) / lrelu4 (4x4 map, 46 px cone)
    cone = UnitCone(*receptive_chain(D, layer), (size, size))
    assert cone.window == (22 if size == 32 else 46)
    pos = torch.cartesian_prod(torch.arange(4), torch.arange(4))  # corners, edges and the inside
    x = torch.rand(len(pos), 3, size, size, generator=torch.Generator().manual_seed(2)) * 2 - 1
    f = torch.arange(len(pos)) % 4
    windows, _ = cone_windows(x, cone.input_start(pos), cone.window)
    with torch.no_grad():
        full = forward_to(D, layer, x)[torch.arange(len(pos)), :, pos[:, 0], pos[:, 1]]
        # values reach ~40 here: float32 summation order (cone vs whole image) moves them by
        # ~1e-5 (seen on an AVX2 CPU); a wrong window or padding moves them by O(1)
        scale = float(full.abs().max())
        assert (cone(windows, pos)[:, :, 0, 0] - full).abs().max() <= 1e-6 * max(1.0, scale) * 10
    for rule in gb.RULES:
        got = gb.guided_maps(D, layer, x, f, pos, rule, batch_size=5, progress=False)
        want = gb.guided_maps(D, layer, x, f, pos, rule, cone=False, progress=False)
        assert want.abs().max() > 0 and (got - want).abs().max() <= 1e-5 * want.abs().max()


def test_relu_network_leaky_and_relu_rules_agree_plain_net_refuses():
    net = _busy(nn.Sequential(OrderedDict(c1=nn.Conv2d(3, 4, 3), r1=nn.ReLU(), c2=nn.Conv2d(4, 4, 3),
                                          r2=nn.ReLU(inplace=True), c3=nn.Conv2d(4, 1, 3))))
    x, f, pos = torch.randn(3, 3, 9, 9), torch.tensor([0, 1, 3]), torch.tensor([[0, 0], [2, 1], [4, 4]])
    a = gb.guided_maps(net, "r2", x, f, pos, "leaky", progress=False)
    b = gb.guided_maps(net, "r2", x, f, pos, "relu", progress=False)
    assert torch.equal(a, b) and torch.allclose(a, manual_rule(net, "r2", x, f, pos, "relu"), atol=1e-6)
    assert net.r2.inplace is True  # switched back after the body
    with pytest.raises(UserError, match="no nn.ReLU"):
        with gb.guided_rule(nn.Sequential(nn.Conv2d(3, 3, 1)), "leaky"):
            pass


def test_no_hooks_left_after_an_exception(D, rows):
    x, f, pos = rows
    with pytest.raises(RuntimeError, match="boom"):
        with gb.guided_rule(D, "leaky"):
            assert count_hooks(D) == 2  # lrelu1 and lrelu2 of the 16x16 D
            raise RuntimeError("boom")
    assert count_hooks(D) == 0
    with pytest.raises(IndexError):  # filter 99 does not exist: fails inside captum, mid-attribution
        gb.guided_maps(D, "lrelu2", x, torch.tensor([99] * 6), pos, progress=False)
    assert count_hooks(D) == 0
    gb.guided_maps(D, "lrelu2", x, f, pos, progress=False)
    assert count_hooks(D) == 0 and not D.training


def test_rule_validation(D):
    with pytest.raises(UserError, match="unknown rule"):
        with gb.guided_rule(D, "deconv"):
            pass


# --- scan, baseline, energy, display ---------------------------------------------------------

def _tensor_source(x):
    return ImageSource("generated", "test", len(x), lambda idx: x[torch.as_tensor(idx, dtype=torch.long)])


def test_scan_top_matches_brute_force(D):
    x = torch.randn(37, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    filters, k = [1, 4, 9], 5
    top = scan_top(D, "lrelu2", _tensor_source(x), filters, k, batch_size=8)
    with torch.no_grad():
        a = forward_to(D, "lrelu2", x)[:, filters].flatten(2)  # (N, F, 16)
    v = a.max(2).values  # (N, F)
    # scan_top ran in batches of 8, the brute force in one of 37: the activations may differ by float
    # error (0 on an AVX2 CPU, values up to 17), so two images (or two positions) whose values tie within
    # tol may swap. Each returned image must have its rank's brute-force value and each position the
    # image's maximum: exact wherever values are more than 2 tol apart (smallest gap here 1.7e-2).
    tol = 1e-5 * v.abs().max().item()
    for i in range(len(filters)):
        order = torch.argsort(v[:, i], descending=True)[:k]
        assert len(set(top.index[i].tolist())) == k
        torch.testing.assert_close(v[top.index[i], i], v[order, i], rtol=0, atol=tol)
        assert torch.allclose(top.values[i], v[order, i])
        flat = top.positions[i, :, 0] * 4 + top.positions[i, :, 1]
        torch.testing.assert_close(a[top.index[i], i, flat], v[top.index[i], i], rtol=0, atol=tol)


def test_random_baseline_is_seeded_paper_init(tiny_cfg):
    a, b, c = (gb.random_discriminator(tiny_cfg, s) for s in (5, 5, 6))
    assert torch.equal(a.conv2.weight, b.conv2.weight) and not torch.equal(a.conv2.weight, c.conv2.weight)
    w = torch.cat([m.weight.flatten() for m in a.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(a.bn2.weight.mean().item() - 1) < 0.02


def test_class_energy_by_hand():
    maps = np.zeros((2, 1, 2, 2), np.float32)
    maps[0, 0, 0, 0], maps[0, 0, 1, 1] = 3.0, 1.0  # energies 9 (class 1) and 1 (class 0)
    maps[1, 0, 0, 1] = 2.0  # all on class 2
    classmaps = np.array([[[1, 0], [0, 0]], [[0, 2], [0, 0]]])
    panel = gb.Panel(images=maps, filters=np.zeros(2, np.int64), image_index=np.arange(2),
                     positions=np.zeros((2, 2)), activations=np.zeros(2), maps=maps)
    e = gb.class_energy(panel, classmaps, ("wall", "bed", "window"), k=2)
    np.testing.assert_allclose(e.energy[0], [0.05, 0.45, 0.5])
    np.testing.assert_allclose(e.pixels[0], [0.75, 0.125, 0.125])
    np.testing.assert_allclose(e.object_energy, [0.95])
    assert e.lift[0, 1] == pytest.approx(3.6)


def test_display_scales():
    maps = np.stack([np.full((3, 2, 2), 0.5), np.full((3, 2, 2), -0.01)]).astype(np.float32)
    per_map = gb.display_maps(maps, "map")
    assert per_map[0].min() == 255 and per_map[1].max() == 0  # each map stretched to its own max
    shared = gb.display_maps(maps, "shared")
    assert shared[0].min() == 255 and 120 < shared[1].mean() < 128  # the weak map stays near grey


# --- the command ------------------------------------------------------------------------------

@pytest.fixture
def rooms_ckpt(tmp_path):
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=4, ndf=4)
    torch.manual_seed(0)
    G, D = build_generator(cfg), _busy(build_discriminator(cfg), 2)
    return save_checkpoint(tmp_path / "rooms.pt", cfg, G, D, train_config={"dataset": "rooms"}, step=7)


def test_cli_rooms_end_to_end_and_reproducible(cli, rooms_ckpt, tmp_path):
    args = ["guided-backprop", "--ckpt", rooms_ckpt, "--images", "12", "--top", "3", "--filters", "0,2,5"]
    code, out, err = cli(*args, "--out", tmp_path / "a")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["layer"] == "D.lrelu3" and s["filters"] == [0, 2, 5] and s["images"].startswith("real")
    assert "object_energy_fraction" in s["trained"] and set(s["trained"]["per_filter"]) == {"0", "2", "5"}
    z = np.load(tmp_path / "a" / "arrays.npz")
    assert z["images"].shape == z["maps"].shape == (2 * 3 * 3, 3, 32, 32) and z["images"].dtype == np.float32
    assert -1 <= z["images"].min() and z["images"].max() <= 1
    assert list(z["filters"][:9]) == [0, 0, 0, 2, 2, 2, 5, 5, 5] and z["activations"].shape == (18,)
    for name in ("guided_backprop", "guided_backprop_shared_scale", "top_images", "class_energy"):
        assert (tmp_path / "a" / f"{name}.png").stat().st_size > 0 and (tmp_path / "a" / f"{name}.pdf").exists()
    code, _, err = cli(*args, "--out", tmp_path / "b")
    assert code == 0, err
    z2 = np.load(tmp_path / "b" / "arrays.npz")
    assert all(np.array_equal(z[k], z2[k]) for k in z.files)


def _pt_examples_pair(folder, nz=6, ngf=4, ndf=4, nc=3):
    """netG/netD_epoch_3.pth as the PyTorch examples DCGAN writes them, at 32x32 (three blocks)."""
    G = nn.Sequential(nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                      nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
                      nn.LeakyReLU(0.2, inplace=True),
                      nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
                      nn.LeakyReLU(0.2, inplace=True),
                      nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    G, D = _busy(G, 3), _busy(D, 4)
    torch.save({f"main.{k}": v for k, v in G.state_dict().items()}, folder / "netG_epoch_3.pth")
    torch.save({f"main.{k}": v for k, v in D.state_dict().items()}, folder / "netD_epoch_3.pth")
    return D


def test_cli_pytorch_examples_checkpoint_matches_the_raw_network(cli, tmp_path):
    raw_D = _pt_examples_pair(tmp_path)
    code, out, err = cli("guided-backprop", "--ckpt", tmp_path / "netD_epoch_3.pth", "--images", "10", "--top", "2",
                         "--out", tmp_path / "o")
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["checkpoint_source"] == "pytorch-examples" and s["images"].startswith("generated")
    assert s["layer"] == "D.lrelu3" and s["filters"] == list(range(6))
    z = np.load(tmp_path / "o" / "arrays.npz")
    assert z["z"].shape == (10, 6)
    n = 12  # the trained rows: 6 filters x 2 images
    # the same maps on the untouched pt-examples Sequential (in-place LeakyReLU, child "7")
    want = gb.guided_maps(raw_D, "7", torch.from_numpy(z["images"][:n]), torch.from_numpy(z["filters"][:n]),
                          torch.from_numpy(z["positions"][:n]), progress=False)
    assert np.abs(want.numpy() - z["maps"][:n]).max() <= 1e-5
    assert raw_D[7].inplace and count_hooks(raw_D) == 0


@pytest.mark.parametrize("extra, message", [
    (["--filters", "0-4,20"], "valid: 0-15"),  # the tiny D.lrelu3 has 16 filters
    (["--filters", "14-16"], "selects nothing valid"),
    (["--layer", "D.nope"], "unknown layer"),
    (["--layer", "D.sigmoid"], "not convolutional"),
    (["--top", "9", "--images", "4"], "larger than --images"),
    (["--images", "0"], "at least 1"),
    (["--source", "real", "--images", "6000"], "has only 5000"),
])
def test_cli_bad_input_one_line_nothing_written(cli, rooms_ckpt, tmp_path, extra, message):
    code, out, err = cli("guided-backprop", "--ckpt", rooms_ckpt, *extra, "--out", tmp_path / "x")
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_cli_real_source_without_dataset_is_an_error(cli, tmp_path):
    _pt_examples_pair(tmp_path)
    code, _, err = cli("guided-backprop", "--ckpt", tmp_path / "netD_epoch_3.pth", "--source", "real",
                       "--out", tmp_path / "x")
    assert code == 2 and "does not record its dataset" in err
