"""Real datasets on tiny fixtures written in torchvision's on-disk formats (no downloads)."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from gan_viz.data import DATASETS, build_dataset
from gan_viz.errors import UserError


def _idx(path, arr: np.ndarray) -> None:
    """Write an IDX file (the MNIST format): magic 0x08 (uint8) + ndim, big-endian dims, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("MNIST", "FashionMNIST"):
        raw = tmp_path / folder / "raw"
        for prefix, n in (("train", 6), ("t10k", 3)):
            _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
            _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


@pytest.fixture
def cifar_root(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [1, 7]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)
    return tmp_path


@pytest.fixture
def celeba_root(tmp_path):
    base = tmp_path / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 6)]
    for i, name in enumerate(names):
        Image.new("RGB", (178, 218), (40 * i, 100, 200)).save(base / "img_align_celeba" / name)
    part = [0, 0, 0, 2, 2]  # (torchvision fails on a split of one image)
    (base / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, part)))
    (base / "identity_CelebA.txt").write_text("".join(f"{n} {i + 1}\n" for i, n in enumerate(names)))
    (base / "list_bbox_celeba.txt").write_text(
        f"{len(names)}\nimage_id x_1 y_1 width height\n" + "".join(f"{n} 1 2 30 40\n" for n in names))
    (base / "list_landmarks_align_celeba.txt").write_text(
        f"{len(names)}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
        "rightmouth_x rightmouth_y\n" + "".join(f"{n} " + " ".join(["50"] * 10) + "\n" for n in names))
    (base / "list_attr_celeba.txt").write_text(
        f"{len(names)}\nSmiling Young\n" + "".join(f"{n} 1 -1\n" for n in names))
    return tmp_path


def _check(ds, n: int, nc: int, size: int):
    assert len(ds) == n
    x, y = ds[0]
    assert x.shape == (nc, size, size) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert isinstance(y, int)
    return x, y


def test_dataset_names():
    assert {"rooms", "digits", "folder", "mnist", "fashion-mnist", "cifar10", "lsun", "celeba"} <= set(DATASETS)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_like(mnist_root, name):
    _, y = _check(build_dataset(name, 32, nc=1, root=mnist_root), 6, 1, 32)
    assert y == 0
    _check(build_dataset(name, 16, nc=3, split="test", root=mnist_root), 3, 3, 16)
    assert build_dataset(name, 32, nc=1, root=mnist_root)[1][1] == 1


def test_cifar10(cifar_root):
    x, y = _check(build_dataset("cifar10", 32, root=cifar_root), 10, 3, 32)
    assert y == 1
    _check(build_dataset("cifar10", 16, nc=1, split="test", root=cifar_root), 2, 1, 16)


class _Planted:
    """A pickle that runs a shell command when loaded (what a planted data_batch_1 could do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("name", ["data_batch_1", "batches.meta"])
def test_cifar10_planted_pickle_is_refused_without_running(cifar_root, tmp_path, cli, name):
    marker = tmp_path / "ran"
    with open(cifar_root / "cifar-10-batches-py" / name, "wb") as f:
        pickle.dump({"data": _Planted(marker), "labels": [1, 7], "label_names": _Planted(marker)}, f)
    with pytest.raises(UserError, match=f"{name} is not a CIFAR-10 batch: it names posix.system"):
        build_dataset("cifar10", 32, root=cifar_root)
    assert not marker.exists()
    code, out, err = cli("data", "preview", "--dataset", "cifar10", "--data-root", cifar_root, "--n", "2",
                         "--out", tmp_path / "p")
    assert code == 2 and not marker.exists()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "posix.system" in err


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_reads_every_pickle_protocol_and_checks_the_layout(cifar_root, protocol):
    base = cifar_root / "cifar-10-batches-py"
    data = np.random.default_rng(1).integers(0, 256, (3, 3072), dtype=np.uint8)
    with open(base / "data_batch_1", "wb") as f:  # bytes keys, as a Python 3 re-pack may write
        pickle.dump({b"data": data, b"labels": [4, np.int64(0), 9], b"batch_label": b"training batch 1 of 5"}, f,
                    protocol)
    ds = build_dataset("cifar10", 32, root=cifar_root)
    assert len(ds) == 11 and ds[0][1] == 4
    first = data[0].reshape(3, 32, 32).transpose(1, 2, 0)  # CHW rows -> the HWC image
    from gan_viz.data.real import _cifar_class

    cifar = _cifar_class()(str(cifar_root))
    assert np.array_equal(cifar.data[0], first) and cifar.targets[:3] == [4, 0, 9] and cifar.classes[0] == "airplane"
    with open(base / "data_batch_1", "wb") as f:
        pickle.dump({"data": data.astype(np.float32), "labels": [4, 0, 9]}, f, protocol)
    with pytest.raises(UserError, match="uint8 array"):
        build_dataset("cifar10", 32, root=cifar_root)


def test_celeba(celeba_root):
    x, y = _check(build_dataset("celeba", 32, root=celeba_root), 3, 3, 32)
    assert y == -1
    _check(build_dataset("celeba", 32, root=celeba_root, split="test"), 2, 3, 32)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "celeba"])
def test_missing_root_names_what_is_expected(tmp_path, name):
    with pytest.raises(UserError, match="--data-root"):
        build_dataset(name, 32)
    with pytest.raises(UserError, match="expected .*download"):
        build_dataset(name, 32, root=tmp_path)  # exists but empty
    with pytest.raises(UserError, match="does not exist"):
        build_dataset(name, 32, root=tmp_path / "nowhere")


def test_lsun_needs_lmdb_or_data(tmp_path):
    try:
        import lmdb
    except ImportError:
        with pytest.raises(UserError, match="pip install lmdb"):
            build_dataset("lsun", 32, root=tmp_path)
        return
    with pytest.raises(UserError, match="bedroom_train_lmdb"):
        build_dataset("lsun", 32, root=tmp_path)
    import io

    env = lmdb.open(str(tmp_path / "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(3):
            buf = io.BytesIO()
            Image.new("RGB", (80, 60), (i * 50, 0, 0)).save(buf, format="webp")
            txn.put(f"{i:04d}".encode(), buf.getvalue())
    env.close()
    _check(build_dataset("lsun", 32, root=tmp_path), 3, 3, 32)


def test_lsun_download_refused(tmp_path):
    with pytest.raises(UserError, match="download"):
        build_dataset("lsun", 32, root=tmp_path, download=True)


def test_digits_real_labelled_and_split():
    tr, te = build_dataset("digits", 32, nc=1), build_dataset("digits", 32, nc=1, split="test")
    assert len(tr) + len(te) == 1797 and len(te) == 360
    x, y = _check(tr, len(tr), 1, 32)
    assert 0 <= y <= 9 and x.max() > 0.5 and x.min() == -1.0  # ink on a black background
    assert sorted(set(tr.labels.tolist())) == list(range(10))
    assert not any(torch.equal(tr.images[i], te.images[j]) for i in range(40) for j in range(40))
    assert build_dataset("digits", 16, nc=3)[0][0].shape == (3, 16, 16)


def test_fake_is_deterministic():
    a, b = build_dataset("fake", 16), build_dataset("fake", 16)
    assert torch.equal(a[5][0], b[5][0]) and not torch.equal(a[5][0], a[6][0]) and a[0][1] == -1


def _png(path, color=(255, 0, 0), size=(40, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_folder_flat_and_tree(tmp_path):
    for i in range(3):
        _png(tmp_path / "flat" / f"{i}.png")
    x, y = _check(build_dataset("folder", 16, root=tmp_path / "flat"), 3, 3, 16)
    assert y == -1 and torch.allclose(x[0], torch.ones(16, 16))  # pure red -> +1 in R
    assert torch.allclose(x[1], -torch.ones(16, 16))
    _png(tmp_path / "tree" / "cats" / "a.png")
    _png(tmp_path / "tree" / "dogs" / "deep" / "b.jpg", (0, 0, 255))
    ds = build_dataset("folder", 16, nc=1, root=tmp_path / "tree")
    assert [ds[i][1] for i in range(2)] == [0, 1] and ds.classes == ["cats", "dogs"]
    assert ds[0][0].shape == (1, 16, 16)


def test_folder_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        build_dataset("folder", 16, root=tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        build_dataset("folder", 16, root=tmp_path / "missing")
    _png(tmp_path / "mixed" / "good.png")
    (tmp_path / "mixed" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match="broken.png"):
        build_dataset("folder", 16, root=tmp_path / "mixed")[0]  # sorted: broken.png first
    ds = build_dataset("folder", 16, root=tmp_path / "mixed", bad_images="skip")
    x, _ = ds[0]  # broken.png is skipped, good.png returned
    assert x.shape == (3, 16, 16) and len(ds.skipped) == 1
    assert ds.verify() == [str(tmp_path / "mixed" / "broken.png")]


def test_preview_real_cli(cli, tmp_path, mnist_root):
    code, out, err = cli("data", "preview", "--dataset", "mnist", "--data-root", mnist_root, "--n", "4",
                         "--image-size", "32", "--out", tmp_path / "p")
    assert code == 0, err
    assert (tmp_path / "p" / "images.png").is_file() and (tmp_path / "p" / "stats.json").is_file()
    code, _, err = cli("data", "preview", "--dataset", "mnist", "--out", tmp_path / "q")
    assert code == 2 and "--data-root" in err and not (tmp_path / "q").exists()
