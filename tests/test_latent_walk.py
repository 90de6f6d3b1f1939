"""Latent walks (Fig. 4): frame counts, exact anchors, slerp norms, sharp steps, files, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import latent_walk as W
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator


@pytest.fixture
def ckpt(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", tiny_cfg, build_generator(tiny_cfg), build_discriminator(tiny_cfg))


@pytest.fixture
def rooms_ckpt(tmp_path):
    """A 32x32 tiny DCGAN that says it was trained on rooms, and an untrained tiny parser."""
    from gan_viz.parser import ParserConfig, ParserNet, save_parser

    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=4, ndf=4)
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "rooms.pt", cfg, build_generator(cfg), None, train_config={"dataset": "rooms"})
    return ck, save_parser(ParserNet(ParserConfig(widths=(4, 4, 4, 4))), tmp_path / "parser.pt")


class Step(nn.Module):
    """A planted generator: the image is all +1 where z[0] > 0, all -1 otherwise (a memorised jump)."""

    def forward(self, z):
        return torch.where(z[:, :1, None, None] > 0, 1.0, -1.0).expand(len(z), 3, 8, 8).clone()


class Smooth(nn.Module):
    """A planted generator whose image moves linearly with z[0]."""

    def forward(self, z):
        return (0.5 * torch.tanh(z[:, :1, None, None])).expand(len(z), 3, 8, 8).clone()


@pytest.mark.parametrize("interp", W.INTERPS)
@pytest.mark.parametrize("points,steps", [(2, 1), (4, 5), (9, 8)])
def test_walk_frame_count_and_exact_anchors(interp, points, steps):
    anchors = torch.randn(points, 6, generator=torch.Generator().manual_seed(1))
    z = W.walk_z(anchors, steps, interp)
    assert z.shape == ((points - 1) * steps + 1, 6) and z.dtype == torch.float32
    assert torch.equal(z[::steps], anchors)  # every anchor, both endpoints included, bit-exact
    assert torch.equal(z[0], anchors[0]) and torch.equal(z[-1], anchors[-1])


def test_slerp_norm_is_interpolated_and_spacing_even():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(16, generator=g, dtype=torch.float64) * 3, torch.randn(16, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    s = W.slerp(a, b, t)
    np.testing.assert_allclose(s.norm(dim=1).numpy(), ((1 - t) * a.norm() + t * b.norm()).numpy(), rtol=1e-9)
    u = s / s.norm(dim=1, keepdim=True)  # directions on the great circle, equally spaced
    angles = torch.arccos(torch.clamp((u[1:] * u[:-1]).sum(1), -1, 1))
    np.testing.assert_allclose(angles.numpy(), angles.mean().item(), rtol=1e-6)
    # same norms: slerp keeps it, the straight line dips in the middle
    b2 = b / b.norm() * a.norm()
    mid_s, mid_l = W.slerp(a, b2, torch.tensor([0.5])), W.lerp(a, b2, torch.tensor([0.5]))
    assert abs(mid_s.norm() - a.norm()) < 1e-9 and mid_l.norm() < 0.95 * a.norm()
    # degenerate cases fall back to the straight line
    assert torch.allclose(W.slerp(a, 2 * a, t), W.lerp(a, 2 * a, t))
    assert torch.allclose(W.slerp(torch.zeros(16), b, t), W.lerp(torch.zeros(16), b, t))


def test_sharp_transition_is_flagged_only_where_it_happens():
    anchors = torch.zeros(3, 4)
    anchors[:, 0] = torch.tensor([-1.0, 0.0 + 1e-3, 1.0])
    jump = W.compute_latent_walk(Step(), anchors, steps=8, interp="linear")
    assert jump.sharp.sum() == 1 and np.argmax(jump.step_rms) == 7  # last step of segment 0 crosses z0 = 0
    assert jump.largest_step_share[0] == pytest.approx(1.0)
    smooth = W.compute_latent_walk(Smooth(), anchors, steps=8, interp="linear")
    assert smooth.sharp.sum() == 0 and smooth.largest_step_share.max() < 0.2
    s = W.summarize(jump)
    assert s["n_sharp"] == 1 and s["sharp_steps"][0]["segment"] == 0 and s["frames"] == 17


def test_class_events_and_presence_with_hysteresis():
    names = ("wall", "window", "door")
    f = np.array([[0.8, 0.2, 0.0], [0.8, 0.2, 0.0], [0.8, 0.0, 0.2], [0.8, 0.0, 0.2]])
    ev = W.class_events(f, names, threshold=0.1)
    lost = [e for e in ev if e["class"] == "window"]
    assert len(lost) == 1 and lost[0]["frame"] == 2 and lost[0]["into"] == "door"
    pres = W.presence_changes(f, names)
    assert {(p["frame"], p["class"], p["change"]) for p in pres} == {(2, "window", "disappears"), (2, "door", "appears")}
    flicker = np.array([[1 - x, x, 0.0] for x in (0.009, 0.011, 0.009, 0.012, 0.008)])
    assert W.presence_changes(flicker, names) == []  # between the thresholds: no event


def test_bad_walk_inputs():
    with pytest.raises(UserError, match="at least 2"):
        W.walk_z(torch.zeros(1, 4), 4, "linear")
    with pytest.raises(UserError, match="--steps"):
        W.walk_z(torch.zeros(3, 4), 0, "linear")
    with pytest.raises(UserError, match="interpolation"):
        W.walk_z(torch.zeros(3, 4), 2, "cubic")


def test_cli_files_and_frames_equal_generate(cli, ckpt, tmp_path):
    out = tmp_path / "walk"
    code, stdout, err = cli("latent-walk", "--ckpt", ckpt, "--points", 3, "--steps", 4, "--out", out, "--fps", 5)
    assert code == 0, err
    a = np.load(out / "arrays.npz")
    assert a["anchors"].shape == (3, 8) and a["z"].shape == (9, 8) and a["frames"].shape == (9, 3, 16, 16)
    assert a["frames"].dtype == np.float32 and np.abs(a["frames"]).max() <= 1
    np.testing.assert_array_equal(a["z"][::4], a["anchors"])
    np.save(tmp_path / "z.npy", a["z"])
    code, _, err = cli("generate", "--ckpt", ckpt, "--z", tmp_path / "z.npy", "--out", tmp_path / "gen")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "gen" / "images.npy"), a["frames"])
    s = json.loads((out / "summary.json").read_text())
    assert s["frames"] == 9 and s["interp"] == "slerp"  # normal z -> slerp
    assert "no instrument" in s["measurements"] and "domain is unknown" in s["instrument"]["absent"]
    assert "class_events" not in s and s["instrument"]["name"] is None
    assert set(s["step_rms"]) == {"mean", "median", "p95", "max"} and s["n_sharp"] == len(s["sharp_steps"])
    from PIL import Image

    gif = Image.open(out / "latent_walk.gif")
    assert gif.n_frames == 9 and gif.size == (256, 256)
    import cv2

    cap = cv2.VideoCapture(str(out / "latent_walk.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 9
    for name in ("latent_walk", "walk_measures"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.pdf").exists()


def test_cli_deterministic_and_seeded(cli, ckpt, tmp_path):
    runs = {}
    for tag, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, _, err = cli("latent-walk", "--ckpt", ckpt, "--seed", seed, "--steps", 2, "--no-video",
                           "--interp", "linear", "--out", tmp_path / tag)
        assert code == 0, err
        runs[tag] = np.load(tmp_path / tag / "arrays.npz")
    np.testing.assert_array_equal(runs["a"]["frames"], runs["b"]["frames"])
    np.testing.assert_array_equal(runs["a"]["z"], runs["b"]["z"])
    assert not np.array_equal(runs["a"]["anchors"], runs["c"]["anchors"])
    assert runs["a"]["z"].shape == (17, 8) and not (tmp_path / "a" / "latent_walk.gif").exists()


def test_cli_z_anchors_and_parser(cli, rooms_ckpt, tmp_path):
    ck, parser = rooms_ckpt
    anchors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    np.save(tmp_path / "anchors.npy", anchors)
    code, _, err = cli("latent-walk", "--ckpt", ck, "--z", tmp_path / "anchors.npy", "--steps", 3,
                       "--parser", parser, "--segmenter", "rooms", "--no-video", "--out", tmp_path / "w")
    assert code == 0, err
    a = np.load(tmp_path / "w" / "arrays.npz")
    np.testing.assert_array_equal(a["anchors"], anchors)
    assert a["class_fractions"].shape == (7, 10)
    np.testing.assert_allclose(a["class_fractions"].sum(1), 1, rtol=1e-6)
    s = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert "window" in s["classes"] and isinstance(s["class_events"], list) and "rooms-parser" in s["measurements"]
    # an untrained G is not rooms: forced past the parser's applicability check, and said
    assert s["instrument"]["name"] == "rooms-parser" and s["instrument"]["forced"] is True
    assert s["instrument"]["out_of_domain"] is True and s["instrument"]["applicability"]["room_like_share"] < 0.5
    code, _, err = cli("latent-walk", "--ckpt", ck, "--z", tmp_path / "anchors.npy", "--steps", 3,
                       "--parser", parser, "--no-video", "--out", tmp_path / "w2")
    assert code == 0 and "does not fit this model's images" in json.loads(
        (tmp_path / "w2" / "summary.json").read_text())["instrument"]["absent"]


@pytest.mark.parametrize("args,msg", [
    (["--points", "1"], "--points 1"),
    (["--steps", "0"], "--steps 0"),
    (["--fps", "0"], "--fps"),
    (["--sharp-factor", "-1"], "--sharp-factor"),
])
def test_cli_bad_input(cli, ckpt, tmp_path, args, msg):
    out = tmp_path / "never"
    code, _, err = cli("latent-walk", "--ckpt", ckpt, "--out", out, *args)
    assert code == 2 and msg in err and "Traceback" not in err
    assert not out.exists()


def test_cli_one_point_file(cli, ckpt, tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 8), np.float32))
    code, _, err = cli("latent-walk", "--ckpt", ckpt, "--z", tmp_path / "one.npy", "--out", tmp_path / "x")
    assert code == 2 and "at least 2" in err and not (tmp_path / "x").exists()
