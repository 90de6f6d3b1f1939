"""A module the forward calls more than once: one rule everywhere (gan_viz.layers / gan_viz.hooks).

The G below reuses one ReLU in every block. Its calls are addressed ``act#k``; a bare ``act`` is
refused with the list of calls; probing (layer features), capturing, forget's removal and the
explorer's edit all read or change the same call, checked against a hand-written hook that counts
the calls itself.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from user_models import SharedReLUGenerator, seeded

from gan_viz.errors import UserError
from gan_viz.hooks import capture, count_hooks, edit_layer, forward_to, layer_table
from gan_viz.layers import check_layer, default_layer, split_address, trace

NZ = 8


@pytest.fixture
def G():
    return seeded(SharedReLUGenerator(NZ), 3).eval()


def z_of(n=5, seed=0):
    return torch.randn(n, NZ, generator=torch.Generator().manual_seed(seed))


@contextlib.contextmanager
def hand_hook(module, k, fn):
    """The reference: a forward hook that counts calls itself and acts on the k-th of one forward."""
    state = {"i": 0}

    def hook(_m, _inp, out):
        i, state["i"] = state["i"], state["i"] + 1
        return fn(out) if i == k else None

    h = module.register_forward_hook(hook)
    try:
        yield state
    finally:
        h.remove()


def test_trace_and_table_list_every_call(G):
    calls = [c for c in trace(G, z_of(2)) if c.name == "act"]
    assert [(c.address, c.shape) for c in calls] == [("act#0", (16, 4, 4)), ("act#1", (8, 8, 8)), ("act#2", (4, 16, 16))]
    rows = {r.full_name: r for r in layer_table(G, None, NZ, (3, 32, 32))}
    assert {"G.act#0", "G.act#1", "G.act#2"} <= set(rows) and "G.act" not in rows
    assert rows["G.act#1"].shape == (8, 8, 8) and rows["G.c2"].shape == (8, 8, 8)


def test_layers_command_lists_each_call(tmp_path, cli):
    path = tmp_path / "shared.py"
    path.write_text("import sys\nsys.path.insert(0, %r)\nfrom user_models import SharedReLUGenerator, seeded\n\n"
                    "def build():\n    return {'G': seeded(SharedReLUGenerator(8), 3), 'nz': 8}\n"
                    % str(__import__("pathlib").Path(__file__).parent))
    code, out, err = cli("layers", "--model-def", f"{path}:build")
    assert code == 0, err
    lines = {ln.split()[0]: ln for ln in out.splitlines()[2:] if ln.strip()}
    for k, shape in enumerate(["(16, 4, 4)", "(8, 8, 8)", "(4, 16, 16)"]):
        assert shape in lines[f"G.act#{k}"] and lines[f"G.act#{k}"].endswith("ReLU")


def test_bare_name_is_refused_with_the_calls(G):
    with pytest.raises(UserError, match=r"called 3 times.*G\.act#0, G\.act#1, G\.act#2"):
        check_layer(G, "G.act", "G", NZ)
    with pytest.raises(UserError, match="calls it 3 time"):
        check_layer(G, "act#3", "G", NZ)
    with pytest.raises(UserError, match="call number"):
        split_address("act#x")
    with pytest.raises(UserError, match="more than once"):  # the hooks refuse it at run time too
        with capture(G, ["act"]):
            G(z_of(2))
    assert count_hooks(G) == 0


def test_default_and_checked_layers_are_call_addresses(G):
    assert default_layer(G, "G", NZ) == "act#2"  # the second-highest conv's block output
    assert check_layer(G, "G.act#1", "G", NZ) == ("act#1", (8, 8, 8))
    assert check_layer(G, "b2", "G", NZ) == ("b2", (8, 8, 8))  # a module called once keeps its bare name


def test_capture_and_forward_to_read_the_addressed_call(G):
    z = z_of()
    for k in range(3):
        got = {}
        with torch.no_grad(), hand_hook(G.act, k, lambda out: got.setdefault("x", out.clone())):
            G(z)
        with torch.no_grad(), capture(G, [f"act#{k}"]) as acts:
            G(z)
        assert torch.equal(acts[f"act#{k}"], got["x"])
        with torch.no_grad():
            assert torch.equal(forward_to(G, f"act#{k}", z), got["x"])
    assert count_hooks(G) == 0


def test_edit_layer_changes_only_the_addressed_call(G):
    z, a = z_of(), torch.zeros(1, 8, 1, 1)
    a[0, [1, 5]] = 1.0
    with torch.no_grad():
        plain = G(z)
        with hand_hook(G.act, 1, lambda out: out * (1 - a)):
            want = G(z)
        with edit_layer(G, "G.act#1", a, prefix="G"):
            got = G(z)
    assert torch.allclose(got, want, atol=1e-7) and (got - plain).abs().max() > 1e-5
    assert count_hooks(G) == 0


def test_forget_probe_and_removal_touch_the_same_call(G):
    from gan_viz.analyses import forget as fg
    from gan_viz.analyses.forget import layer_features

    z = z_of(6, 1)
    feats = layer_features(G, "act#1", z, batch_size=4)
    got = {}
    with torch.no_grad(), hand_hook(G.act, 1, lambda out: got.setdefault("x", out.clone())):
        G(z)
    assert torch.allclose(feats, got["x"], atol=1e-6)
    r = torch.randn(8, 1, 1, generator=torch.Generator().manual_seed(2))
    a = fg.ablation(8, [1, 5])
    removed = fg.removed_images(G, "act#1", z, [1, 5], r, batch_size=4)
    with torch.no_grad(), hand_hook(G.act, 1, lambda out: out * (1 - a) + r * a):
        want = G(z)
    assert torch.allclose(removed, want, atol=1e-6) and count_hooks(G) == 0


def test_explorer_edit_touches_the_same_call(G):
    from gan_viz.explore.session import Session
    from gan_viz.subject import Subject

    S = Subject.from_modules(G, nz=NZ)
    s = Session(S, n=4, pins=3, scan=8)
    assert s.layer == "act#2"
    e = s.parse_edit({"layer": "G.act#1", "ablate": [2, 6]})
    got = s.edited_images(e, s.pins)
    a = torch.zeros(1, 8, 1, 1)
    a[0, [2, 6]] = 1.0
    with torch.no_grad(), hand_hook(G.act, 1, lambda out: out * (1 - a)):
        want = S.images(s.pinned_z(s.pins))
    assert torch.allclose(got, want, atol=1e-5) and count_hooks(G) == 0
    with pytest.raises(Exception, match="called 3 times"):
        s.parse_edit({"layer": "G.act", "ablate": [0]})


class SharedLeakyCritic(torch.nn.Module):
    """A D (3, 32, 32) -> (N,) whose two blocks share one LeakyReLU module."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 8, 4, 2, 1), torch.nn.Conv2d(8, 16, 4, 2, 1)
        self.head = torch.nn.Conv2d(16, 1, 8)
        self.act = torch.nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.head(self.act(self.c2(self.act(self.c1(x))))).flatten()


def test_d_calls_are_addressed_and_guided_backprop_says_why_not(tmp_path):
    from gan_viz.analyses import registry
    from gan_viz.subject import Subject

    D = seeded(SharedLeakyCritic(), 4)
    assert default_layer(D, "D", (3, 32, 32)) == "act#1"  # the block that feeds the head
    assert check_layer(D, "D.act#0", "D", (3, 32, 32)) == ("act#0", (8, 16, 16))
    S = Subject.from_modules(seeded(SharedReLUGenerator(NZ), 3), D, nz=NZ)
    with pytest.raises(UserError, match="captum.*cannot single out one call"):
        registry.run("guided-backprop", registry.Context(S, tmp_path / "gb"), images=4, top=1, source="generated")
