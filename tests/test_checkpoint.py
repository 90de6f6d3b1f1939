"""Checkpoints: bit-exact round trips, the PyTorch examples importer, and bad files."""

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.checkpoint import load_checkpoint, save_checkpoint
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator


def pt_examples_nets(nz=8, ngf=4, ndf=4, nc=3):
    """The PyTorch examples DCGAN (64x64), built from the layer list in PAPER.md."""
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    torch.manual_seed(0)
    for net in (G, D):  # non-trivial weights and BatchNorm statistics
        for p in net.parameters():
            p.data.normal_(0, 0.1)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return G.eval(), D.eval()


def wrap(seq):  # the examples' modules keep their layers in `.main`
    m = nn.Module()
    m.main = seq
    return m


def write_pt_examples(tmp_path, old_format=False, with_g=True, with_d=True):
    G, D = pt_examples_nets()
    paths = {}
    for tag, net, ok in (("G", G, with_g), ("D", D, with_d)):
        if not ok:
            continue
        sd = wrap(net).state_dict()
        if old_format:  # written before PyTorch 0.4.1
            sd = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
        paths[tag] = tmp_path / f"net{tag}_epoch_24.pth"
        torch.save(sd, paths[tag])
    return G, D, paths


def test_roundtrip_bit_exact(tmp_path, tiny_cfg):
    G, D = build_generator(tiny_cfg), build_discriminator(tiny_cfg)
    opt = torch.optim.Adam(G.parameters())
    G(torch.randn(4, tiny_cfg.nz)).mean().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "c.pt", tiny_cfg, G, D, opt_G=opt.state_dict(), step=7, epoch=1,
                           rng={"torch": torch.get_rng_state()}, train_config={"dataset": "rooms"})
    ck = load_checkpoint(path)
    assert ck.config == tiny_cfg and ck.step == 7 and ck.epoch == 1 and ck.dataset == "rooms"
    for a, b in ((G, ck.G), (D, ck.D)):
        for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
            assert k == k2 and torch.equal(v, v2)
    assert torch.equal(ck.raw["opt_G"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert not ck.G.training
    assert not list(tmp_path.glob(".c.pt*")), "no temporary file left behind"


@pytest.mark.parametrize("old_format", [False, True])
def test_pytorch_examples_import(tmp_path, old_format):
    G, D, paths = write_pt_examples(tmp_path, old_format)
    ck = load_checkpoint(paths["D"])  # either file; the sibling is found
    assert ck.source == "pytorch-examples" and ck.epoch == 24
    c = ck.config
    assert (c.image_size, c.nz, c.ngf, c.ndf, c.nc, c.z_dist) == (64, 8, 4, 4, 3, "normal")
    z = torch.randn(5, 8, 1, 1)
    with torch.no_grad():
        x = G(z)
        assert torch.equal(ck.G(z), x)
        assert torch.equal(ck.D(x), D(x).view(-1))


def test_pytorch_examples_single_network(tmp_path):
    _, _, paths = write_pt_examples(tmp_path, with_g=False)
    ck = load_checkpoint(paths["D"])
    assert ck.D is not None and ck.G is None
    with pytest.raises(UserError, match="netG_epoch_N.pth"):
        ck.require("G")


def _bad_files(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello, this is not a checkpoint\n")
    G = build_generator(__import__("gan_viz").ModelConfig(image_size=16, nz=4, ngf=4, ndf=4))
    torch.save({"format": "gan-viz/1", "config": G.config.to_dict(), "G": G.state_dict(), "D": None},
               tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump(Evil(), f)
    torch.save({"main.0.weight": torch.zeros(2, 3), "main.1.bias": torch.zeros(2)}, tmp_path / "netG_epoch_1.pth")
    resnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 2))
    torch.save(resnet.state_dict(), tmp_path / "classifier.pt")
    return {"missing": tmp_path / "nope.pt", "directory": tmp_path, "empty": tmp_path / "empty.pt",
            "truncated": tmp_path / "truncated.pt", "text": tmp_path / "notes.txt", "pickle": tmp_path / "evil.pt",
            "other_arch_main": tmp_path / "netG_epoch_1.pth", "other_arch": tmp_path / "classifier.pt"}


EXPECT = {"missing": "does not exist", "directory": "is a directory", "empty": "empty",
          "truncated": "truncated", "text": "not a PyTorch checkpoint", "pickle": "arbitrary unpickling",
          "other_arch_main": "PyTorch examples", "other_arch": "neither a gan-viz checkpoint"}


@pytest.mark.parametrize("case", sorted(EXPECT))
def test_bad_checkpoints_one_line_errors(tmp_path, case, cli):
    path = _bad_files(tmp_path)[case]
    with pytest.raises(UserError, match=EXPECT[case]):
        load_checkpoint(path)
    code, out, err = cli("generate", "--ckpt", path, "--n", "2", "--out", tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and EXPECT[case] in err
    assert not (tmp_path / "pwned").exists(), "loading must never run code"
    assert not (tmp_path / "out").exists(), "nothing written on bad input"


def test_generate_reproducible_from_z(tmp_path, tiny_cfg, cli):
    G, D = build_generator(tiny_cfg), build_discriminator(tiny_cfg)
    ck = save_checkpoint(tmp_path / "c.pt", tiny_cfg, G, D)
    assert cli("generate", "--ckpt", ck, "--n", "5", "--seed", "3", "--out", tmp_path / "a")[0] == 0
    a = tmp_path / "a"
    imgs, z = np.load(a / "images.npy"), np.load(a / "z.npy")
    assert imgs.shape == (5, 3, 16, 16) and imgs.dtype == np.float32 and z.shape == (5, tiny_cfg.nz)
    assert len(list(a.glob("sample_*.png"))) == 5 and (a / "grid.png").exists() and (a / "run.json").exists()
    np.save(tmp_path / "z4.npy", z[:, :, None, None])
    assert cli("generate", "--ckpt", ck, "--z", tmp_path / "z4.npy", "--out", tmp_path / "b")[0] == 0
    assert np.array_equal(np.load(tmp_path / "b" / "images.npy"), imgs)
    np.save(tmp_path / "bad.npy", z[:, :3])
    code, _, err = cli("generate", "--ckpt", ck, "--z", tmp_path / "bad.npy", "--out", tmp_path / "c")
    assert code == 2 and "(N, 8)" in err and not (tmp_path / "c").exists()


def test_generate_needs_generator(tmp_path, cli):
    _, _, paths = write_pt_examples(tmp_path, with_g=False)
    code, _, err = cli("generate", "--ckpt", paths["D"], "--n", "2", "--out", tmp_path / "o")
    assert code == 2 and "holds no generator" in err


def test_bundled_models_open_by_name(tmp_path, monkeypatch):
    from gan_viz import checkpoint as C

    assert C.DEFAULT == "rooms64" and C.named(None) == C.BUNDLED == C.BUNDLED_MODELS["rooms64"]
    assert C.load_checkpoint(None).config == C.load_checkpoint("rooms64").config
    assert C.load_checkpoint(None).config.image_size == 64 and C.load_checkpoint("rooms32").config.image_size == 32
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rooms32").write_bytes(b"")  # a file of that name here wins over the bundled name
    assert C.named("rooms32") == Path("rooms32")
    monkeypatch.setitem(C.BUNDLED_MODELS, "rooms99", tmp_path / "absent.pt")
    with pytest.raises(UserError, match="bundled model rooms99 is not installed"):
        C.load_checkpoint("rooms99")
