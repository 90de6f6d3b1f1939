"""--g-ema: the moving average of G follows its definition, travels in checkpoints, resumes bit
for bit, is the generator a checkpoint opens with, and leaves training itself unchanged."""

import pytest
import torch

from gan_viz.checkpoint import load_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import build_generator
from gan_viz.training.config import TrainConfig
from gan_viz.training.ema import GeneratorEMA
from gan_viz.training.loop import build_nets
from gan_viz.training.run import TrainingRun

MCFG = ModelConfig(image_size=32, nz=8, ngf=4, ndf=4)
TINY = ["--dataset", "rooms", "--image-size", "32", "--nz", "8", "--ngf", "4", "--ndf", "4",
        "--batch-size", "8", "--dataset-size", "64", "--threads", "1", "--no-quality"]


def _run(path, steps: int, decay: float = 0.8, resume: bool = False, every: int = 1) -> TrainingRun:
    tcfg = TrainConfig(batch_size=8, max_steps=steps, dataset_size=24, quality_every_epoch=False,
                       checkpoint_every=every, g_ema=decay)
    run = TrainingRun(MCFG, tcfg, path, torch.device("cpu"))
    if resume:
        run.resume()
    run.start_files([])
    run.fit()
    run.metrics_file.close()
    return run


def _params(state: dict) -> dict:
    G = build_generator(MCFG)
    names = {n for n, _ in G.named_parameters()}
    return {k: v for k, v in state.items() if k in names}


def test_update_is_the_definition():
    G = build_generator(MCFG)
    ema = GeneratorEMA(G, 0.9)
    before = {k: v.clone() for k, v in ema.G.named_parameters()}
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update(G)
    for k, p in G.named_parameters():
        torch.testing.assert_close(dict(ema.G.named_parameters())[k], 0.9 * before[k] + 0.1 * p)
        assert not dict(ema.G.named_parameters())[k].requires_grad


def test_run_average_matches_the_checkpointed_iterates(tmp_path):
    """e_0 = G at init, e_t = d e_(t-1) + (1 - d) g_t with g_t the trained G of step t's checkpoint."""
    d, steps = 0.8, 4
    run = _run(tmp_path / "r", steps, d)
    init = build_nets(MCFG, run.tcfg, torch.device("cpu"), run.info).G  # the same seeded init
    e = {k: v.detach().clone() for k, v in init.named_parameters()}
    for t in range(1, steps + 1):
        g = load_checkpoint(tmp_path / "r" / "checkpoints" / f"step_{t:08d}.pt").raw["G"]
        e = {k: d * e[k] + (1 - d) * g[k] for k in e}
    ck = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    got = _params(ck.raw["G_ema"])
    for k in e:
        torch.testing.assert_close(got[k], e[k], rtol=1e-5, atol=1e-6)
    assert ck.raw["g_ema_decay"] == d
    # the checkpoint opens with the average as its generator; "G" stays the trained one
    assert all(torch.equal(ck.G.state_dict()[k], v) for k, v in ck.raw["G_ema"].items())
    assert not torch.equal(ck.raw["G"]["conv1.weight"], ck.raw["G_ema"]["conv1.weight"])


def test_training_is_unchanged_by_the_average(tmp_path):
    a, b = _run(tmp_path / "a", 3, 0.5), _run(tmp_path / "b", 3, 0.0)
    assert all(torch.equal(v, b.nets.G.state_dict()[k]) for k, v in a.nets.G.state_dict().items())
    assert all(torch.equal(v, b.nets.D.state_dict()[k]) for k, v in a.nets.D.state_dict().items())


def test_resume_continues_the_average_bit_for_bit(tmp_path):
    full = _run(tmp_path / "full", 6, every=3)
    _run(tmp_path / "cut", 3, every=3)
    cut = _run(tmp_path / "cut", 6, resume=True, every=3)
    a, b = full.ema.state_dict(), cut.ema.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_batchnorm_statistics_recomputed_deterministically():
    G = build_generator(MCFG)
    ema = GeneratorEMA(G, 0.9)
    one = {k: v.clone() for k, v in ema.calibrated(MCFG, 3).state_dict().items()}
    ema._fresh = False
    two = ema.calibrated(MCFG, 3).state_dict()
    assert all(torch.equal(one[k], two[k]) for k in one)
    means = [m.running_mean for m in ema.G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert means and not all(torch.equal(m, torch.zeros_like(m)) for m in means)  # recomputed, not reset
    assert not ema.G.training


def test_bad_decay_and_resuming_without_an_average(tmp_path, cli):
    with pytest.raises(UserError, match="--g-ema"):
        TrainConfig(max_steps=1, g_ema=1.0)
    code, _, err = cli("train", *TINY, "--max-steps", "2", "--g-ema", "-0.1", "--out", tmp_path / "x")
    assert code == 2 and "--g-ema" in err and "Traceback" not in err
    _run(tmp_path / "plain", 2, decay=0.0)
    with pytest.raises(UserError, match="without --g-ema"):
        _run(tmp_path / "plain", 4, decay=0.9, resume=True)
