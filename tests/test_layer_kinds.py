"""One set of module kinds in core (gan_viz.layers) for every analysis."""

import torch
from torch import nn

from gan_viz import layers


def test_module_kinds_are_defined_once_in_core():
    """No module but gan_viz/layers.py defines its own list of convolutions, norms, rectifiers or
    upsampling layers (four such lists once disagreed: ReLU6 was a rectifier in two of them only)."""
    import ast
    from pathlib import Path

    root = Path(layers.__file__).resolve().parents[1]
    names = {"CONVS", "NORMS", "RECTIFIERS", "UPSAMPLING", "MAP_KINDS", "BLOCK", "SQUASH"}
    for path in [*root.glob("gan_viz/**/*.py"), *root.glob("analyses/**/*.py"), *root.glob("reports/*.py")]:
        if path.name == "layers.py" and path.parent.name == "gan_viz":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                bad = {t.id for t in node.targets if isinstance(t, ast.Name)} & names
                assert not bad, f"{path.relative_to(root)} defines its own {bad}: use gan_viz.layers"
    assert nn.ReLU6 in layers.RECTIFIERS and nn.LayerNorm in layers.NORMS


def test_kind_of_names_each_kind_and_nothing_else():
    assert [layers.kind_of(m) for m in (nn.Conv2d(1, 1, 1), nn.BatchNorm2d(2), nn.LeakyReLU(), nn.Upsample(2),
                                        nn.Linear(2, 2), nn.Sigmoid())] == ["conv", "norm", "rectifier",
                                                                            "upsampling", None, None]


def test_guided_backprop_applies_to_a_relu6_network():
    """A D built with ReLU6 was refused by guided backprop ("no rectifier modules", its list lacked
    ReLU6) while classify read its ReLU6 features: the guided rule now hooks them, and the gradient
    differs from the plain one."""
    from gan_viz.analyses.guided_backprop import guided_rule, rectifiers

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 4, 3, padding=1), nn.ReLU6())
    assert [n for n, _ in rectifiers(net)] == ["1", "3"]
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    net(x)[:, 0].sum().backward()
    plain = x.grad.clone()
    x.grad = None
    with guided_rule(net, "relu"):
        net(x)[:, 0].sum().backward()
    assert not torch.allclose(plain, x.grad)


def test_tail_after_replays_only_a_plain_chain():
    """A Sequential subclass with its own forward is not replayed as a chain (the tail would differ
    from G(z)); a plain Sequential is, and its tail from a layer's output gives G's output."""
    class Scaled(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 0.5

    torch.manual_seed(0)
    parts = [nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)]
    plain, own = nn.Sequential(*parts), Scaled(*parts)
    x = torch.randn(3, 4)
    tail = layers.tail_after(plain, "1")
    assert tail is not None and torch.allclose(tail(plain[1](plain[0](x))), plain(x))
    assert layers.tail_after(own, "1") is None
    assert layers.tail_after(plain, "nope") is None and layers.tail_after(nn.Linear(2, 2), "0") is None


def test_one_random_baseline_builder_in_core():
    """filter audit's and guided backprop's random baselines come from core models.random_network, and
    Subject.random_copy draws the same weights for a gan-viz model (its documented promise)."""
    from gan_viz.analyses import filter_audit, guided_backprop
    from gan_viz.config import ModelConfig
    from gan_viz.models import build_discriminator, build_generator, random_network
    from gan_viz.subject import Subject

    cfg = ModelConfig(image_size=16, nz=8, ngf=4, ndf=4)
    for tag, old in (("D", guided_backprop.random_discriminator), ("G", filter_audit.random_generator)):
        a, b = random_network(cfg, tag, 5), old(cfg, 5)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        assert not torch.equal(next(a.parameters()), next(random_network(cfg, tag, 6).parameters()))
    S = Subject.from_config(cfg, build_generator(cfg), build_discriminator(cfg))
    for tag in ("G", "D"):
        copy_, new = S.random_copy(tag, 3), random_network(cfg, tag, 3)
        for (k, x), y in zip(copy_.state_dict().items(), new.state_dict().values()):
            assert torch.allclose(x.float(), y.float(), atol=1e-7), (tag, k)
    # that no analysis imports another is checked for every module by tests/test_architecture.py
