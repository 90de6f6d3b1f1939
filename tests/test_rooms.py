"""The embedded rooms dataset: determinism, masks vs boxes, sizes, splits, preview CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_viz.data import build_dataset
from gan_viz.data.rooms import CLASSES, PALETTE, RoomsDataset, render_image, render_room
from gan_viz.errors import UserError


def test_classes_and_palette_are_fixed():
    assert CLASSES[:6] == ("wall", "floor", "ceiling", "window", "bed", "door")
    assert PALETTE.shape == (len(CLASSES), 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE}) == len(CLASSES)  # distinct colours


def test_deterministic_and_seed_dependent():
    a, b = render_room(3, 17, 64), render_room(3, 17, 64)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.classmap, b.classmap)
    assert a.boxes == b.boxes and a.attrs == b.attrs
    assert not np.array_equal(a.image, render_room(4, 17, 64).image)
    assert not np.array_equal(a.image, render_room(3, 18, 64).image)
    assert np.array_equal(render_image(3, 17, 64), a.image)  # fast path == full path


@pytest.mark.parametrize("size", [32, 48, 64, 100, 128])
def test_all_sizes_same_scene(size):
    s = render_room(0, 5, size)
    assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
    assert s.classmap.shape == (size, size) and s.classmap.max() < len(CLASSES)
    assert s.attrs == render_room(0, 5, 64).attrs  # the scene does not depend on the size


@pytest.mark.parametrize("size", [31, 129, 0])
def test_bad_size(size):
    with pytest.raises(UserError, match="32 to 128"):
        render_room(0, 0, size)


def test_boxes_lie_on_their_objects():
    """Every box is tight around pixels of its class; every object class in the mask has a box."""
    for i in range(40):
        s = render_room(1, i, 64)
        for cls, x0, y0, x1, y1 in s.boxes:
            assert 0 <= x0 <= x1 < 64 and 0 <= y0 <= y1 < 64
            inside = s.classmap[y0:y1 + 1, x0:x1 + 1] == cls
            assert inside.any()
            # tight: each edge row/column of the box touches the object
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        boxed = {b[0] for b in s.boxes}
        present = set(np.unique(s.classmap).tolist()) - {CLASSES.index(c) for c in ("wall", "floor", "ceiling")}
        assert present == boxed
        windows = sum(b[0] == CLASSES.index("window") for b in s.boxes)
        assert windows <= s.attrs["n_windows"]


def test_windows_beds_visible_at_32():
    n_win = n_bed = 0
    for i in range(60):
        s = render_room(0, i, 32)
        n_win += s.attrs["n_windows"] > 0
        if s.attrs["n_windows"] > 0:
            assert (s.classmap == CLASSES.index("window")).sum() >= 6
        if s.attrs["has_bed"]:
            n_bed += 1
            assert (s.classmap == CLASSES.index("bed")).sum() >= 20
    assert n_win > 30 and n_bed > 40


def test_dataset_items_and_splits_disjoint():
    tr, te = RoomsDataset(32, "train", n=20), RoomsDataset(32, "test", n=20)
    assert len(RoomsDataset(32)) == 50_000 and len(RoomsDataset(32, "test")) == 5_000
    x, y = tr[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    assert y == tr.sample(0).attrs["n_windows"] and 0 <= y <= 3
    a, b = tr.get_batch(range(20)), te.get_batch(range(20))
    assert torch.equal(a[3], tr[3][0])
    assert not any(torch.equal(a[i], b[j]) for i in range(20) for j in range(20))
    assert tr.masks(2).shape == (32, 32)
    assert list(tr.labels([0, 1, 2])) == [tr[i][1] for i in range(3)]
    g = RoomsDataset(32, nc=1, n=2)[1][0]
    assert g.shape == (1, 32, 32)


def test_cache_gives_the_same_pixels():
    ds = RoomsDataset(32, "train", n=12, nc=1)
    idx = [11, 0, 5, 3, -1]
    before = ds.get_batch(idx)
    assert ds.cache_bytes() == 12 * 32 * 32 * 3
    ds.cache(8)  # a partial cache: batches reaching beyond it are rendered
    assert torch.equal(ds.get_batch([0, 5, 3]), before[1:4]) and torch.equal(ds.get_batch(idx), before)
    ds.cache()
    assert torch.equal(ds.get_batch(idx), before)
    with pytest.raises(IndexError):
        ds.get_batch([12])


def test_build_dataset_rooms_and_unknown():
    ds = build_dataset("rooms", 32, nc=3, split="test", n=7)
    assert len(ds) == 7 and ds[6][0].shape == (3, 32, 32)
    with pytest.raises(UserError, match="rooms"):
        build_dataset("bedrooms", 32)
    with pytest.raises(IndexError):
        ds[7]


def test_preview_cli(cli, tmp_path):
    code, out, err = cli("data", "preview", "--dataset", "rooms", "--n", "16", "--image-size", "32",
                         "--out", tmp_path / "p")
    assert code == 0, err
    for name in ("images.png", "masks.png", "masks.pdf", "stats.json", "arrays.npz", "run.json"):
        assert (tmp_path / "p" / name).is_file(), name
    stats = json.loads((tmp_path / "p" / "stats.json").read_text())
    fr = stats["pixel_fraction"]
    assert set(fr) == set(CLASSES) and abs(sum(fr.values()) - 1) < 1e-6
    assert 0 < stats["object_frequency"]["window"] <= 1
    arr = np.load(tmp_path / "p" / "arrays.npz")
    assert arr["classmaps"].shape == (16, 32, 32)


def test_preview_cli_bad_input(cli, tmp_path):
    code, _, err = cli("data", "preview", "--dataset", "nope", "--out", tmp_path / "q")
    assert code == 2 and "choose one of" in err and not (tmp_path / "q").exists()
    code, _, err = cli("data", "preview", "--n", "0", "--out", tmp_path / "q")
    assert code == 2 and not (tmp_path / "q").exists()
