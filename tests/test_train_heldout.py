"""gan-viz train on a folder holds a fixed list of images out, never trains on them, records
them, and the memorisation analysis reads them back as images G never saw."""

import numpy as np
import pytest
import torch

from gan_viz.checkpoint import load_checkpoint
from gan_viz.data.heldout import KEY, MAX_HELDOUT, recorded_indices, split_indices
from gan_viz.errors import UserError

from user_models import png_folder


def _tiny(data, out, *extra):
    return ("train", "--dataset", "folder", "--data-root", data, "--image-size", "16", "--nc", "1", "--nz", "4",
            "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--threads", "1", "--no-quality", "--out", out, *extra)


def test_split_is_disjoint_seeded_capped_and_refuses_too_few():
    train, held = split_indices(1000, 0.05, seed=3)
    assert len(held) == 50 and len(train) == 950 and not set(train) & set(held)
    assert np.array_equal(held, split_indices(1000, 0.05, seed=3)[1])
    assert not np.array_equal(held, split_indices(1000, 0.05, seed=4)[1])
    assert len(split_indices(10 ** 6, 0.5, seed=0)[1]) == MAX_HELDOUT
    assert len(split_indices(7, 0.0, seed=0)[1]) == 0
    with pytest.raises(UserError, match="fewer than 2"):
        split_indices(2, 0.5, seed=0)
    with pytest.raises(UserError, match="heldout-share"):
        split_indices(10, 1.0, seed=0)


def test_train_on_a_folder_never_trains_on_its_recorded_heldout_images(tmp_path, monkeypatch, cli):
    from gan_viz.config import ModelConfig
    from gan_viz.training.config import TrainConfig
    from gan_viz.training.run import TrainingRun

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = png_folder(tmp_path / "data", 80, 1)
    code, _, err = cli(*_tiny(data, tmp_path / "r", "--heldout-share", "0.25", "--max-steps", "3"))
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    names = ck.train_config[KEY]
    assert len(names) == 20 and (tmp_path / "r" / "heldout.txt").read_text().split() == names
    held = set(recorded_indices(ck.train_config, data).tolist())
    assert len(held) == 20
    # every batch of three epochs draws from the other 60 only
    run = TrainingRun(ModelConfig(image_size=16, nc=1, nz=4, ngf=4, ndf=4),
                      TrainConfig(dataset="folder", data_root=str(data), batch_size=8, max_steps=30,
                                  heldout_share=0.25, seed=0), tmp_path / "direct", torch.device("cpu"))
    seen = set(torch.cat([run.batch_indices(s) for s in range(3 * run.steps_per_epoch)]).tolist())
    assert run.n_data == 60 and not seen & held and len(seen) >= 56
    assert set(run.heldout_index.tolist()) == held
    # the old behaviour, on request: every image trained on, nothing recorded
    code, _, err = cli(*_tiny(data, tmp_path / "all", "--heldout-share", "0", "--max-steps", "2"))
    assert code == 0, err
    assert KEY not in load_checkpoint(tmp_path / "all" / "checkpoints" / "last.pt").train_config
    # a changed folder: resuming would train on images held out before
    (data / "0000.png").unlink()
    code, _, err = cli("train", "--resume", "--max-steps", "5", "--out", tmp_path / "r")
    assert code == 2 and "changed" in err and "Traceback" not in err


def test_recorded_list_applies_to_a_moved_copy_not_to_another_folder_and_refuses_a_changed_one(tmp_path):
    import shutil

    data = png_folder(tmp_path / "data", 30, 1)
    cfg = {"data_root": str(data), KEY: ["0003.png", "0010.png"]}
    assert recorded_indices(cfg, data).tolist() == [3, 10]
    moved = shutil.copytree(data, tmp_path / "moved")
    assert recorded_indices(cfg, moved).tolist() == [3, 10]
    other = png_folder(tmp_path / "other", 3, 2)  # holds 0000-0002 only: none of the recorded ones
    assert recorded_indices(cfg, other) is None
    (data / "0010.png").unlink()
    with pytest.raises(UserError, match="no longer under"):
        recorded_indices(cfg, data)
    assert recorded_indices({"data_root": str(data)}, data) is None


def test_neighbors_uses_the_recorded_heldout_images_as_never_seen(tmp_path, monkeypatch, cli):
    """A run of gan-viz train on a folder: neighbors reads its recorded held-out list, calls the images
    independent of training (C_T present), searches only the images G trained on, and none of the
    searched images is a held-out one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = png_folder(tmp_path / "data", 120, 1)
    code, _, err = cli(*_tiny(data, tmp_path / "r", "--heldout-share", "0.25", "--max-steps", "2"))
    assert code == 0, err
    ckpt = tmp_path / "r" / "checkpoints" / "last.pt"
    code, _, err = cli("neighbors", "--ckpt", ckpt, "--n", "64", "--n-heldout", "30", "--spaces", "pixel",
                       "--show", "2", "--out", tmp_path / "nn")
    assert code == 0, err
    import json

    s = json.loads((tmp_path / "nn" / "summary.json").read_text())
    assert s["heldout_source"] == "recorded held-out" and s["heldout_seen_by_G"] is False, s["heldout"]
    assert s["train_size"] == 90 and s["heldout_images"] == 30 and "data_copying_absent" not in s
    a = np.load(tmp_path / "nn" / "arrays.npz")
    held = set(recorded_indices(load_checkpoint(ckpt).train_config, data).tolist())
    assert set(a["heldout_indices"].tolist()) == held
    assert not set(a["train_indices"].tolist()) & held and len(a["train_indices"]) == 90
