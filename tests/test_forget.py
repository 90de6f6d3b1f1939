"""Forgetting an object (Fig. 6): layer choice, the probe, selection, the edit hook, the CLI.

The generators here have *planted* concept channels: the output convolution paints red
only from filters 2 and 5 of the probed layer, and a fake scene parser calls red pixels
"window", so the right answer is known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import forget as fg
from gan_viz.boxes import parser_boxes
from gan_viz.analyses.forget import Selection, fit_probe, parse_select, select_filters
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.hooks import count_hooks
from gan_viz.layers import check_layer, default_layer, tail_after
from gan_viz.models import build_generator, sample_z

PLANTED = (2, 5)
CLASSES = ("wall", "window", "bed")
ROOMS = {"dataset": "rooms"}


def planted_generator(cfg: ModelConfig, seed: int = 0) -> nn.Module:
    """A G whose red channel comes only from filters PLANTED of its default layer."""
    torch.manual_seed(seed)
    G = build_generator(cfg)
    out = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        w = torch.zeros_like(out.weight)  # (C, 3, 4, 4)
        w[:, 0], w[:, 1] = -0.3, 0.4
        for c in PLANTED:
            w[c, 0], w[c, 1] = 1.5, -0.5
            bns[-1].bias[c] = -0.7  # sparse: the "object" covers ~20% of pixels
        out.weight.copy_(w)
        G.train()
        for m in bns:  # calibrate BatchNorm so eval-mode activations are normalised
            m.reset_running_stats()
            m.momentum = None
        G(sample_z(cfg, 512, torch.Generator().manual_seed(seed)))
    return G.eval()


def fake_segment(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, H, W): window where red > 0.3, bed where green > 0.8, else wall."""
    seg = torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)
    seg[images[:, 1] > 0.8] = 2
    seg[images[:, 0] > 0.3] = 1
    return seg


def fake_fractions(images: torch.Tensor) -> torch.Tensor:
    seg = fake_segment(images)
    return torch.nn.functional.one_hot(seg.flatten(1), len(CLASSES)).float().mean(1)


def fake_prob(images: torch.Tensor) -> torch.Tensor:
    """Differentiable stand-in for the parser's window probability: (N,)."""
    return torch.sigmoid((images[:, 0] - 0.3) * 20).mean((1, 2))


class FakeParser:
    classes = CLASSES
    device = torch.device("cpu")

    @staticmethod
    def net(x):  # logits (N, K, H, W) that make red pixels "window"
        zero = torch.zeros_like(x[:, 0])
        return torch.stack([zero, (x[:, 0] - 0.3) * 20, zero], 1)

    def segment(self, images, batch_size=256):
        return fake_segment(images)

    def class_fractions(self, images, batch_size=256):
        return fake_fractions(images)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run faster on one thread on a shared machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def planted(tiny_cfg):
    return planted_generator(tiny_cfg)


def probe_set(G, cfg, n=40, seed=1, causal=False):
    z = sample_z(cfg, n, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        seg = fake_segment(G(z)).numpy()
    cz = sample_z(cfg, 16, torch.Generator().manual_seed(seed + 100)) if causal else None
    return fg.ProbeSet(z, parser_boxes(seg, 1), cz)


# --- layers ------------------------------------------------------------------------------

def test_default_layer_is_second_highest_conv_after_bn_relu(tiny_cfg):
    assert default_layer(build_generator(tiny_cfg), "G") == "relu2"  # 16px: conv1, conv2, conv3 (output)
    assert default_layer(build_generator(tiny_cfg.replace(image_size=64)), "G") == "relu4"
    assert default_layer(build_generator(tiny_cfg.replace(image_size=32, g_upsample="nearest-conv")), "G") == "relu3"
    with pytest.raises(UserError, match="MLP"):
        default_layer(build_generator(tiny_cfg.replace(arch="mlp", mlp_hidden=16)), "G")


def test_check_layer(tiny_cfg):
    G = build_generator(tiny_cfg)
    assert check_layer(G, None, "G", tiny_cfg.nz) == ("relu2", (8, 8, 8))
    assert check_layer(G, "G.bn2", "G", tiny_cfg.nz)[0] == "bn2"
    for bad, msg in (("D.lrelu2", "generator"), ("conv9", "valid layers"), ("tanh", "hidden"), ("conv3", "hidden")):
        with pytest.raises(UserError, match=msg):
            check_layer(G, bad, "G", tiny_cfg.nz)


# --- probe and selection -----------------------------------------------------------------

def test_probe_recovers_planted_channels_from_features():
    rng = np.random.default_rng(0)
    n, C, h = 30, 12, 8
    feats = rng.normal(size=(n, C, h, h)).astype(np.float32)
    cells = np.zeros((n, h, h), bool)
    for i in range(n):
        y, x = rng.integers(0, h - 3, 2)
        cells[i, y:y + 3, x:x + 3] = True
    feats[:, 3] += 2.0 * cells  # the object's filters fire on its cells
    feats[:, 7] += 1.5 * cells
    fit = fit_probe(feats, cells, seed=0)
    assert set(select_filters(fit.weights, Selection("top", 2)).tolist()) == {3, 7}
    assert {3, 7} <= set(select_filters(fit.weights, Selection("positive")).tolist())
    assert fit.auc > 0.9 and fit.accuracy > 0.8
    assert fit.n_pos == fit.n_neg > 0


def test_probe_needs_two_boxed_samples():
    cells = np.zeros((5, 4, 4), bool)
    cells[0, 1, 1] = True
    with pytest.raises(UserError, match="at least 2 samples"):
        fit_probe(np.zeros((5, 3, 4, 4), np.float32), cells)


def test_parse_and_select():
    assert parse_select("positive", 8) == Selection("positive")
    assert parse_select(" TOP-3 ", 8) == Selection("top", 3)
    assert str(parse_select("causal-8", 8)) == "causal-8"
    assert parse_select("optimized-3", 8) == Selection("optimized", 3)
    for bad in ("top-0", "top-9", "best", "top3", "causal-"):
        with pytest.raises(UserError, match="--select"):
            parse_select(bad, 8)
    scores = np.array([0.1, -1.0, 3.0, 0.0, 2.0])
    assert select_filters(scores, Selection("positive")).tolist() == [2, 4, 0]
    assert select_filters(scores, Selection("top", 2)).tolist() == [2, 4]


# --- the edit and the whole analysis -----------------------------------------------------

def test_removal_hook_is_scoped_and_removes_the_planted_object(planted, tiny_cfg):
    z = sample_z(tiny_cfg, 32, torch.Generator().manual_seed(3))
    ref = planted(z).detach()
    r = torch.zeros(8, 1, 1)
    gone = fg.removed_images(planted, "relu2", z, list(PLANTED), r)
    assert count_hooks(planted) == 0
    assert torch.equal(planted(z).detach(), ref)  # the model is unchanged after the call
    assert fake_fractions(ref)[:, 1].mean() > 0.05
    assert fake_fractions(gone)[:, 1].mean() == 0  # red came only from the planted filters
    same = fg.removed_images(planted, "relu2", z, [], r)
    assert torch.allclose(same, ref, atol=1e-6)
    with pytest.raises(RuntimeError):  # G itself fails while the edit hook is attached
        fg.removed_images(planted, "relu2", torch.zeros(4, tiny_cfg.nz + 1), list(PLANTED), r)
    assert count_hooks(planted) == 0 and torch.equal(planted(z).detach(), ref)


def test_tail_on_cached_layer_output_equals_the_hooked_generator(planted, tiny_cfg):
    from gan_viz.analyses.forget import layer_features

    z = sample_z(tiny_cfg, 20, torch.Generator().manual_seed(4))
    r = torch.randn(8, 1, 1)
    feats = layer_features(planted, "relu2", z, batch_size=8)
    a = fg.ablation(8, [1, 5])
    with torch.no_grad():
        got = tail_after(planted, "relu2")(feats * (1 - a) + r * a)
    want = fg.removed_images(planted, "relu2", z, [1, 5], r, batch_size=8)
    assert torch.allclose(got, want, atol=1e-6) and not torch.allclose(got, planted(z).detach(), atol=1e-3)
    assert tail_after(planted, "nope") is None and tail_after(nn.ModuleList([nn.ReLU()]), "0") is None


def test_segment_stats_scene_changed():
    ref = torch.tensor([[[0, 1], [2, 2]]])  # one sample, 2x2: wall, window, bed, bed
    same = fg.segment_stats(ref, 3, ref, concept_id=1)
    assert same.scene_changed == 0 and same.fractions.tolist() == [0.25, 0.25, 0.5]
    assert same.presence.tolist() == [1, 1, 1]
    moved = fg.segment_stats(torch.tensor([[[2, 0], [2, 0]]]), 3, ref, concept_id=1)
    assert moved.scene_changed == pytest.approx(2 / 3)  # the window pixel changing does not count


def test_hooks_removed_after_exception_mid_analysis(planted, tiny_cfg):
    z = sample_z(tiny_cfg, 16, torch.Generator().manual_seed(3))
    ref = planted(z).detach()
    calls = {"n": 0}

    def flaky(images):
        calls["n"] += 1
        if calls["n"] == 3:  # midway through the random controls
            raise RuntimeError("instrument failed")
        return fake_segment(images)

    cfg = fg.ForgetConfig("window", Selection("top", 2), fits=1, random_draws=2)
    with pytest.raises(RuntimeError, match="instrument failed"):
        fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z, flaky, CLASSES, cfg)
    assert count_hooks(planted) == 0
    assert torch.equal(planted(z).detach(), ref)


@pytest.mark.parametrize("select", ["top-2", "causal-2", "optimized-2"])
def test_compute_forget_finds_and_removes_planted_filters(planted, tiny_cfg, select):
    z_eval = sample_z(tiny_cfg, 64, torch.Generator().manual_seed(9))
    sets = [probe_set(planted, tiny_cfg, seed=s, causal=True) for s in (1, 2)]
    cfg = fg.ForgetConfig("window", parse_select(select, 8), fits=2, random_draws=3, curve_points=3, show=4)
    r = fg.compute_forget(planted, "relu2", sets, z_eval, fake_segment, CLASSES, cfg, concept_prob=fake_prob)
    s = fg.summarize(r)
    assert sorted(s["filters_removed"]) == list(PLANTED)
    assert s["removed_share"] == pytest.approx(1.0)
    assert s["over_fits"]["removed_share"]["median"] == pytest.approx(1.0)
    assert s["random_removed_share"] < 0.9  # random pairs rarely hit both planted filters
    assert s["fraction_after"] == 0 and s["presence_after"] == 0 < s["presence_before"]
    assert set(s["other_classes"]) == {"wall", "bed"} and s["classifier"]["auc"] > 0.6
    assert 0 <= s["scene_changed"] < 0.5 and len(s["curve"]["scene_changed"]) == len(s["curve"]["k"])
    assert r.images["before"].shape == r.images["after"].shape == (4, 3, 16, 16)
    assert count_hooks(planted) == 0


def test_paper_rule_includes_planted_filters(planted, tiny_cfg):
    z_eval = sample_z(tiny_cfg, 32, torch.Generator().manual_seed(9))
    cfg = fg.ForgetConfig("window", Selection("positive"), fits=1, random_draws=1, curve_points=2, show=2)
    r = fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z_eval, fake_segment, CLASSES, cfg)
    assert set(PLANTED) <= set(r.fits[0].filters.tolist())
    assert set(r.fits[0].filters[:2].tolist()) == set(PLANTED)  # the two largest weights


def test_bad_config_and_concept(planted, tiny_cfg):
    with pytest.raises(UserError, match="--replace"):
        fg.ForgetConfig("window", Selection("positive"), replacement="noise")
    with pytest.raises(UserError, match="--fits"):
        fg.ForgetConfig("window", Selection("positive"), fits=0)
    z = sample_z(tiny_cfg, 8)
    with pytest.raises(UserError, match="not a class"):
        fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z, fake_segment, CLASSES,
                          fg.ForgetConfig("sofa", Selection("positive")))
    blank = lambda imgs: torch.zeros(len(imgs), *imgs.shape[2:], dtype=torch.long)  # noqa: E731
    with pytest.raises(UserError, match="no window pixels"):
        fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z, blank, CLASSES,
                          fg.ForgetConfig("window", Selection("positive")))


# --- the command -------------------------------------------------------------------------

@pytest.fixture
def ckpt32(tmp_path):
    """A planted 32x32 G that records the rooms domain (so the rooms parser, faked here, applies)."""
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    return save_checkpoint(tmp_path / "planted.pt", cfg, planted_generator(cfg), None, train_config=ROOMS)


@pytest.fixture
def fake_parser(monkeypatch):
    import gan_viz.parser

    monkeypatch.setattr(gan_viz.parser, "load_parser", lambda path=None, device="cpu": FakeParser())


FAST = ["--samples", "30", "--fits", "2", "--random-draws", "2", "--eval-samples", "48", "--curve-points", "3",
        "--show", "4", "--opt-steps", "150"]


def test_cli_forget_end_to_end(cli, ckpt32, fake_parser, tmp_path):
    out = tmp_path / "fig6"
    code, stdout, err = cli("forget", "--ckpt", ckpt32, *FAST, "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["select"] == "optimized-2"  # the default: a quarter of the layer's 8 filters
    for key in ("concept", "layer", "filters_removed", "fraction_before", "fraction_after", "random_control_after",
                "other_classes", "classifier", "over_fits"):
        assert key in s
    assert s["layer"] == "G.relu3" and sorted(s["filters_removed"]) == list(PLANTED)
    assert {"accuracy", "auc"} <= set(s["classifier"])
    for name in ("forget_samples", "removal_curve"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.pdf").exists()
    arrays = np.load(out / "arrays.npz")
    assert arrays["z_eval"].shape == (48, 8) and arrays["z_probe"].shape == (2, 30, 8)
    assert "window" in stdout
    code, _, _ = cli("forget", "--ckpt", ckpt32, *FAST, "--out", tmp_path / "again")
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["per_fit"] == s["per_fit"]  # same seed


def test_cli_forget_with_hand_boxes(cli, ckpt32, fake_parser, tmp_path):
    code, _, err = cli("samples", "--ckpt", ckpt32, "--n", "20", "--scale", "2", "--out", tmp_path / "s")
    assert code == 0, err
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    z = torch.tensor([e["z"] for e in man["samples"]])
    G = planted_generator(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8))
    with torch.no_grad():
        boxes = parser_boxes(fake_segment(G(z)).numpy(), 1)
    lines = ["file,label,x0,y0,x1,y1"] + [f"sample_{i:04d}.png,window,{2 * x0},{2 * y0},{2 * x1},{2 * y1}"
                                          for i, bs in boxes.items() for x0, y0, x1, y1 in bs]
    (tmp_path / "boxes.csv").write_text("\n".join(lines) + "\n")
    code, _, err = cli("forget", "--ckpt", ckpt32, "--boxes", tmp_path / "boxes.csv", "--manifest",
                       tmp_path / "s" / "manifest.json", "--select", "top-2", *FAST, "--out", tmp_path / "f")
    assert code == 0, err
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert sorted(s["filters_removed"]) == list(PLANTED) and s["boxes_source"].startswith("annotations")
    other = save_checkpoint(tmp_path / "other.pt", ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8),
                            planted_generator(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8), seed=5), None,
                            train_config=ROOMS)
    code, _, err = cli("forget", "--ckpt", other, "--boxes", tmp_path / "boxes.csv", "--manifest",
                       tmp_path / "s" / "manifest.json", *FAST, "--out", tmp_path / "g")
    assert code == 2 and "not what this model draws" in err and not (tmp_path / "g").exists()


@pytest.mark.parametrize("args, msg", [
    (["--boxes", "b.csv"], "go together"),
    (["--select", "top-99"], "between 1 and"),
    (["--layer", "D.lrelu2"], "generator"),
    (["--concept", "sofa"], "is not a class of rooms-parser"),
    (["--fits", "0"], "at least 1"),
    (["--show", "60", "--eval-samples", "50"], "--show"),
    (["--opt-size", "4"], "at least 8 pixels"),
    (["--opt-size", "16"], "reads images of 32 to 128"),
])
def test_cli_forget_bad_input(cli, ckpt32, fake_parser, tmp_path, args, msg):
    out = tmp_path / "never"
    code, _, err = cli("forget", "--ckpt", ckpt32, *args, "--out", out)
    assert code == 2 and msg in err and "Traceback" not in err
    assert not out.exists()  # validated before writing anything


def test_cli_forget_bad_files(cli, tiny_cfg, ckpt32, tmp_path):
    tiny = save_checkpoint(tmp_path / "tiny.pt", tiny_cfg, build_generator(tiny_cfg), None, train_config=ROOMS)
    code, _, err = cli("forget", "--ckpt", tiny, "--out", tmp_path / "x")
    assert code == 2 and "32-128" in err
    code, _, err = cli("forget", "--ckpt", tmp_path / "missing.pt", "--out", tmp_path / "x")
    assert code == 2 and "does not exist" in err
    code, _, err = cli("forget", "--ckpt", ckpt32, "--parser", tmp_path / "nope.pt", "--out", tmp_path / "x")
    assert code == 2 and "no scene parser weights" in err
    assert not (tmp_path / "x").exists()


def test_optimized_ablation_finds_planted_filters_and_leaves_g_alone(planted, tiny_cfg):
    from gan_viz.analyses.forget import optimize_ablation

    z = sample_z(tiny_cfg, 64, torch.Generator().manual_seed(4))
    ref = planted(z).detach()
    a = optimize_ablation(planted, "relu2", z, fake_prob, torch.zeros(8, 1, 1), steps=60, seed=1)
    assert a.shape == (8,) and np.isfinite(a).all()
    assert set(np.argsort(-a)[:2].tolist()) == set(PLANTED)
    assert count_hooks(planted) == 0 and all(p.grad is None for p in planted.parameters())
    assert torch.equal(planted(z).detach(), ref) and not planted.training


def test_optimized_ablation_at_a_smaller_size_reads_averaged_images(planted, tiny_cfg):
    """``size``: the instrument reads the samples area-averaged down; G's own size is the same run."""
    from gan_viz.analyses.forget import optimize_ablation

    z = sample_z(tiny_cfg, 64, torch.Generator().manual_seed(4))
    h = planted(z[:1]).shape[-1]
    seen = []

    def prob(x):
        seen.append(x.shape[-1])
        return fake_prob(x)

    same = optimize_ablation(planted, "relu2", z, prob, torch.zeros(8, 1, 1), steps=20, seed=1, size=h)
    assert set(seen) == {h}
    np.testing.assert_array_equal(same, optimize_ablation(planted, "relu2", z, fake_prob, torch.zeros(8, 1, 1),
                                                          steps=20, seed=1))
    seen.clear()
    small = optimize_ablation(planted, "relu2", z, prob, torch.zeros(8, 1, 1), steps=60, seed=1, size=h // 2)
    assert set(seen) == {h // 2}
    assert set(np.argsort(-small)[:2].tolist()) == set(PLANTED)  # the planted red survives averaging


def test_mean_replacement_sets_removed_filters_to_their_mean(planted, tiny_cfg):
    from gan_viz.analyses.forget import layer_features
    from gan_viz.hooks import capture, edit_layer

    z = sample_z(tiny_cfg, 32, torch.Generator().manual_seed(2))
    mean = layer_features(planted, "relu2", z).mean((0, 2, 3))[:, None, None]  # (C, 1, 1)
    with edit_layer(planted, "relu2", fg.ablation(8, [2, 5]), mean, prefix="G"), capture(planted, ["relu2"]) as acts:
        planted(z)
    edited = acts["relu2"]  # the edit hook runs first, so capture sees its output
    assert torch.allclose(edited[:, 2], mean[2].expand_as(edited[:, 2]))
    cfg = fg.ForgetConfig("window", Selection("top", 2), fits=1, random_draws=1, curve_points=2, show=2,
                          replacement="mean")
    r = fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z, fake_segment, CLASSES, cfg)
    zero = fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z, fake_segment, CLASSES,
                             fg.ForgetConfig("window", Selection("top", 2), fits=1, random_draws=1, curve_points=2,
                                             show=2))
    assert not np.allclose(r.images["after"], zero.images["after"])
    assert count_hooks(planted) == 0


def test_removal_on_a_subject_whose_generator_takes_z_as_nz_1_1():
    """A PyTorch examples G (a ``main`` Sequential inside a module, z (N, nz, 1, 1)): the edit hook on
    its own forward equals running the chain by hand with the filters zeroed."""
    from gan_viz.subject import Subject
    from user_models import PTGenerator, seeded

    S = Subject.from_modules(seeded(PTGenerator(nz=8), 0), nz=8)
    layer, shape = check_layer(S, None, "G")
    assert (layer, shape) == ("main.8", (8, 16, 16)) and default_layer(S, "G") == "main.8"
    z = S.sample_z(6, torch.Generator().manual_seed(0))
    got = fg.removed_images(S, layer, z, [0, 3], torch.zeros(8, 1, 1), batch_size=4)
    a = fg.ablation(8, [0, 3])
    with torch.no_grad():
        want = S.G.main[9:](S.G.main[:9](z[:, :, None, None]) * (1 - a))
    assert torch.allclose(got, want, atol=1e-6) and count_hooks(S.G) == 0
    feats = fg.layer_features(S, "G.main.8", z)
    assert feats.shape == (6, 8, 16, 16) and tail_after(S.G, layer) is None  # not a flat chain: hooks


def test_judges_measure_apart_from_the_selecting_instrument(planted, tiny_cfg):
    """The first judge is the headline; the selecting instrument's reading is beside it; the paper's rule
    is measured on the same probe fits with its own random controls."""
    def strict(images):  # another instrument: window only where red is well above 0.3
        seg = fake_segment(images)
        seg[(seg == 1) & (images[:, 0] < 0.5)] = 0
        return seg

    z_eval = sample_z(tiny_cfg, 48, torch.Generator().manual_seed(9))
    cfg = fg.ForgetConfig("window", Selection("top", 2), fits=2, random_draws=2, curve_points=2, show=2)
    judges = [fg.Judge("strict", strict, CLASSES), fg.Judge("selecting", fake_segment, CLASSES)]
    r = fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg, seed=s) for s in (1, 2)], z_eval,
                          fake_segment, CLASSES, cfg, judges=judges)
    s = fg.summarize(r)
    assert s["judges"] == ["strict", "selecting"] and set(s["removal_by"]) == {"strict", "selecting"}
    assert s["removed_share_median"] == pytest.approx(1.0) and s["selecting_instrument_removed_share_median"] == 1.0
    by = s["removal_by"]["strict"]
    assert by["fraction_before"] < s["removal_by"]["selecting"]["fraction_before"]  # its own reading
    assert s["paper_rule_n_filters"]["median"] >= 2 and s["paper_rule_removed_share_median"] == pytest.approx(1.0)
    assert "paper_rule" in by and len(by["paper_rule"]["random_removed_share"]["values"]) == 2
    assert all(o.paper is not None and len(o.paper.random) == 2 for o in r.fits)
    with pytest.raises(UserError, match="not a class of the judge"):
        fg.compute_forget(planted, "relu2", [probe_set(planted, tiny_cfg)], z_eval, fake_segment, CLASSES, cfg,
                          judges=[fg.Judge("other", strict, ("rest", "sofa"))])


def test_cli_evaluation_samples_are_fresh(cli, ckpt32, fake_parser, tmp_path):
    code, stdout, err = cli("forget", "--ckpt", ckpt32, *FAST, "--select", "top-2", "--out", tmp_path / "f")
    assert code == 0, err
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    a = np.load(tmp_path / "f" / "arrays.npz")
    probe = a["z_probe"].reshape(-1, a["z_probe"].shape[-1])
    assert not (np.abs(a["z_eval"][:, None] - probe[None]).sum(-1) < 1e-6).any()  # no probe sample is evaluated
    samples = sample_z(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8), 48, torch.Generator().manual_seed(0))
    assert not np.allclose(a["z_eval"], samples.numpy())  # nor the `gan-viz samples --seed 0` sheet
    assert s["evaluation"]["held_out"] and s["judge"] == "rooms-parser-b" and s["judges"][1] == "rooms-parser"
    assert "removal measured by rooms-parser-b (held out: True)" in stdout and "paper's weight > 0 rule" in stdout
    assert list(a["judges"]) == s["judges"] and a["judge0_fractions_after"].shape == (2, 3)


@pytest.mark.parametrize("flag, measured", [([], True), (["--no-paper-rule"], False)])
def test_cli_paper_rule_flag_is_honoured(cli, ckpt32, fake_parser, tmp_path, flag, measured):
    """--no-paper-rule drops the weight > 0 removals (and their controls); by default they are measured."""
    out = tmp_path / "f"
    code, stdout, err = cli("forget", "--ckpt", ckpt32, *FAST, "--select", "top-2", *flag, "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    a = np.load(out / "arrays.npz")
    assert s["paper_rule_measured"] is measured
    assert ("paper_rule_removed_share_median" in s) is measured and ("paper_rule" in s["removal_by"][s["judge"]]) \
        is measured
    assert ("paper_rule_filters" in a.files) is measured and ("paper's weight > 0 rule" in stdout) is measured


def test_mean_replacement_is_taken_over_the_probe_samples(planted, tiny_cfg):
    """--replace mean: r is each filter's mean over the probe sets' z, not over the evaluation z
    (evaluation z here are scaled so that their mean differs clearly)."""
    sets = [probe_set(planted, tiny_cfg, seed=s) for s in (1, 2)]
    z_eval = 3 * sample_z(tiny_cfg, 32, torch.Generator().manual_seed(9))
    cfg = fg.ForgetConfig("window", Selection("top", 2), fits=2, random_draws=1, curve_points=2, show=3,
                          replacement="mean")
    r = fg.compute_forget(planted, "relu2", sets, z_eval, fake_segment, CLASSES, cfg)
    probe_z = torch.cat([ps.z for ps in sets])
    want = fg.layer_features(planted, "relu2", probe_z).double().mean((0, 2, 3))
    eval_mean = fg.layer_features(planted, "relu2", z_eval).double().mean((0, 2, 3))
    assert not np.allclose(want.numpy(), eval_mean.numpy(), atol=1e-2)  # the two means do differ
    after = fg.removed_images(planted, "relu2", z_eval[:3], r.fits[r.rep].filters, want.float()[:, None, None])
    assert np.allclose(r.images["after"], after.numpy(), atol=1e-5)
    assert r.replacement.shape == (8,) and np.allclose(r.replacement, want.numpy(), atol=1e-5)
    assert fg.summarize(r)["replacement_mean_over"] == "probe samples"
    zero = fg.compute_forget(planted, "relu2", sets, z_eval, fake_segment, CLASSES,
                             fg.ForgetConfig("window", Selection("top", 2), fits=2, random_draws=1, curve_points=2,
                                             show=3))
    assert not zero.replacement.any()
