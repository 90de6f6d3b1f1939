"""The paper's architectural constraints, checked structurally, at every size."""

import pytest
import torch
from torch import nn

from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator, sample_z

SIZES = [16, 32, 64, 128, 256]


def small(size, nc):
    return ModelConfig(image_size=size, nc=nc, nz=10, ngf=4, ndf=4)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("nc", [1, 3])
def test_shapes(size, nc):
    cfg = small(size, nc)
    G, D = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    with torch.no_grad():
        x = G(torch.randn(2, 10))
        assert x.shape == (2, nc, size, size)
        assert x.abs().max() <= 1
        assert G(torch.randn(2, 10, 1, 1)).shape == x.shape
        p = D(x)
    assert p.shape == (2,)
    assert ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize("size", [16, 64, 256])
def test_paper_constraints(size):
    cfg = small(size, 3)
    G, D = build_generator(cfg), build_discriminator(cfg)
    for net in (G, D):
        kinds = [type(m) for m in net.children()]
        assert not any(issubclass(k, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear, nn.Upsample)) for k in kinds)
    g = list(G.named_children())
    convs = [m for _, m in g if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == cfg.n_blocks + 1
    assert all(c.stride == (2, 2) for c in convs[1:]) and convs[0].stride == (1, 1)
    # BatchNorm after every G conv except the output; ReLU hidden, Tanh out
    for i, (name, m) in enumerate(g):
        if isinstance(m, nn.ConvTranspose2d) and m is not convs[-1]:
            assert isinstance(g[i + 1][1], nn.BatchNorm2d) and isinstance(g[i + 2][1], nn.ReLU)
    assert isinstance(g[-1][1], nn.Tanh) and isinstance(g[-2][1], nn.ConvTranspose2d)
    d = list(D.named_children())
    dconvs = [m for _, m in d if isinstance(m, nn.Conv2d)]
    assert all(c.stride == (2, 2) for c in dconvs[:-1])
    assert isinstance(d[1][1], nn.LeakyReLU), "no BatchNorm on the discriminator input layer"
    assert sum(isinstance(m, nn.BatchNorm2d) for _, m in d) == len(dconvs) - 2
    assert all(m.negative_slope == 0.2 for _, m in d if isinstance(m, nn.LeakyReLU))
    assert isinstance(d[-1][1], nn.Sigmoid) and isinstance(d[-2][1], nn.Conv2d)


def test_init_statistics():
    cfg = ModelConfig(image_size=64)
    G = build_generator(cfg)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    g = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(g.mean() - 1) < 5e-3 and abs(g.std() - 0.02) < 5e-3
    assert all((m.bias == 0).all() for m in G.modules() if isinstance(m, nn.BatchNorm2d))


def test_logits_match_probabilities(tiny_cfg):
    D = build_discriminator(tiny_cfg).eval()
    x = torch.randn(3, 3, 16, 16)
    assert torch.allclose(torch.sigmoid(D.logits(x)), D(x), atol=1e-6)


def test_mlp_gan(tiny_cfg):
    cfg = tiny_cfg.replace(arch="mlp", mlp_hidden=32)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert not any(isinstance(m, nn.Conv2d) for m in G.modules())
    x = G(torch.randn(4, cfg.nz))
    assert x.shape == (4, 3, 16, 16) and D(x).shape == (4,)


def test_nearest_conv_upsampling(tiny_cfg):
    G = build_generator(tiny_cfg.replace(g_upsample="nearest-conv"))
    assert any(isinstance(m, nn.Upsample) for m in G.modules())
    assert G(torch.randn(2, tiny_cfg.nz)).shape == (2, 3, 16, 16)


def test_z_distributions(tiny_cfg):
    z = sample_z(tiny_cfg.replace(z_dist="uniform"), 1000, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.shape == (1000, tiny_cfg.nz)
    zn = sample_z(tiny_cfg, 1000, torch.Generator().manual_seed(0))
    assert zn.abs().max() > 1


@pytest.mark.parametrize("bad", [dict(image_size=48), dict(image_size=8), dict(image_size=512), dict(nc=2),
                                 dict(nz=0), dict(arch="resnet"), dict(z_dist="cauchy")])
def test_config_validates(bad):
    with pytest.raises(UserError):
        ModelConfig(**bad)


def test_config_roundtrip_and_frozen(tiny_cfg):
    assert ModelConfig.from_dict(tiny_cfg.to_dict()) == tiny_cfg
    with pytest.raises(Exception):
        tiny_cfg.nz = 3
    with pytest.raises(UserError):
        ModelConfig.from_dict({**tiny_cfg.to_dict(), "bogus": 1})
