"""Every checkpoint format opens by content, to the same outputs as the networks that wrote it.

Fixtures are written here (no downloads): the PyTorch examples layout (bare, DataParallel,
without num_batches_tracked, with bias=True), dict wrappers with metadata, Lightning-style
flat prefixes, safetensors in and out; and the bad inputs, each one line and exit 2.
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from user_models import Critic, PTDiscriminator, PTGenerator, seeded  # noqa: E402

from gan_viz.checkpoint import load_checkpoint, load_subject, save_checkpoint  # noqa: E402
from gan_viz.config import ModelConfig  # noqa: E402
from gan_viz.errors import UserError  # noqa: E402
from gan_viz.models import build_discriminator, build_generator  # noqa: E402
from gan_viz.subject import file_sha256  # noqa: E402

NZ = 16


def pt_pair(bias=False, seed=0):
    """A PyTorch examples G/D pair (32x32) with non-trivial weights and BatchNorm statistics."""
    G, D = seeded(PTGenerator(nz=NZ, bias=bias), seed), seeded(PTDiscriminator(bias=bias), seed + 1)
    g = torch.Generator().manual_seed(seed + 2)
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.num_batches_tracked.fill_(17)
    return G, D


def no_nbt(sd):
    return OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))


def dataparallel(net):
    return nn.DataParallel(net).state_dict()  # keys module.main.<i>.*


def same_outputs(S, G, D):
    """The subject's G and D compute what the original modules compute, on the same z."""
    z = S.sample_z(5, torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = G(z[:, :, None, None])
        got = S.images(z)
        assert got.shape == want.shape == (5, 3, 32, 32)
        assert torch.allclose(got, want, atol=1e-6)
        assert torch.allclose(S.D(want), D(want), atol=1e-6)
        assert not torch.allclose(S.D(want), S.D(torch.flip(want, [3])), atol=1e-6), "D must see its input"


# --- each format: writers ----------------------------------------------------------------

def w_examples(tmp, G, D):
    torch.save(G.state_dict(), tmp / "netG_epoch_3.pth")
    torch.save(D.state_dict(), tmp / "netD_epoch_3.pth")
    return tmp / "netG_epoch_3.pth"


def w_dataparallel(tmp, G, D):
    torch.save(dataparallel(G), tmp / "netG_epoch_3.pth")
    torch.save(dataparallel(D), tmp / "netD_epoch_3.pth")
    return tmp / "netD_epoch_3.pth"


def w_old(tmp, G, D):  # before PyTorch 0.4.1: no num_batches_tracked
    torch.save(no_nbt(G.state_dict()), tmp / "netG_epoch_3.pth")
    torch.save(no_nbt(D.state_dict()), tmp / "netD_epoch_3.pth")
    return tmp / "netG_epoch_3.pth"


def w_netG_netD(tmp, G, D):
    torch.save({"netG": G.state_dict(), "netD": D.state_dict(), "epoch": 3, "iteration": 1234,
                "note": "run 7", "optimizerG": {"state": {}, "param_groups": []}}, tmp / "pair.pt")
    return tmp / "pair.pt"


def w_long_names_dp(tmp, G, D):
    torch.save({"generator_state_dict": dataparallel(G), "discriminator_state_dict": no_nbt(D.state_dict()),
                "epoch": 3}, tmp / "both.tar")
    return tmp / "both.tar"


def w_short_names(tmp, G, D):
    torch.save({"gen": {"state_dict": G.state_dict()}, "disc": D.state_dict(), "epoch": 3}, tmp / "ck.pth")
    return tmp / "ck.pth"


def w_lightning(tmp, G, D):  # {"state_dict": {"netG.main.0.weight": ...}}, as PyTorch Lightning writes
    flat = {**{f"netG.{k}": v for k, v in G.state_dict().items()}, **{f"netD.{k}": v for k, v in D.state_dict().items()}}
    torch.save({"state_dict": flat, "epoch": 3, "global_step": 99}, tmp / "last.ckpt")
    return tmp / "last.ckpt"


def w_safetensors(tmp, G, D):  # flat prefixed keys, named .bin: found by content
    flat = {**{f"netG.{k}": v for k, v in G.state_dict().items()}, **{f"netD.{k}": v for k, v in D.state_dict().items()}}
    save_file(flat, str(tmp / "weights.bin"), metadata={"epoch": "3"})
    return tmp / "weights.bin"


def w_pickle_named_safetensors(tmp, G, D):  # a torch.save file whose name says safetensors
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "epoch": 3}, tmp / "model.safetensors")
    return tmp / "model.safetensors"


FORMATS = {"examples": (w_examples, "pytorch-examples"), "dataparallel": (w_dataparallel, "pytorch-examples"),
           "no_num_batches_tracked": (w_old, "pytorch-examples"), "netG_netD": (w_netG_netD, "state-dict"),
           "long_names_dataparallel": (w_long_names_dp, "state-dict"), "short_names": (w_short_names, "state-dict"),
           "lightning": (w_lightning, "state-dict"), "safetensors": (w_safetensors, "safetensors"),
           "torch_file_named_safetensors": (w_pickle_named_safetensors, "state-dict")}


@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_loads_to_identical_outputs(tmp_path, fmt, bias):
    G, D = pt_pair(bias)
    writer, source = FORMATS[fmt]
    path = writer(tmp_path, G, D)
    S = load_subject(path)
    assert S.provenance.format == source and S.provenance.sha256 == file_sha256(path)
    assert S.provenance.path == str(path)
    c = S.config
    assert (c.image_size, c.nz, c.ngf, c.ndf, c.nc, c.conv_bias, c.z_dist) == (32, NZ, 8, 8, 3, bias, "normal")
    assert S.epoch == 3 and S.provenance.metadata["epoch"] == 3
    assert (S.G.conv1.bias is not None) == bias and (S.D.conv4.bias is not None) == bias
    same_outputs(S, G, D)


def test_wrapper_metadata_kept(tmp_path):
    G, D = pt_pair()
    S = load_subject(w_netG_netD(tmp_path, G, D))
    meta = S.provenance.metadata
    assert (S.step, S.epoch) == (1234, 3) and meta["note"] == "run 7" and meta["iteration"] == 1234
    assert S.provenance.to_dict()["metadata"]["note"] == "run 7"
    assert "optimizerG" not in meta, "only plain entries are metadata"
    ck = load_checkpoint(w_lightning(tmp_path, G, D))
    assert (ck.step, ck.epoch, ck.source) == (99, 3, "state-dict")


def test_single_network_wrapped_and_gan_viz_layout(tmp_path):
    G, _ = pt_pair()
    torch.save({"state_dict": dataparallel(G), "epoch": 2}, tmp_path / "g_only.pt")
    ck = load_checkpoint(tmp_path / "g_only.pt")
    assert ck.G is not None and ck.D is None and ck.source == "state-dict" and ck.epoch == 2
    # a gan-viz network's own state dict (nearest-conv upsampling), bare, under any name
    cfg = ModelConfig(image_size=16, nz=8, ngf=8, ndf=8, nc=1, g_upsample="nearest-conv")
    mine = seeded(build_generator(cfg), 4)
    torch.save(mine.state_dict(), tmp_path / "weights.pt")
    ck = load_checkpoint(tmp_path / "weights.pt")
    assert ck.config.g_upsample == "nearest-conv" and ck.config.nc == 1 and ck.D is None
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.allclose(ck.G(z), mine(z), atol=1e-6)


def test_sibling_found_by_name_only_for_bare_files(tmp_path):
    G, D = pt_pair()
    torch.save(G.state_dict(), tmp_path / "netG_epoch_5.pth")
    ck = load_checkpoint(tmp_path / "netG_epoch_5.pth")
    assert ck.D is None and ck.epoch == 5  # no sibling yet
    save_file(D.state_dict(), str(tmp_path / "netD_epoch_5.pth"))  # the sibling may be safetensors too
    ck = load_checkpoint(tmp_path / "netG_epoch_5.pth")
    assert ck.D is not None
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(ck.D(x), D(x), atol=1e-6)


# --- safetensors out ------------------------------------------------------------------------

def test_export_safetensors_roundtrip(tmp_path, cli):
    from safetensors import safe_open

    cfg = ModelConfig(image_size=16, nz=8, ngf=8, ndf=8, nc=3, z_dist="uniform", g_upsample="nearest-conv")
    G, D = seeded(build_generator(cfg), 1), seeded(build_discriminator(cfg), 2)
    src = save_checkpoint(tmp_path / "c.pt", cfg, G, D, step=42, epoch=2, train_config={"dataset": "digits"},
                          opt_G={"state": {}, "param_groups": []})
    code, out, err = cli("export", "--ckpt", src, "--format", "safetensors", "--out", tmp_path / "m.safetensors")
    assert code == 0, err
    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
    assert "netG.conv1.weight" in keys and "netD.conv1.weight" in keys and not any("opt" in k for k in keys)
    assert json.loads(meta["config"]) == cfg.to_dict()
    ck = load_checkpoint(tmp_path / "m.safetensors")
    assert ck.source == "safetensors" and ck.config == cfg and (ck.step, ck.epoch) == (42, 2)
    assert ck.dataset == "digits"
    z = torch.rand(4, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(ck.G(z), G.eval()(z)) and torch.equal(ck.D(G(z)), D.eval()(G(z)))
    S = load_subject(tmp_path / "m.safetensors")
    assert S.z_dist == "uniform" and S.domain == "digits" and S.provenance.format == "safetensors"
    card = json.loads((tmp_path / "m_card.json").read_text())
    assert card["format"] == "safetensors" and card["step"] == 42


def test_export_a_pytorch_examples_pair(tmp_path, cli):
    G, D = pt_pair(bias=True)
    path = w_examples(tmp_path, G, D)
    code, _, err = cli("export", "--ckpt", path, "--out", tmp_path / "pair.safetensors")
    assert code == 0, err
    same_outputs(load_subject(tmp_path / "pair.safetensors"), G, D)
    code, _, err = cli("export", "--ckpt", path, "--format", "safetensors", "--out", tmp_path / "pair.pt")
    assert code == 2 and ".safetensors" in err and not (tmp_path / "pair.pt").exists()


# --- config ----------------------------------------------------------------------------------

def test_conv_bias_config_and_old_checkpoints(tmp_path, tiny_cfg):
    biased = tiny_cfg.replace(conv_bias=True)
    for net in (build_generator(biased), build_discriminator(biased)):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert convs and all(m.bias is not None for m in convs)
    assert all(m.bias is None for m in build_generator(tiny_cfg).modules() if isinstance(m, nn.ConvTranspose2d))
    with pytest.raises(UserError, match="conv_bias"):
        ModelConfig(conv_bias="yes")
    old = tiny_cfg.to_dict()
    del old["conv_bias"]  # a checkpoint written before the field existed
    G = build_generator(tiny_cfg)
    torch.save({"format": "gan-viz/1", "config": old, "G": G.state_dict(), "D": None}, tmp_path / "old.pt")
    ck = load_checkpoint(tmp_path / "old.pt")
    assert ck.config == tiny_cfg and ck.config.conv_bias is False


# --- bad input: one line, exit 2, nothing written ------------------------------------------

def _bad(tmp):
    G, D = pt_pair()
    torch.save(G, tmp / "netG_whole.pth")  # a whole pickled module
    sd = dataparallel(G)
    sd["module.main.4.weight"] = torch.ones(5)  # the 2nd BatchNorm: (16,) expected
    torch.save(sd, tmp / "netG_epoch_1.pth")
    torch.save(seeded(Critic()).state_dict(), tmp / "critic.pt")
    biased = PTGenerator(nz=NZ, bias=True).state_dict()
    del biased["main.3.bias"]  # one convolution without its bias
    torch.save({"netG": biased}, tmp / "half_bias.pt")
    big_D = PTDiscriminator().state_dict()
    big_D = {**big_D, "main.11.weight": torch.zeros(1, 1, 4, 4)}  # a 5th conv: 64x64 vs G's 32x32
    torch.save({"netG": G.state_dict(), "netD": big_D}, tmp / "mismatched_pair.pt")
    five = PTGenerator(nz=NZ, nc=5).state_dict()
    torch.save(five, tmp / "five_channels.pt")
    torch.save({"epoch": 3, "note": "no weights"}, tmp / "no_tensors.pt")
    save_file({"netG.main.0.weight": torch.zeros(16, 32, 4, 4)}, str(tmp / "t.safetensors"))
    data = (tmp / "t.safetensors").read_bytes()
    (tmp / "truncated.safetensors").write_bytes(data[: len(data) - 100])
    return {"whole_module": (tmp / "netG_whole.pth", "--model-def FILE.py:build"),
            "shape": (tmp / "netG_epoch_1.pth", "module.main.4.weight has shape (5,), expected (16,)"),
            "unknown_layout": (tmp / "critic.pt", "key features.0.weight (8, 3, 4, 4) fits neither"),
            "half_bias": (tmp / "half_bias.pt", "the generator lacks netG['main.3.bias'] (16,)"),
            "mismatched_pair": (tmp / "mismatched_pair.pt", "disagree on image_size (32 vs 64)"),
            "five_channels": (tmp / "five_channels.pt", "key main.9.weight (8, 5, 4, 4)"),
            "no_tensors": (tmp / "no_tensors.pt", "holds no tensors"),
            "truncated_safetensors": (tmp / "truncated.safetensors", "truncated or damaged safetensors")}


BAD = ["whole_module", "shape", "unknown_layout", "half_bias", "mismatched_pair", "five_channels", "no_tensors",
       "truncated_safetensors"]


@pytest.mark.parametrize("case", BAD)
def test_bad_files_one_line_exit_2(tmp_path, case, cli):
    path, expect = _bad(tmp_path)[case]
    with pytest.raises(UserError) as e:
        load_subject(path)
    assert expect in str(e.value), str(e.value)
    code, out, err = cli("generate", "--ckpt", path, "--n", "2", "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and expect in err, err
    assert not (tmp_path / "out").exists(), "nothing written on bad input"


def test_whole_module_refused_with_the_model_def_file(tmp_path):
    G, _ = pt_pair()
    torch.save(G, tmp_path / "netG.pth")
    with pytest.raises(UserError) as e:
        load_checkpoint(tmp_path / "netG.pth")
    msg = str(e.value)
    assert "arbitrary unpickling" in msg and "user_models.PTGenerator" in msg
    assert ("import torch / def build(): / return {\"G\": torch.load(\"" + str(tmp_path / "netG.pth")
            + "\", weights_only=False), \"nz\": 100}") in msg
