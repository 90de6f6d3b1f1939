"""Vector arithmetic (Figs. 7-8): expressions, exemplar averaging, noise scale, directions vs controls, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import arithmetic as A
from gan_viz.analyses.arithmetic import run as AR  # the runner module (its _instrument is patched below)
from gan_viz.analyses.arithmetic.summary import _share
from gan_viz.checkpoint import save_checkpoint
from gan_viz.subject import generate_images
from gan_viz.data.rooms import CLASSES
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator

WINDOW = CLASSES.index("window")


@pytest.fixture
def ckpt(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "tiny.pt", tiny_cfg, build_generator(tiny_cfg), build_discriminator(tiny_cfg))


class Linear(nn.Module):
    """A planted generator: images = tanh(M z), a fixed random linear map (N, nz) -> (N, 1, 8, 8)."""

    def __init__(self, nz=8):
        super().__init__()
        self.m = nn.Linear(nz, 64, bias=False)
        with torch.no_grad():
            self.m.weight.copy_(torch.randn(64, nz, generator=torch.Generator().manual_seed(5)))

    def forward(self, z):
        return torch.tanh(self.m(z.flatten(1))).reshape(len(z), 1, 8, 8)


class BrightParser:
    """A fake parser: bright pixels (> 0) are 'window', the rest 'wall'."""

    classes = class_names = CLASSES

    def class_fractions(self, images):
        win = (images[:, 0] > 0).float().flatten(1).mean(1)  # (N,)
        out = torch.zeros(len(images), len(CLASSES))
        out[:, WINDOW], out[:, 0] = win, 1 - win
        return out


def test_parse_expr():
    assert A.parse_expr("A - B + C") == (("A", 1.0), ("B", -1.0), ("C", 1.0))
    assert A.parse_expr("-A+2*B - 0.5C") == (("A", -1.0), ("B", 2.0), ("C", -0.5))
    for bad, msg in [("", "empty"), ("A B", "cannot read"), ("A - Z", "unknown concept"), ("A + A", "twice"),
                     ("A - (B)", "cannot read"), ("A -", "cannot read"), ("__import__('os')", "cannot read"), ("Ab", "unknown concept")]:
        with pytest.raises(UserError, match=msg):
            A.parse_expr(bad)


def test_parse_indices_and_concepts():
    assert A.parse_indices("12,40,77", "A", 150) == [12, 40, 77]
    assert A.parse_indices("3-5", "A", 10) == [3, 4, 5]
    with pytest.raises(UserError, match="index 150 is beyond the sample sheet of 150"):
        A.parse_indices("1,150", "A", 150)
    with pytest.raises(UserError, match="repeats"):
        A.parse_indices("1,1", "A", 150)
    with pytest.raises(UserError, match="not a list"):
        A.parse_indices("", "A", 150)
    assert A.parse_concepts("A=window,B=no-window", CLASSES) == {"A": (("window", True),), "B": (("window", False),)}
    two = A.parse_concepts("A=window+bed, B=no-window+bed,C=no-window+no-bed", CLASSES)
    assert two["A"] == (("window", True), ("bed", True)) and two["C"] == (("window", False), ("bed", False))
    assert A.spec_label(two["B"]) == "no-window+bed"
    with pytest.raises(UserError, match="names window twice"):
        A.parse_concepts("A=window+no-window", CLASSES)
    with pytest.raises(UserError, match="unknown class 'tv'"):
        A.parse_concepts("A=window+tv", CLASSES)
    with pytest.raises(UserError, match="unknown class 'tv'"):
        A.parse_concepts("A=tv", CLASSES)
    with pytest.raises(UserError, match="NAME=CLASS"):
        A.parse_concepts("window", CLASSES)


def test_sample_sheet_is_what_generate_draws(cli, ckpt, tmp_path, tiny_cfg):
    code, _, err = cli("generate", "--ckpt", ckpt, "--n", 5, "--seed", 3, "--out", tmp_path / "g")
    assert code == 0, err
    np.testing.assert_array_equal(A.sample_sheet(tiny_cfg, 5, 3).numpy(), np.load(tmp_path / "g" / "z.npy"))


def test_pick_exemplars_present_absent_exclusion_and_empty():
    f = np.zeros((6, len(CLASSES)))
    f[:, WINDOW] = [0.3, 0.0, 0.05, 0.2, 0.0, 0.0005]
    assert A.pick_exemplars(f, WINDOW, True, 2) == [0, 3]  # most window pixels first
    assert A.pick_exemplars(f, WINDOW, True, 2, exclude={0}) == [3, 2]
    assert A.pick_exemplars(f, WINDOW, False, 3) == [1, 4, 5]  # none (< 0.1%), fewest first
    assert A.pick_exemplars(f, WINDOW, False, 2, exclude={1}) == [4, 5]
    with pytest.raises(UserError, match="only 3 unused sheet samples"):
        A.pick_exemplars(f, WINDOW, True, 4, label="A=window")
    f[:, WINDOW] = 0.5
    with pytest.raises(UserError, match="only 0 unused"):  # an empty concept
        A.pick_exemplars(f, WINDOW, False, 1, label="B=no-window")


def test_pick_matching_combines_classes():
    bed = CLASSES.index("bed")
    f = np.zeros((5, len(CLASSES)))
    f[:, WINDOW] = [0.3, 0.0, 0.05, 0.2, 0.0]
    f[:, bed] = [0.0, 0.2, 0.1, 0.3, 0.0]
    assert A.pick_matching(f, ((WINDOW, True), (bed, True)), 2) == [3, 2]  # largest smallest share first
    assert A.pick_matching(f, ((WINDOW, True), (bed, False)), 1) == [0]
    assert A.pick_matching(f, ((WINDOW, False), (bed, False)), 1) == [4]
    with pytest.raises(UserError, match="concept C=no-window[+]no-bed: only 1 unused"):
        A.pick_matching(f, ((WINDOW, False), (bed, False)), 2, label="C=no-window+no-bed")


def test_analogy_targets_follow_the_expression():
    terms = A.parse_expr("A - B + C")
    c = A.parse_concepts("A=window+bed,B=no-window+bed,C=no-window+no-bed", CLASSES)
    assert A.analogy_targets(terms, c) == {"window": True, "bed": False}
    c1 = A.parse_concepts("A=window,B=no-window,C=no-window", CLASSES)
    assert A.analogy_targets(terms, c1) == {"window": True}
    c2 = A.parse_concepts("A=window+bed,B=no-window,C=no-window", CLASSES)  # bed unspecified in B, C: no target
    assert A.analogy_targets(terms, c2) == {"window": True}
    assert A.base_term(terms) == 2 and A.base_term(A.parse_expr("A - B")) == 0


def test_exemplar_averaging_pixel_space_and_noise(tiny_cfg):
    torch.manual_seed(1)
    G = build_generator(tiny_cfg).eval()
    g = torch.Generator().manual_seed(0)
    zs = [torch.randn(3, 8, generator=g), torch.randn(2, 8, generator=g), torch.randn(1, 8, generator=g)]
    terms = A.parse_expr("A - B + C")
    r = A.compute_arithmetic(G, terms, zs, noise=0.25, n_noisy=8, seed=4)
    means = np.stack([z.double().mean(0).numpy() for z in zs])
    np.testing.assert_allclose(r.mean_z, means, rtol=1e-6)
    np.testing.assert_allclose(r.y, means[0] - means[1] + means[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r.owner, [0, 0, 0, 1, 1, 2])
    y_img = generate_images(G, torch.from_numpy(r.y)[None])
    # G(Y) first. It ran in a batch of 9, y_img alone: conv kernels may sum in another order per batch
    # size (0 here on AVX2, ulps elsewhere), so compare to 1e-5 of the image scale (2.5e-3 for this
    # untrained G): G(noisy Y) is 7e-2 of it away, G(Y + 1e-3) 8e-4.
    np.testing.assert_allclose(r.result_images[0], y_img[0].numpy(), rtol=0, atol=1e-5 * y_img.abs().max().item())
    ex = r.exemplar_images
    pix = np.clip(ex[:3].mean(0) - ex[3:5].mean(0) + ex[5], -1, 1)
    np.testing.assert_allclose(r.pixel_result, pix, atol=1e-6)
    dev = r.noisy_z - r.y[None]
    assert r.noisy_z.shape == (8, 8) and np.abs(dev).max() <= 0.25 + 1e-6 and np.abs(dev).max() > 0.2
    assert abs(dev.mean()) < 0.05  # centred on Y
    np.testing.assert_array_equal(A.noisy_around(torch.from_numpy(r.y), 8, 0.25, 4).numpy(), r.noisy_z)
    assert not np.array_equal(A.noisy_around(torch.from_numpy(r.y), 8, 0.25, 5).numpy(), r.noisy_z)
    with pytest.raises(UserError, match="at least one exemplar"):
        A.compute_arithmetic(G, terms, [zs[0], zs[1], torch.zeros(0, 8)])


def test_random_directions_have_the_norm():
    from gan_viz.latent_directions import random_directions

    d = random_directions(5, 32, 2.5, seed=0)
    np.testing.assert_allclose(d.norm(dim=1).numpy(), 2.5, rtol=1e-5)
    cos = (d / 2.5) @ (d / 2.5).T
    assert (cos - torch.eye(5)).abs().max() < 0.9  # different orientations


def test_direction_raises_its_concept_more_than_random_controls():
    G, parser = Linear(), BrightParser()
    sheet = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    f = parser.class_fractions(generate_images(G, sheet)).numpy()
    plus = A.pick_exemplars(f, WINDOW, True, 10)
    minus = A.pick_exemplars(f, WINDOW, False, 10, exclude=set(plus), absent_fraction=0.5)
    ev = torch.randn(50, 8, generator=torch.Generator().manual_seed(2))
    r = A.compute_direction(G, sheet[plus], sheet[minus], [0, 0.5, 1], ev[:3], ev, parser, n_controls=4, seed=0)
    assert r.walk_images.shape == (3, 3, 1, 8, 8) and r.fractions.shape == (3, 50, len(CLASSES))
    np.testing.assert_allclose(np.linalg.norm(r.controls, axis=1), np.linalg.norm(r.d), rtol=1e-5)
    s = A.direction_summary(r, "window")
    gain, ctrl_gain = s["fraction_after"] - s["fraction_before"], s["control_after"] - s["fraction_before"]
    assert gain > 0.1 and gain > 3 * abs(ctrl_gain), (gain, ctrl_gain)
    assert len(s["curve"]["direction"]) == 3 and "wall" in s["other_classes"]
    # alpha 0 = the base. The walk ran in a batch of 9, the bases in one of 3: 3.6e-7 apart on an AVX2
    # CPU (float32 matmul summed in another order); alpha 0.5 is > 1e-1 away.
    base = generate_images(G, ev[:3]).numpy()
    np.testing.assert_allclose(r.walk_images[:, 0], base, rtol=0, atol=1e-5 * np.abs(base).max())


def test_cli_index_exemplars_and_direction(cli, ckpt, tmp_path):
    out = tmp_path / "ar"
    code, stdout, err = cli("arithmetic", "--ckpt", ckpt, "--expr", "A - B + C", "--A", "0,1,2", "--B", "3,4",
                            "--C", "5", "--direction", "A - B", "--samples-n", 10, "--walk-rows", 2,
                            "--alphas", "0,1,2", "--out", out)
    assert code == 0, err
    a = np.load(out / "arrays.npz")
    sheet = a["sheet_z"]
    y = sheet[0:3].mean(0) - sheet[3:5].mean(0) + sheet[5]
    np.testing.assert_allclose(a["y"], y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["direction"], sheet[0:3].mean(0) - sheet[3:5].mean(0), rtol=1e-5, atol=1e-6)
    assert a["result_images"].shape == (9, 3, 16, 16) and a["walk_images"].shape == (2, 3, 3, 16, 16)
    s = json.loads((out / "summary.json").read_text())
    assert s["arithmetic"]["exemplars"] == {"A": [0, 1, 2], "B": [3, 4], "C": [5]}
    assert s["direction"]["measured"] is False and "no instrument" in s["measurements"]
    for name in ("arithmetic", "direction_walk"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.pdf").exists()
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--expr", "A - B + C", "--A", "0,1,2", "--B", "3,4",
                       "--C", "5", "--direction", "A - B", "--samples-n", 10, "--walk-rows", 2,
                       "--alphas", "0,1,2", "--out", tmp_path / "again")
    again = np.load(tmp_path / "again" / "arrays.npz")
    for k in ("y", "noisy_z", "result_images", "walk_images", "control_directions"):
        np.testing.assert_array_equal(a[k], again[k])


def test_cli_z_file_sheet(cli, ckpt, tmp_path):
    z = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--z", tmp_path / "z.npy", "--expr", "A - B",
                       "--A", "3", "--B", "0,1", "--noisy", 0, "--out", tmp_path / "o")
    assert code == 0, err
    a = np.load(tmp_path / "o" / "arrays.npz")
    np.testing.assert_allclose(a["y"], z[3] - z[:2].mean(0), rtol=1e-5, atol=1e-6)
    assert a["result_images"].shape[0] == 1


def test_cli_parser_concepts(cli, ckpt, tmp_path, monkeypatch):
    """--concepts picks exemplars with the parser (a fake, deterministic one here)."""
    monkeypatch.setattr(AR, "_instrument", lambda ctx, o: (BrightParser(), None, "fake parser"))
    from gan_viz.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    f = np.sort(BrightParser().class_fractions(generate_images(c.G, A.sample_sheet(c.config, 40, 0)))[:, WINDOW].numpy())
    absent = (f[6] + f[7]) / 2 if f[7] > f[6] else f[7] + 1e-6  # 7 samples "lack" windows, B and C take 6
    out = tmp_path / "c"
    code, stdout, err = cli("arithmetic", "--ckpt", ckpt, "--expr", "A - B + C", "--min-fraction", f[-3],
                            "--concepts", "A=window,B=no-window,C=no-window", "--absent-fraction", absent,
                            "--direction", "A - B", "--samples-n", 40, "--eval-samples", 6, "--controls", 2,
                            "--alphas", "0,1", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    ex = s["arithmetic"]["exemplars"]
    fr = np.load(out / "arrays.npz")["sheet_fractions"][:, WINDOW]
    assert len(ex["A"]) == 3 and not set(ex["A"]) & set(ex["B"]) and not set(ex["B"]) & set(ex["C"])
    assert min(fr[ex["A"]]) >= f[-3] and max(fr[ex["B"] + ex["C"]]) < absent
    assert s["direction"]["measured"] and s["direction"]["class"] == "window"
    assert "window" in s["arithmetic"]["fractions"] and (out / "direction_measure.png").exists()


@pytest.mark.parametrize("args,msg", [
    (["--expr", "A - B", "--A", "0,200", "--B", "1"], "index 200 is beyond the sample sheet of 150"),
    (["--expr", "A - B", "--A", "0"], "concept B has no exemplars"),
    (["--expr", "A", "--A", "0", "--B", "1"], "B is defined but not used"),
    (["--expr", "A - B", "--A", "0", "--B", "1", "--concepts", "A=window"], "needs a concept instrument"),
    (["--A", "0"], "nothing to do"),
    ([], "the default analogy A=door+picture"),  # 16x16: no instrument for the default
    (["--direction", "A + B", "--A", "0", "--B", "1"], "one concept minus another"),
    (["--expr", "A", "--A", "0", "--alphas", "x"], "--alphas"),
    (["--expr", "A", "--A", "0", "--noisy", "-1"], "--noisy -1"),
])
def test_cli_bad_input(cli, ckpt, tmp_path, args, msg):
    out = tmp_path / "never"
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--out", out, *args)
    assert code == 2 and msg in err and "Traceback" not in err, err
    assert not out.exists()


def test_cli_empty_concept(cli, ckpt, tmp_path, monkeypatch):
    monkeypatch.setattr(AR, "_instrument", lambda ctx, o: (BrightParser(), None, "fake parser"))
    out = tmp_path / "never"
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--expr", "A - B", "--concepts", "A=window,B=no-window",
                       "--min-fraction", 0.999, "--samples-n", 10, "--out", out)
    assert code == 2 and "concept A=window: only 0 unused sheet samples of 10" in err and not out.exists()
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--expr", "A - B", "--concepts", "A=window,B=no-window",
                       "--absent-fraction", 1e-6, "--samples-n", 10, "--out", out)
    assert code == 2 and "concept B=no-window: only 0" in err and not out.exists()


def test_cli_manifest_sheet_matches_samples(cli, ckpt, tmp_path, tiny_cfg):
    code, _, err = cli("samples", "--ckpt", ckpt, "--n", 6, "--out", tmp_path / "s")
    assert code == 0, err
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--manifest", tmp_path / "s" / "manifest.json",
                       "--expr", "A - B", "--A", "5", "--B", "0", "--noisy", 0, "--out", tmp_path / "o")
    assert code == 0, err
    sheet = np.load(tmp_path / "o" / "arrays.npz")["sheet_z"]
    np.testing.assert_array_equal(sheet, np.load(tmp_path / "s" / "z.npy"))
    np.testing.assert_array_equal(sheet, A.sample_sheet(tiny_cfg, 6, 0).numpy())  # the default sheet, too
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--manifest", tmp_path / "s" / "manifest.json",
                       "--expr", "A", "--A", "6", "--out", tmp_path / "bad")
    assert code == 2 and "beyond the sample sheet of 6" in err


class DoorPicture:
    """A fake instrument with the default analogy's classes: the left half is a door where the image's mean
    red exceeds its mean blue, the right half a picture where its mean green does (about half the samples each)."""

    name, class_names, forced, differentiable = "fake", ("wall", "door", "picture"), False, False

    def class_fractions(self, images, batch_size=256):
        m = images.double().mean((2, 3))  # (N, 3)
        out = torch.zeros(len(images), 3)
        out[:, 1] = 0.5 * (m[:, 0] > m[:, 2]).float()
        out[:, 2] = 0.5 * (m[:, 1] > m[:, 2]).float()
        out[:, 0] = 1 - out[:, 1] - out[:, 2]
        return out


def test_cli_default_is_the_two_attribute_analogy(cli, ckpt, tmp_path, monkeypatch):
    import gan_viz.instruments

    monkeypatch.setattr(gan_viz.instruments, "resolve_instrument", lambda *a, **k: DoorPicture())
    monkeypatch.setattr(AR, "_instrument", lambda ctx, o: (DoorPicture(), None, "fake"))
    out = tmp_path / "d"
    code, stdout, err = cli("arithmetic", "--ckpt", ckpt, "--samples-n", 200, "--draws", 20, "--eval-samples", 8,
                            "--controls", 2, "--alphas", "0,1", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["defaults"] and s["arithmetic"]["expr"] == A.DEFAULT_EXPR and s["direction"]["class"] == "door"
    assert s["concepts"] == {"A": "door+picture", "B": "no-door+picture", "C": "no-door+no-picture"}
    assert s["analogy"]["targets"] == {"door": "present", "picture": "absent"} and s["analogy"]["draws"] == 20
    for k in ("1", "3", "pixel", "random"):
        assert 0 <= s[f"analogy_success_{k}"] <= 1
    a = np.load(out / "arrays.npz")
    assert a["analogy_exemplars_z_3"].shape == (20, 3, 3) and a["analogy_y_random"].shape == (20, 8)
    ex = a["analogy_exemplars_z_3"]  # never one sample for two concepts of a draw
    assert all(len(set(d.ravel().tolist())) == 9 for d in ex)
    assert "analogy over 20 draws" in stdout
    code, _, err = cli("arithmetic", "--ckpt", ckpt, "--draws", 0, "--out", tmp_path / "never")
    assert code == 2 and "--draws 0" in err


@pytest.mark.parametrize("k, n, hand", [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (8, 10, (0.4902, 0.9433)),
                                        (10, 10, (0.7225, 1.0)), (1, 3, (0.0615, 0.7923))])
def test_wilson_interval_against_hand_values_and_its_quadratic(k, n, hand):
    """The 95% Wilson interval: hand values (z = 1.96), and the two roots in p of
    (p_hat - p)^2 = z^2 p (1 - p) / n, solved apart by numpy."""
    ok = np.array([True] * k + [False] * (n - k))
    got = _share(ok)
    z, p = 1.96, k / n
    roots = np.sort(np.roots([1 + z * z / n, -(2 * p + z * z / n), p * p]).real)
    assert got["share"] == pytest.approx(p) and got["draws"] == n
    assert got["ci95"] == pytest.approx(list(hand), abs=1e-4)
    assert got["ci95"] == pytest.approx(roots.tolist(), abs=1e-4)
