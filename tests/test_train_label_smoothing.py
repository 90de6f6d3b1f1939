"""--d-real-label: one-sided label smoothing of D's real target (Salimans et al. 2016)."""

import contextlib

import pytest
import torch
import torch.nn.functional as F

from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.training.config import TrainConfig
from gan_viz.training.loop import build_nets, train_step
from gan_viz.training.distributed import DistInfo

MCFG = ModelConfig(image_size=32, nz=8, ngf=4, ndf=4)


def _nets(label: float):
    tcfg = TrainConfig(batch_size=8, max_steps=1, d_real_label=label)
    return build_nets(MCFG, tcfg, torch.device("cpu"), DistInfo())


def test_real_target_is_the_label_and_fakes_keep_zero():
    """D's loss with 0.9 equals BCE(D(x), 0.9) + BCE(D(G(z)), 0) computed apart from the step."""
    g = torch.Generator().manual_seed(0)
    x, z = torch.rand(8, 3, 32, 32, generator=g) * 2 - 1, torch.rand(8, 8, generator=g) * 2 - 1
    nets = _nets(0.9)
    with torch.no_grad():
        lr, lf = nets.d_logits(x).flatten(), nets.d_logits(nets.G(z)).flatten()
    want = F.binary_cross_entropy_with_logits(lr, torch.full_like(lr, 0.9)) + \
        F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    got = train_step(nets, x, z, contextlib.nullcontext(), 0.9)
    torch.testing.assert_close(got[0], want, rtol=1e-5, atol=1e-6)


def test_label_one_is_the_paper_step_bit_for_bit():
    g = torch.Generator().manual_seed(1)
    x, z = torch.rand(8, 3, 32, 32, generator=g) * 2 - 1, torch.rand(8, 8, generator=g) * 2 - 1
    a, b = _nets(1.0), _nets(1.0)
    la = train_step(a, x, z, contextlib.nullcontext())
    lb = train_step(b, x, z, contextlib.nullcontext(), 1.0)
    assert torch.equal(la, lb)
    assert all(torch.equal(p, q) for p, q in zip(a.D.parameters(), b.D.parameters()))
    c = _nets(0.9)
    train_step(c, x, z, contextlib.nullcontext(), 0.9)
    assert not all(torch.equal(p, q) for p, q in zip(a.D.parameters(), c.D.parameters()))  # it changes D's step


@pytest.mark.parametrize("bad", [0.5, 1.1, 0.0])
def test_bad_label_is_refused(bad):
    with pytest.raises(UserError, match="--d-real-label"):
        TrainConfig(max_steps=1, d_real_label=bad)


def test_cli_records_the_label_and_refuses_a_bad_one(cli, tmp_path):
    tiny = ["train", "--dataset", "rooms", "--image-size", "32", "--nz", "8", "--ngf", "4", "--ndf", "4",
            "--batch-size", "8", "--dataset-size", "16", "--threads", "1", "--no-quality", "--max-steps", "2"]
    code, _, err = cli(*tiny, "--d-real-label", "0.3", "--out", tmp_path / "bad")
    assert code == 2 and "--d-real-label" in err and "Traceback" not in err
    code, _, err = cli(*tiny, "--d-real-label", "0.9", "--out", tmp_path / "r")
    assert code == 0, err
    import json

    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["train"]["d_real_label"] == 0.9
    code, _, err = cli("train", "--resume", "--max-steps", "3", "--threads", "1", "--out", tmp_path / "r")
    assert code == 0, err
    from gan_viz.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt").train_config["d_real_label"] == 0.9
