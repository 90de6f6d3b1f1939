"""Small data is said, never silent (issue 23): an analysis states the N it used where it differs
from the option, and marks "cannot tell" below the N at which its calibration holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

MODEL = '''import sys
sys.path.insert(0, {tests!r})
from user_models import PTDiscriminator, PTGenerator, seeded


def build():
    return {{"G": seeded(PTGenerator(8, 4, 3), 1), "D": seeded(PTDiscriminator(4, 3), 2), "nz": 8}}
'''


@pytest.fixture(scope="module")
def model_def(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "mine.py"
    path.write_text(MODEL.format(tests=str(Path(__file__).resolve().parent)))
    return f"{path}:build"


def _folder(path: Path, n: int) -> Path:
    from gan_viz.io import save_png

    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        save_png(path / f"img_{i:02d}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return path


def test_neighbors_on_ten_images_says_what_it_used_and_cannot_tell(cli, model_def, tmp_path):
    from gan_viz.analyses.neighbors import caption

    data = _folder(tmp_path / "ten", 10)
    code, out, err = cli("neighbors", "--model-def", model_def, "--dataset", "folder", "--data-root", data,
                         "--n", "64", "--show", "2", "--out", tmp_path / "nn", "--device", "cpu")
    assert code == 0, err
    s = json.loads((tmp_path / "nn" / "summary.json").read_text())
    assert s["heldout_images"] == 2 and s["train_searched"] == 8 and s["asked"]["n_heldout"] == 1000
    assert s["notes"] == ["2 held-out images used of the 1000 asked (a folder has no test split: at most a "
                          "fifth of its 10 images is held out)"]
    assert "cannot tell" in s["cannot_tell"] and "2 held-out images (it needs 100)" in s["cannot_tell"]
    for v in s["spaces"].values():  # no number a reader could take for a verdict
        assert v["memorisation"] is None and v["memorisation_measured"] is not None
    text = caption(s)
    assert text.startswith("2 held-out images used of the 1000 asked") and "cannot tell" in text
    assert "note: 2 held-out images used of the 1000 asked" in out and "cannot tell" in out


def test_neighbors_at_calibrated_sizes_gives_the_score(cli, tmp_path):
    """Enough samples and held-out images: a number, no notes (digits: 360 test images)."""
    import torch

    from gan_viz.checkpoint import save_checkpoint
    from gan_viz.config import ModelConfig
    from gan_viz.models import build_discriminator, build_generator

    cfg = ModelConfig(image_size=16, nc=1, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "d.pt", cfg, build_generator(cfg), build_discriminator(cfg),
                         train_config={"dataset": "digits", "dataset_size": 200})
    code, _, err = cli("neighbors", "--ckpt", ck, "--n", "64", "--n-heldout", "100", "--spaces", "pixel",
                       "--show", "2", "--out", tmp_path / "o")
    assert code == 0, err
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["notes"] == [] and "cannot_tell" not in s and isinstance(s["spaces"]["pixel"]["memorisation"], float)


def test_checkerboard_states_the_real_images_it_used(cli, model_def, tmp_path):
    from gan_viz.analyses.checkerboard import caption

    data = _folder(tmp_path / "ten", 10)
    code, _, err = cli("checkerboard", "--model-def", model_def, "--dataset", "folder", "--data-root", data,
                       "--n", "16", "--out", tmp_path / "cb", "--device", "cpu")
    assert code == 0, err
    s = json.loads((tmp_path / "cb" / "summary.json").read_text())
    assert s["real_images"] == 10 and s["notes"] == ["10 real images used of the 16 asked (the folder holds 10)"]
    assert caption(s).startswith("10 real images used of the 16 asked") and "16 generated vs 10 real" in caption(s)


def test_labelled_analyses_state_the_images_they_used(model_def, tmp_path):
    """A two-class folder of 12 images: modes and classify say how many they used of the asked."""
    from gan_viz.analyses import classify, modes, registry
    from gan_viz.model_def import load_model_def

    for c in ("a", "b"):
        _folder(tmp_path / "tree" / c, 6)
    S = load_model_def(model_def)
    ctx = lambda sub: registry.Context(S, tmp_path / sub, dataset="folder", data_root=str(tmp_path / "tree"))  # noqa: E731
    m = registry.run("modes", ctx("m"), n=8, n_train=50, n_test=20, epochs=1)
    assert m["notes"] == ["10 training images used of the 50 asked", "2 held-out images used of the 20 asked"], m
    assert modes.caption(m).startswith("10 training images used of the 50 asked. 2 held-out images")
    c = registry.run("classify", ctx("c"), n_train=50, n_test=20, labels=2, draws=1, val=2, C_grid="0.01")
    assert c["notes"] == m["notes"] and classify.caption(c).startswith("10 training images used")
