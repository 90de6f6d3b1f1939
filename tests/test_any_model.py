"""Any G and D a user brings: dotted layer names, the real forward, guided backprop on any D.

The models are tests/user_models.py's (a WGAN-style critic with a Linear head, a nested-block
G, the PyTorch examples layout, a critic with functional activations) and a nested-block
critic defined in the --model-def file below (PReLU, in-place rectifiers, a ModuleList).
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from user_models import Critic, FunctionalCritic, NestedGenerator, PTDiscriminator, seeded

from gan_viz.analyses import guided_backprop as gb
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz import layers as L
from gan_viz.hooks import capture, count_hooks, forward_to
from gan_viz.model_def import load_model_def
from gan_viz.models import build_discriminator
from gan_viz.sources import ImageSource
from gan_viz.subject import Subject
from gan_viz.units import receptive_chain, scan_top

TESTS = Path(__file__).resolve().parent

MODEL_DEF = f'''
import sys
sys.path.insert(0, {str(TESTS)!r})
import torch
import torch.nn.functional as F
from torch import nn
from user_models import Critic, FunctionalCritic, NestedGenerator, seeded


class Stage(nn.Module):
    def __init__(self, cin, cout, norm, act):
        super().__init__()
        self.conv, self.norm, self.act = nn.Conv2d(cin, cout, 4, 2, 1), norm, act

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class NestedCritic(nn.Module):
    """A stem with a PReLU, a ModuleList of conv stages (in-place rectifiers), a Linear head."""

    def __init__(self, nc=3, w=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(nc, w, 3, 1, 1), nn.PReLU(w))
        self.blocks = nn.ModuleList([
            Stage(w, 2 * w, nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True)),
            Stage(2 * w, 4 * w, nn.GroupNorm(2, 4 * w), nn.ReLU(inplace=True)),
            Stage(4 * w, 4 * w, nn.Identity(), nn.LeakyReLU(0.1))])
        self.head = nn.Linear(4 * w * 4 * 4, 1)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x.flatten(1)).squeeze(1)


def G():
    return seeded(NestedGenerator(), 1)


def critic():
    return {{"G": G(), "D": seeded(Critic(), 2), "nz": 16}}


def nested():
    return {{"G": G(), "D": seeded(NestedCritic(), 3), "nz": 16}}


def functional():
    return {{"G": G(), "D": seeded(FunctionalCritic(), 4), "nz": 16}}
'''


@pytest.fixture(scope="module")
def model_def(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "mymodels.py"
    path.write_text(textwrap.dedent(MODEL_DEF))
    return path


def _x(n=4, shape=(3, 32, 32), seed=0):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- the independent reference: the rule as a custom autograd Function -------------------

class _Rule(torch.autograd.Function):
    """y = x if x > 0 else a * x; backward max(g, 0) * slope (leaky) or max(g, 0) * [x > 0] (relu)."""

    @staticmethod
    def forward(ctx, x, a, rule):
        ctx.save_for_backward(x, a)
        ctx.rule = rule
        return torch.where(x > 0, x, a * x)

    @staticmethod
    def backward(ctx, g):
        x, a = ctx.saved_tensors
        below = a if ctx.rule == "leaky" else torch.zeros_like(a)
        return g.clamp(min=0) * torch.where(x > 0, torch.ones_like(x), below.expand_as(x)), None, None


class _Guided(nn.Module):
    def __init__(self, m: nn.Module, rule: str):
        super().__init__()
        self.m, self.rule = m, rule

    def forward(self, x):
        if isinstance(self.m, nn.PReLU):
            a = self.m.weight.detach().reshape(1, -1, *([1] * (x.dim() - 2)))
        else:
            a = torch.tensor(getattr(self.m, "negative_slope", 0.0))
        return _Rule.apply(x, a.to(x), self.rule)


def reference_maps(net, layer, x, f, pos, rule):
    """d layer[r, f[r], i[r], j[r]] / d x[r] by plain autograd on a copy of ``net`` whose rectifiers
    are replaced by :class:`_Rule` (no hooks of gan-viz, no captum)."""
    ref = copy.deepcopy(net).eval()
    if rule != "plain":
        for name, m in list(ref.named_modules()):
            if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.PReLU)):
                parent, _, child = name.rpartition(".")
                setattr(ref.get_submodule(parent) if parent else ref, child, _Guided(m, rule))
        layer = layer if layer in dict(ref.named_modules()) else layer + ".m"
    got = {}
    handle = ref.get_submodule(layer).register_forward_hook(lambda _m, _i, out: got.setdefault("a", out))
    try:
        x = x.clone().requires_grad_(True)
        ref(x)
    finally:
        handle.remove()
    unit = got["a"][torch.arange(len(x)), f, pos[:, 0], pos[:, 1]]
    (g,) = torch.autograd.grad(unit.sum(), x)
    return g


def _close(got, want):
    scale = float(want.abs().max())
    assert scale > 0
    assert float((got - want).abs().max()) <= 1e-5 * scale, float((got - want).abs().max()) / scale


# --- layers by dotted names ----------------------------------------------------------------

def test_layers_command_lists_dotted_names_with_shapes(cli, model_def):
    code, out, err = cli("layers", "--model-def", f"{model_def}:critic")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("# ") and "format=model-def" in lines[0] and "nz=16" in lines[0]
    assert "z_dist=normal" in lines[0] and "image=3x32x32" in lines[0]
    rows = {ln.split()[0]: ln for ln in lines[2:]}
    assert "(8, 32, 32)" in rows["G.blocks.2.act"] and rows["G.blocks.2.act"].endswith("ReLU")
    assert "(16, 8, 8)" in rows["D.features.4"] and rows["D.features.4"].endswith("LeakyReLU")
    assert "(1,)" in rows["D.head"] and rows["D.head"].endswith("Linear")
    assert rows["G.blocks"].split()[1] == "-"  # a ModuleList is never called itself


def test_default_layer_from_the_graph_any_head():
    assert L.default_layer(seeded(Critic()), "D", (3, 32, 32)) == "features.7"  # LayerNorm critic, Linear head
    assert L.default_layer(seeded(Critic(norm=None)), "D", (3, 32, 32)) == "features.5"
    assert L.default_layer(PTDiscriminator(), "D", (3, 32, 32)) == "main.7"  # in-place LeakyReLU, conv head
    assert L.default_layer(build_discriminator(ModelConfig(image_size=32, ndf=4)), "D") == "lrelu3"
    assert L.conv_layers(Critic())[-1] == "features.7" and "head" not in L.conv_layers(Critic())


def test_check_layer_dotted_names_containers_and_close_matches(model_def):
    D = load_model_def(f"{model_def}:nested").D
    assert L.check_layer(D, "D.blocks.1.act", "D", (3, 32, 32))[0] == "blocks.1.act"
    assert L.check_layer(D, "D.blocks.1", "D", (3, 32, 32))[0] == "blocks.1"  # a stage: its output map
    assert L.check_layer(D, None, "D", (3, 32, 32))[0] == "blocks.2.act"
    with pytest.raises(UserError, match=r"closest: D\.blocks\.2\.act"):
        L.check_layer(D, "D.blocks.2.actt", "D", (3, 32, 32))
    with pytest.raises(UserError, match="not convolutional"):
        L.check_layer(D, "D.head", "D", (3, 32, 32))


# --- forward_to: the model's own forward ---------------------------------------------------------

def old_children_loop(net, layer, x):
    """The former forward_to: children in registration order up to ``layer``."""
    for name, m in net.named_children():
        x = m(x)
        if name == layer:
            return x
    raise KeyError(layer)


@pytest.mark.parametrize("make", [lambda: build_discriminator(ModelConfig(image_size=32, ndf=4)),
                                  lambda: seeded(PTDiscriminator()).main])
def test_forward_to_on_a_plain_chain_equals_the_children_loop(make):
    net = make().eval()
    assert L.is_plain_chain(net)
    x = _x()
    with torch.no_grad():
        for layer, _ in net.named_children():
            want = old_children_loop(net, layer, x.clone())
            for fast in (True, False):  # the chain's fast path, and the hook on the real forward
                got = forward_to(net, layer, x.clone(), fast=fast)
                torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


class MainHead(nn.Module):
    """A PyTorch examples ``main`` trunk with a Linear head: not a chain of its children."""

    def __init__(self):
        super().__init__()
        self.main = seeded(PTDiscriminator()).main[:8]  # up to the third LeakyReLU: (N, 32, 4, 4)
        self.head = nn.Linear(32 * 4 * 4, 1)

    def forward(self, x):
        return self.head(self.main(x).flatten(1)).squeeze(1)


def test_forward_to_on_a_non_chain_equals_a_hooked_forward():
    net = seeded(MainHead())
    x = _x()
    assert not L.is_plain_chain(net)
    with pytest.raises(RuntimeError):
        old_children_loop(net, "head", x)  # the old loop fed the 4-D map straight into the Linear head
    with torch.no_grad():
        for layer in ("main.4", "main.7", "head"):
            with capture(net, [layer]) as acts:
                net(x)
            torch.testing.assert_close(forward_to(net, layer, x), acts[layer], rtol=1e-6, atol=1e-6)
    assert count_hooks(net) == 0
    assert receptive_chain(net, "main.7") is None  # no cone: the general path


def test_forward_to_a_module_the_forward_never_calls():
    net = seeded(Critic())
    net.unused = nn.ReLU()
    with pytest.raises(UserError, match="never called"):
        forward_to(net, "unused", _x(1))
    assert count_hooks(net) == 0


# --- guided backprop on any D --------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["critic", "nested"])
@pytest.mark.parametrize("rule", gb.RULES)
def test_maps_equal_independent_autograd_of_the_rule(model_def, spec, rule):
    D = load_model_def(f"{model_def}:{spec}").D
    layer = L.default_layer(D, "D", (3, 32, 32))
    x = _x(5, seed=1)
    f = torch.tensor([0, 1, 5, 5, 7])
    with torch.no_grad():  # each row's unit: its filter's maximal response, as the analysis picks it
        a = forward_to(D.eval(), layer, x)[torch.arange(5), f]  # (5, h, w)
    best = a.flatten(1).argmax(1)
    pos = torch.stack([best // a.shape[-1], best % a.shape[-1]], 1)
    got = gb.guided_maps(D, layer, x, f, pos, rule, batch_size=2, progress=False)
    want = reference_maps(D, layer, x, f, pos, rule)
    _close(got, want)
    if rule != "plain":  # the rule took effect: not the plain gradient
        plain = reference_maps(D, layer, x, f, pos, "plain")
        assert float((want - plain).abs().max()) > 1e-3 * float(plain.abs().max())
    assert count_hooks(D) == 0
    if spec == "nested":  # in-place rectifiers switched back after the body
        assert D.blocks[0].act.inplace and D.blocks[1].act.inplace


@pytest.mark.parametrize("spec, layer", [("critic", "D.features.7"), ("nested", "D.blocks.2.act")])
def test_cli_guided_backprop_on_a_user_model(cli, model_def, tmp_path, spec, layer):
    out = tmp_path / "o"
    code, text, err = cli("guided-backprop", "--model-def", f"{model_def}:{spec}", "--source", "generated",
                          "--images", "10", "--top", "2", "--filters", "0,3,5", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["layer"] == layer and s["filters"] == [0, 3, 5] and s["images"].startswith("generated")
    assert s["checkpoint_source"] == "model-def" and layer in text
    for name in ("guided_backprop", "top_images", "run"):
        assert any(out.glob(f"{name}.*"))
    z = np.load(out / "arrays.npz")
    S = load_model_def(f"{model_def}:{spec}")
    n = 6  # trained rows (3 filters x 2 images), then the random baseline's
    for rows, net in ((slice(0, n), S.D), (slice(n, 2 * n), S.random_copy("D", 0))):
        want = reference_maps(net, layer[2:], torch.from_numpy(z["images"][rows]),
                              torch.from_numpy(z["filters"][rows]), torch.from_numpy(z["positions"][rows]), "leaky")
        _close(torch.from_numpy(z["maps"][rows]), want)


def _no_figures(monkeypatch):
    """Skip drawing the figures (seconds each) where a test reads only the numbers."""
    import matplotlib.pyplot as plt

    from gan_viz import io

    monkeypatch.setattr(io, "save_figure", lambda fig, *a, **k: plt.close(fig))


def test_functional_critic_is_refused(cli, model_def, tmp_path, monkeypatch):
    code, _, err = cli("guided-backprop", "--model-def", f"{model_def}:functional", "--source", "generated",
                       "--images", "4", "--top", "2", "--out", tmp_path / "x")
    assert code == 2 and "no rectifier module" in err and "functional" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    _no_figures(monkeypatch)
    code, _, err = cli("guided-backprop", "--model-def", f"{model_def}:functional", "--source", "generated",
                       "--images", "4", "--top", "2", "--rule", "plain", "--out", tmp_path / "p")
    assert code == 0, err  # the plain gradient, asked for by name


def test_guided_rule_never_silently_plain():
    D = seeded(FunctionalCritic())
    D.spare = nn.LeakyReLU(0.2)  # a rectifier module the forward never calls
    with pytest.raises(UserError, match="runs before D.c3"):
        gb.check_guidable(D, "c3", (3, 32, 32), "leaky")
    C = seeded(Critic())
    with pytest.raises(UserError, match="gives the plain gradient of D.features.1"):
        gb.check_guidable(C, "features.1", (3, 32, 32), "leaky")  # one unit through the first rectifier
    gb.check_guidable(C, "features.7", (3, 32, 32), "leaky")
    gb.check_guidable(D, "c3", (3, 32, 32), "plain")
    assert count_hooks(C) == 0 and count_hooks(D) == 0


def test_cli_bad_layer_lists_close_matches(cli, model_def, tmp_path):
    code, _, err = cli("guided-backprop", "--model-def", f"{model_def}:nested", "--source", "generated",
                       "--layer", "D.blocks.2.actt", "--out", tmp_path / "x")
    assert code == 2 and "closest: D.blocks.2.act" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_library_runner_from_modules(tmp_path, monkeypatch):
    from gan_viz.analyses import registry

    _no_figures(monkeypatch)
    S = Subject.from_modules(seeded(NestedGenerator(), 1), seeded(Critic(), 2), nz=16)
    ctx = registry.Context(S, tmp_path, seed=0)
    s = registry.run("guided-backprop", ctx, filters=[1, 2], top=2, images=6, source="generated")
    assert s["layer"] == "D.features.7" and s["filters"] == [1, 2]
    assert (tmp_path / "summary.json").exists() and (tmp_path / "arrays.npz").exists()
    assert registry.get("guided-backprop").caption(s).startswith("Guided backpropagation")


def test_scan_top_on_a_non_chain_matches_brute_force():
    net = seeded(MainHead())
    x = _x(9, seed=3)
    src = ImageSource("generated", "t", len(x), lambda idx: x[torch.as_tensor(idx, dtype=torch.long)])
    top = scan_top(net, "main.7", src, [0, 2], 3, batch_size=4)
    with torch.no_grad(), capture(net, ["main.7"]) as acts:
        net(x)
    v = acts["main.7"][:, [0, 2]].flatten(2).max(2).values  # (N, 2)
    for i in range(2):
        torch.testing.assert_close(top.values[i], v[:, i].sort(descending=True).values[:3], rtol=1e-5, atol=1e-6)


def test_prelu_rule_via_modules_in_a_plain_sequential():
    net = seeded(nn.Sequential(OrderedDict(c1=nn.Conv2d(3, 4, 3), a1=nn.PReLU(4), c2=nn.Conv2d(4, 4, 3),
                                           a2=nn.PReLU(), c3=nn.Conv2d(4, 2, 3))), 5)
    x, f, pos = _x(3, (3, 11, 11)), torch.tensor([0, 1, 1]), torch.tensor([[0, 0], [2, 1], [4, 4]])
    for rule in gb.RULES:
        _close(gb.guided_maps(net, "c3", x, f, pos, rule, progress=False), reference_maps(net, "c3", x, f, pos, rule))
