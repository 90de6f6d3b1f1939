"""Trainer: smoke runs, bit-exact resume after SIGKILL, NaN stop, DDP, the MLP GAN."""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gan_viz.checkpoint import load_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.training.config import TrainConfig
from gan_viz.training.loop import Diverged
from gan_viz.training.run import TrainingRun

TINY = ["--dataset", "rooms", "--image-size", "32", "--nz", "8", "--ngf", "4", "--ndf", "4",
        "--batch-size", "8", "--dataset-size", "64", "--threads", "1", "--log-every", "2", "--sample-every", "4"]


def train_cmd(out, *extra):
    return [sys.executable, "-m", "gan_viz", "train", *TINY, "--out", str(out), *extra]


def states_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def test_smoke_run_writes_run_folder(tmp_path, cli):
    code, out, err = cli("train", *TINY, "--max-steps", "8", "--checkpoint-every", "4", "--out", tmp_path / "r")
    assert code == 0, err
    r = tmp_path / "r"
    for f in ("config.json", "metrics.csv", "train.log", "checkpoints/last.pt", "checkpoints/step_00000004.pt",
              "checkpoints/step_00000008.pt", "samples/step_00000004.png", "quality.csv"):
        assert (r / f).exists(), f
    rows = list(csv.DictReader(open(r / "metrics.csv")))
    assert [int(x["step"]) for x in rows] == [2, 4, 6, 8]
    assert set(rows[0]) == {"step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z", "images_per_s"}
    ck = load_checkpoint(r / "checkpoints" / "last.pt")
    assert ck.step == 8 and ck.epoch == 1 and ck.dataset == "rooms" and "opt_D" in ck.raw
    q = list(csv.DictReader(open(r / "quality.csv")))
    assert q and float(q[0]["nn_dist_fake_to_heldout"]) > 0
    code, _, err = cli("train", *TINY, "--max-steps", "8", "--out", r)
    assert code == 2 and "--resume" in err


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    steps = ["--max-steps", "12", "--checkpoint-every", "1"]
    subprocess.run(train_cmd(tmp_path / "full", *steps), check=True, capture_output=True)
    p = subprocess.Popen(train_cmd(tmp_path / "cut", *steps), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = tmp_path / "cut" / "checkpoints" / "step_00000005.pt"
    deadline = time.time() + 60
    while not target.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    last = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")  # never half-written
    assert 4 <= last.step < 12  # last.pt is written right after the numbered file
    r = subprocess.run(train_cmd(tmp_path / "cut", *steps, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt").raw
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt").raw
    assert a["step"] == b["step"] == 12
    assert states_equal(a["G"], b["G"]) and states_equal(a["D"], b["D"])
    for opt in ("opt_G", "opt_D"):
        for k, s in a[opt]["state"].items():
            assert all(torch.equal(s[n], b[opt]["state"][k][n]) for n in s)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    rows = [int(x["step"]) for x in csv.DictReader(open(tmp_path / "cut" / "metrics.csv"))]
    assert rows == sorted(set(rows)) and rows[-1] == 12


def test_divergence_stops_and_keeps_last_good(tmp_path, monkeypatch):
    import gan_viz.training.run as run_mod

    mcfg = ModelConfig(image_size=32, nz=8, ngf=4, ndf=4)
    tcfg = TrainConfig(batch_size=8, max_steps=20, checkpoint_every=2, log_every=1, dataset_size=64,
                       quality_every_epoch=False)
    run = TrainingRun(mcfg, tcfg, tmp_path, torch.device("cpu"))
    run.start_files([])
    real_step = run_mod.train_step

    def poisoned(nets, x, z, amp, *rest):
        if run.step == 5:
            with torch.no_grad():
                next(nets.G.parameters()).fill_(float("nan"))
        return real_step(nets, x, z, amp, *rest)

    monkeypatch.setattr(run_mod, "train_step", poisoned)
    with pytest.raises(Diverged, match="diverged at step 6"):
        run.fit()
    ck = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ck.step == 4
    assert all(torch.isfinite(v).all() for v in ck.raw["G"].values() if v.is_floating_point())


def test_rendering_on_the_fly_or_cached_trains_identically(tmp_path):
    mcfg = ModelConfig(image_size=32, nz=8, ngf=4, ndf=4)
    runs = []
    for mb in (0, 1):
        tcfg = TrainConfig(batch_size=8, max_steps=9, dataset_size=24, data_cache_mb=mb, quality_every_epoch=False)
        run = TrainingRun(mcfg, tcfg, tmp_path / str(mb), torch.device("cpu"))
        run.start_files([])
        run.fit()
        run.metrics_file.close()
        runs.append(run)
    assert runs[0].data._cache is None and runs[1].data._cache is not None and len(runs[1].data._cache) == 24
    assert states_equal(runs[0].nets.G.state_dict(), runs[1].nets.G.state_dict())
    with pytest.raises(UserError, match="data-cache-mb"):
        TrainConfig(max_steps=1, data_cache_mb=-1)


def test_mlp_gan_trains(tmp_path, cli):
    code, _, err = cli("train", *TINY, "--arch", "mlp", "--mlp-hidden", "32", "--max-steps", "4",
                       "--out", tmp_path / "m")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "m" / "checkpoints" / "last.pt")
    assert ck.config.arch == "mlp" and ck.step == 4


def test_ddp_two_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gan_viz", "train", *TINY, "--max-steps", "4", "--checkpoint-every", "2", "--no-quality",
           "--out", str(tmp_path / "d")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = (tmp_path / "d" / "config.json").read_text()
    assert '"world_size": 2' in cfg and '"per_process_batch": 4' in cfg
    ck = load_checkpoint(tmp_path / "d" / "checkpoints" / "last.pt")
    assert ck.step == 4
    assert len(list(csv.DictReader(open(tmp_path / "d" / "metrics.csv")))) == 2  # rank 0 writes alone


@pytest.mark.parametrize("bad, msg", [(["--max-steps", "0"], "positive"), ([], "--epochs N or --max-steps N"),
                                      (["--max-steps", "2", "--batch-size", "1000"], "fewer than one batch"),
                                      (["--max-steps", "2", "--dataset", "nope"], "unknown dataset")])
def test_bad_options(tmp_path, cli, bad, msg):
    args = [a for a in TINY]
    code, _, err = cli("train", *args, *bad, "--out", tmp_path / "x")
    assert code == 2 and msg in err and "Traceback" not in err


def test_export_slim_checkpoint_and_card(tmp_path, cli):
    code, _, err = cli("train", *TINY[2:], "--dataset", "digits", "--nc", "3", "--max-steps", "4",
                       "--out", tmp_path / "r")
    assert code == 0, err
    code, out, err = cli("export", "--ckpt", tmp_path / "r" / "checkpoints" / "last.pt", "--out", tmp_path / "m.pt")
    assert code == 0, err
    slim, full = load_checkpoint(tmp_path / "m.pt"), load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert "opt_G" not in slim.raw and slim.step == 4 and slim.dataset == "digits"
    assert all(torch.equal(v, full.G.state_dict()[k]) for k, v in slim.G.state_dict().items())
    assert (tmp_path / "m.pt").stat().st_size < (tmp_path / "r" / "checkpoints" / "last.pt").stat().st_size
    card = (tmp_path / "m_card.json").read_text()
    assert '"step": 4' in card and (tmp_path / "m_samples.png").exists()


def test_tensorboard_events_when_installed(tmp_path, cli):
    pytest.importorskip("tensorboard", reason="tensorboard is optional; events are written only when installed")
    code, _, err = cli("train", *TINY[2:], "--dataset", "fake", "--max-steps", "2", "--no-quality", "--out", tmp_path / "r")
    assert code == 0, err
    assert list((tmp_path / "r" / "tb").glob("events.out.tfevents.*"))


def test_g_step_skips_d_gradients_but_not_g_gradients():
    """The G step runs D frozen: G's gradient is the one through a trainable D (a different
    autograd graph, so compared with a tolerance), D gets no gradient from it, and D's
    parameters are trainable again afterwards (the next D step needs them)."""
    from gan_viz.training.distributed import DistInfo
    from gan_viz.training.loop import build_nets, frozen

    import torch.nn.functional as F

    torch.manual_seed(0)
    nets = build_nets(ModelConfig(image_size=32, nz=8, ngf=4, ndf=4), TrainConfig(max_steps=1),
                      torch.device("cpu"), DistInfo())
    z = torch.randn(6, 8)
    ones = torch.ones(6)

    def g_grads(freeze: bool):
        nets.G.zero_grad(set_to_none=True)
        nets.D.zero_grad(set_to_none=True)
        with frozen(nets.D) if freeze else contextlib.nullcontext():
            loss = F.binary_cross_entropy_with_logits(nets.d_logits(nets.G(z)), ones)
        loss.backward()
        return [p.grad.clone() for p in nets.G.parameters()], [p.grad for p in nets.D.parameters()]

    states = [{k: v.clone() for k, v in net.state_dict().items()} for net in (nets.G, nets.D)]
    g_free, d_free = g_grads(False)
    for net, state in zip((nets.G, nets.D), states):  # the forward moved BatchNorm's running statistics
        net.load_state_dict(state)
    g_frozen, d_frozen = g_grads(True)
    assert all(g is not None for g in d_free)  # the unfrozen path does compute D's gradients
    assert all(g is None for g in d_frozen)
    for a, b in zip(g_free, g_frozen):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()) + 1e-12)
    assert all(p.requires_grad for p in nets.D.parameters())


def test_epoch_order_drawn_once_per_epoch_and_equal_to_the_definition(tmp_path, monkeypatch):
    """Batches are slices of the epoch's seeded permutation (what resume relies on), drawn once an epoch."""
    from gan_viz.training import loop, run as run_mod

    calls = []
    monkeypatch.setattr(run_mod, "epoch_order", lambda *a: calls.append(a) or loop.epoch_order(*a))
    tcfg = TrainConfig(batch_size=8, max_steps=9, dataset_size=24, quality_every_epoch=False)
    run = TrainingRun(ModelConfig(image_size=32, nz=8, ngf=4, ndf=4), tcfg, tmp_path, torch.device("cpu"))
    got = torch.cat([run.batch_indices(s) for s in range(9)])
    want = torch.cat([loop.epoch_order(24, 0, e) for e in range(3)])
    assert torch.equal(got, want)
    assert [c[2] for c in calls] == [0, 1, 2] and len(run._orders) <= 2
