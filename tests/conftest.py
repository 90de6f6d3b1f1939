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
