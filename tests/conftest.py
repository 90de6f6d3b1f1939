"""Shared fixtures: tiny models that build and run in milliseconds."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, torch.get_num_threads()))

from gan_viz.config import ModelConfig  # noqa: E402


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    """A 16x16 RGB DCGAN with 8 filters: same structure as the real thing, tiny."""
    return ModelConfig(image_size=16, nc=3, nz=8, ngf=8, ndf=8)


@pytest.fixture(scope="module")
def tiny_rooms(tmp_path_factory):
    """A 32x32 rooms DCGAN with tiny widths (seeded init), in RUN/checkpoints/last.pt beside a RUN/metrics.csv:
    the reports' tests' model."""
    from gan_viz.checkpoint import save_checkpoint
    from gan_viz.models import build_discriminator, build_generator, init_weights

    run = tmp_path_factory.mktemp("run")
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g = torch.Generator().manual_seed(0)
    init_weights(G, g), init_weights(D, g)
    (run / "metrics.csv").write_text("step,epoch,loss_D,loss_G,D_x,D_G_z,images_per_s\n"
                                     "10,0,1.3,0.8,0.6,0.4,100\n20,0,1.1,1.0,0.62,0.38,100\n")
    return save_checkpoint(run / "checkpoints" / "last.pt", cfg, G, D, step=20, train_config={"dataset": "rooms"})


@pytest.fixture
def cli(capsys):
    """Run ``gan-viz ARGS`` in-process: returns (exit_code, stdout, stderr)."""
    from gan_viz.cli import main

    def _run(*args: str):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse errors and --help
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return _run


# --- calibration values (issue 16): every figure of merit's planted positive and null ---------------

_CALIBRATION: dict = {}


def _plain(v):
    """numpy scalars and arrays, tuples -> JSON types."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


@pytest.fixture
def calibration(request):
    """``calibration(measure, rule, planted=..., null=...)`` records what a calibration test measured;
    ``GAN_VIZ_CALIBRATION=FILE python -m pytest tests/test_calibration_*.py`` writes every record to
    FILE as JSON (planted and null of a measure may come from separate tests: they are merged)."""
    def record(measure: str, rule: str, **values):
        row = _CALIBRATION.setdefault(measure, {"measure": measure, "rule": rule, "tests": []})
        row.update(_plain(values))
        row["tests"].append(request.node.nodeid)
    return record


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("GAN_VIZ_CALIBRATION")
    if path and _CALIBRATION:
        import json

        with open(path, "w") as f:
            json.dump({"cpu_capability": torch.backends.cpu.get_cpu_capability(),
                       "measures": list(_CALIBRATION.values())}, f, indent=1)
