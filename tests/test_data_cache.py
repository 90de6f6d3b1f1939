"""The decode-once cache of image-file datasets (gan_viz.data.cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan_viz.data import build_dataset, cache
from gan_viz.errors import UserError


def _folder(root, n=40, classes=("a", "b"), size=(30, 40), seed=0):
    rng = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n // len(classes)):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / c / f"{i:03d}.png")
    return root


def _spec(root, bad="stop", nc=3, size=16):
    return cache.Spec("folder", size, nc, "train", str(root), bad)


@pytest.mark.parametrize("nc", [3, 1])
def test_same_pixels_and_labels_as_the_uncached_path(tmp_path, nc):
    root = _folder(tmp_path / "img")
    d = cache.decoded(_spec(root, nc=nc), cache_dir=tmp_path / "c", workers=1, progress=False)
    ref = build_dataset("folder", 16, nc, "train", str(root))
    assert len(d) == len(ref) == 40
    idx = [0, 7, 19, 20, 39]
    want = torch.stack([ref[i][0] for i in idx])
    assert d.get_batch(idx).shape == (5, nc, 16, 16)
    torch.testing.assert_close(d.get_batch(idx), want, atol=1e-6, rtol=0)  # elementwise ops: ~0 apart
    assert [d[i][1] for i in idx] == [ref[i][1] for i in idx] == [0, 0, 0, 1, 1]


def test_parallel_build_equals_serial_and_disk_reads_equal_memory(tmp_path):
    root = _folder(tmp_path / "img", n=600)  # more than two worker chunks
    serial = cache.decoded(_spec(root), cache_dir=tmp_path / "c1", workers=1, progress=False)
    parallel = cache.decoded(_spec(root), cache_dir=tmp_path / "c2", workers=2, progress=False)
    a = np.fromfile(serial.path, np.uint8)
    assert np.array_equal(a, np.fromfile(parallel.path, np.uint8))  # same decoder, same bytes
    assert list(serial.labels) == list(parallel.labels)
    on_disk = cache.decoded(_spec(root), budget_mb=0, cache_dir=tmp_path / "c1", progress=False)
    assert serial.in_memory and not on_disk.in_memory
    idx = [599, 3, 300, 3]
    assert torch.equal(on_disk.get_batch(idx), serial.get_batch(idx))  # same bytes, same conversion


def test_reused_while_unchanged_and_rebuilt_when_the_folder_changes(tmp_path):
    root = _folder(tmp_path / "img")
    d1 = cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    stamp = d1.path.stat().st_mtime_ns
    d2 = cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert d2.path == d1.path and d2.path.stat().st_mtime_ns == stamp  # not rebuilt
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / "a" / "000.png")  # changed content
    d3 = cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert d3.path != d1.path
    assert float(d3.get_batch([0]).max()) == -1.0  # the new, black image
    assert cache.decoded(_spec(root, size=32), cache_dir=tmp_path / "c", progress=False).path not in (d1.path, d3.path)


def test_a_changed_folder_replaces_its_old_cache_and_leaves_other_sources_alone(tmp_path, monkeypatch):
    """A rebuild after the folder changed deletes the cache of its earlier contents (it can never match
    again); another folder's cache (same dataset, size and channels), another size's cache of the same
    folder, and the cache of another folder of the same relative name (--data-root img, run from
    another working directory) stay."""
    root, other = _folder(tmp_path / "img"), _folder(tmp_path / "elsewhere" / "img", seed=1)
    c = tmp_path / "c"
    monkeypatch.chdir(tmp_path)
    old = cache.decoded(_spec("img"), cache_dir=c, workers=1, progress=False)
    keep = [cache.decoded(_spec(root / "a"), cache_dir=c, workers=1, progress=False).path,
            cache.decoded(_spec(root, size=32), cache_dir=c, workers=1, progress=False).path]
    monkeypatch.chdir(tmp_path / "elsewhere")
    keep.append(cache.decoded(_spec("img"), cache_dir=c, workers=1, progress=False).path)  # other's cache
    monkeypatch.chdir(tmp_path)
    reading = cache.decoded(_spec(root), budget_mb=0, cache_dir=c, progress=False)  # reads from disk
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / "b" / "new.png")  # the folder grows
    new = cache.decoded(_spec(root), cache_dir=c, workers=1, progress=False)
    assert new.meta["superseded_removed"] == [old.path.name]
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()
    assert all(p.exists() and p.with_suffix(".json").exists() for p in keep)
    assert len(new) == 41 and len(list(c.glob("*.u8"))) == 4
    assert reading.get_batch([0, 39]).shape == (2, 3, 16, 16)  # a reader of the old file still reads it


@pytest.mark.parametrize("damage", ["truncate", "no_sidecar", "old_version"])
def test_half_written_or_foreign_cache_is_rebuilt(tmp_path, damage):
    root = _folder(tmp_path / "img")
    d = cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    good = np.fromfile(d.path, np.uint8)
    side = d.path.with_suffix(".json")
    if damage == "truncate":
        with open(d.path, "r+b") as f:
            f.truncate(100)
    elif damage == "no_sidecar":
        side.unlink()
    else:
        meta = json.loads(side.read_text())
        side.write_text(json.dumps({**meta, "version": 0}))
    again = cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert np.array_equal(np.fromfile(again.path, np.uint8), good)
    assert json.loads(side.read_text())["version"] == cache.VERSION


def test_bad_image_stops_naming_it_or_is_skipped_and_counted(tmp_path):
    root = _folder(tmp_path / "img")
    (root / "a" / "zz_broken.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="zz_broken.png"):
        cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert not any((tmp_path / "c").iterdir())  # nothing half-written left behind
    d = cache.decoded(_spec(root, bad="skip"), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert len(d) == 40 and len(d.skipped) == 1 and "zz_broken.png" in next(iter(d.skipped))


def test_too_little_disk_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    root = _folder(tmp_path / "img")
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda p: type("Usage", (), {"free": 1000})())
    with pytest.raises(UserError, match="MB free"):
        cache.decoded(_spec(root), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert not list((tmp_path / "c").glob("*"))


def test_trainer_trains_from_the_cache(tmp_path):
    from gan_viz.config import ModelConfig
    from gan_viz.training.config import TrainConfig
    from gan_viz.training.run import TrainingRun

    root = _folder(tmp_path / "img", n=64)
    mcfg = ModelConfig(image_size=16, nc=3, nz=8, ngf=4, ndf=4)
    tcfg = TrainConfig(dataset="folder", data_root=str(root), batch_size=16, max_steps=3,
                       quality_every_epoch=False, data_cache_dir=str(tmp_path / "c"))
    run = TrainingRun(mcfg, tcfg, tmp_path / "run", torch.device("cpu"))
    assert isinstance(run.data, cache.DecodedDataset) and run.data.in_memory
    run.start_files([])
    run.fit()
    assert "decoded once" in (tmp_path / "run" / "train.log").read_text()
    slow = TrainingRun(mcfg, tcfg.replace(data_cache=False), tmp_path / "run2", torch.device("cpu"))
    idx = run.batch_indices(0)
    torch.testing.assert_close(run.data.get_batch(idx.tolist()),
                               torch.stack([slow.data[int(i)][0] for i in idx]), atol=1e-6, rtol=0)


def test_analyses_reuse_a_cache_a_training_run_built(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = _folder(tmp_path / "img")
    assert not isinstance(build_dataset("folder", 16, 3, "test", str(root)), cache.DecodedDataset)  # none built
    built = cache.decoded(_spec(root), workers=1, progress=False)  # as `gan-viz train` does
    reused = build_dataset("folder", 16, 3, "test", str(root))  # a folder's test split = its images
    assert isinstance(reused, cache.DecodedDataset) and reused.path == built.path
    assert not isinstance(build_dataset("folder", 16, 3, "test", str(root), cached=False), cache.DecodedDataset)


def _tricky_tree(root):
    """A class tree with what listing and keys must get right: nested and hidden folders, a folder named
    like an image, a symlinked folder (not entered), symlinked and broken image links, upper-case suffixes."""
    for d in ("a/b", "a.b", ".hid", "x.png", "Z", "real"):
        (root / d).mkdir(parents=True)
    for i, f in enumerate(("a/1.png", "a/b/2.jpg", "a.b/3.PNG", ".hid/4.png", "x.png/5.png", "Z/6.png",
                           "real/7.png", "a/.8.png", "a/9.txt")):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(root / f, format="PNG")
    (root / "linkdir").symlink_to(root / "real")
    (root / "Z" / "link.png").symlink_to(root / "a" / "1.png")
    (root / "Z" / "broken.png").symlink_to(root / "missing.png")
    return root


def test_listing_and_key_equal_the_per_file_pathlib_definitions(tmp_path):
    """The scandir listing is rglob's sorted list, and the one-lstat-per-file key is the key of a
    resolve() per file (caches built before stay valid)."""
    import hashlib
    import json as json_

    from gan_viz.data.folder import IMG_EXTENSIONS, _images_in

    root = _tricky_tree(tmp_path / "t")
    want = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS
                  and not p.name.startswith("."))
    assert _images_in(root, recursive=True) == want and len(want) == 8  # 1-7 and Z/link.png; not linkdir/7.png
    assert _images_in(root / "Z", recursive=False) == [root / "Z" / "6.png", root / "Z" / "link.png"]

    class Listed:
        paths = want

        def __len__(self):
            return len(self.paths)

    spec = _spec(root)
    h = hashlib.sha256(json_.dumps({"v": cache.VERSION, "name": spec.name, "size": spec.image_size, "nc": spec.nc,
                                    "split": spec.key_split, "bad": spec.bad_images, "cat": spec.lsun_category,
                                    "n": len(want)}).encode())
    real_root = root.resolve()
    for p in want:
        st = p.stat()
        rel = str(p.resolve().relative_to(real_root)) if p.resolve().is_relative_to(real_root) else str(p)
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    assert cache.source_key(spec, Listed()) == h.hexdigest()[:24]
