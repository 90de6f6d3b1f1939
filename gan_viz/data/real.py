"""Real image datasets with the paper's preprocessing: resize, centre crop, [-1, 1].

Every loader returns a torch Dataset of ``(image float32 (nc, H, W) in [-1, 1], label int)``
(label -1 where there is none). Nothing is downloaded unless ``download=True``; a missing
root says what is expected there and how to get it.

    folder         an ImageFolder tree (one sub-folder per class) or a flat folder of images
    mnist          torchvision MNIST: ROOT/MNIST/raw/train-images-idx3-ubyte, ...
    fashion-mnist  torchvision FashionMNIST: ROOT/FashionMNIST/raw/...
    cifar10        torchvision CIFAR10: ROOT/cifar-10-batches-py/data_batch_1..5, test_batch
    lsun           torchvision LSUN (needs the lmdb package): ROOT/bedroom_train_lmdb
    celeba         torchvision CelebA: ROOT/celeba/img_align_celeba/ + the list_*.txt files
    digits         scikit-learn's bundled 8x8 handwritten digits, upscaled (no root needed)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
BAD_IMAGES = ("stop", "skip")


def preprocess(image_size: int, nc: int) -> "Preprocess":
    """The paper's preprocessing: PIL image -> (nc, S, S) float32 in [-1, 1].

    Resize the shorter side to ``image_size`` (bilinear, antialiased), centre crop,
    convert to grayscale (nc=1) or RGB (nc=3), scale to [-1, 1].
    """
    return Preprocess(image_size, nc)


class Preprocess:
    """:func:`preprocess` as a picklable callable that imports torchvision at its first
    image: a run that reads a folder's decode-once cache never calls it, and importing
    torchvision costs about a second of start-up."""

    def __init__(self, image_size: int, nc: int):
        self.image_size, self.nc, self._steps = image_size, nc, None

    def __call__(self, img):
        if self._steps is None:
            from torchvision import transforms as T

            s, nc = self.image_size, self.nc
            self._steps = T.Compose([T.Resize(s, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
                                     T.CenterCrop(s), T.ToTensor(), T.Normalize([0.5] * nc, [0.5] * nc)])
        return self._steps(img.convert("L" if self.nc == 1 else "RGB"))


class _Labelled(torch.utils.data.Dataset):
    """Wrap a torchvision dataset: apply ``transform`` and turn targets into ints (-1: none)."""

    def __init__(self, base, transform, labelled: bool = True):
        self.base, self.transform, self.labelled = base, transform, labelled

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        img, target = self.base[i]
        label = int(target) if self.labelled and target is not None else -1
        return self.transform(img), label


def _require_root(root, name: str, expected: str) -> Path:
    if root is None:
        raise UserError(f"--dataset {name} needs --data-root: a folder holding {expected}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"--data-root {root} does not exist; it should hold {expected}")
    return root


def _missing(name: str, root: Path, expected: str, how: str) -> UserError:
    return UserError(f"{name} not found under {root}: expected {expected}; {how}")


def load_mnist(kind: str, root, split: str, image_size: int, nc: int, download: bool):
    """MNIST / Fashion-MNIST from ROOT/<MNIST|FashionMNIST>/raw/*-ubyte (torchvision layout)."""
    from torchvision import datasets

    cls = datasets.MNIST if kind == "mnist" else datasets.FashionMNIST
    folder = cls.__name__
    expected = f"{folder}/raw/train-images-idx3-ubyte, t10k-images-idx3-ubyte and the label files"
    root = Path(root).expanduser() if download and root is not None else _require_root(root, kind, expected)
    try:
        base = cls(str(root), train=split == "train", download=download)
    except RuntimeError:
        raise _missing(kind, root, expected, "pass --download to fetch it, or point --data-root at "
                       f"the folder that contains {folder}/") from None
    return _Labelled(base, preprocess(image_size, nc))


def _cifar_class():
    from torchvision import datasets

    from .cifar import read_batch, read_meta

    class CIFAR10Files(datasets.CIFAR10):
        """CIFAR-10 that trusts existing files by name (torchvision checks md5 sums, which rejects
        re-packed copies and costs a full read) and reads them with a restricted unpickler
        (:mod:`gan_viz.data.cifar`: numpy arrays and plain data only; a planted file is refused)."""

        def __init__(self, root: str, train: bool = True, download: bool = False):
            super(datasets.CIFAR10, self).__init__(root)  # VisionDataset: root, no transforms
            self.train = train
            if download:
                self.download()  # torchvision's: the archive's md5 is checked
            if not self._check_integrity():
                raise RuntimeError("Dataset not found")
            base = os.path.join(self.root, self.base_folder)
            batches = [read_batch(os.path.join(base, f)) for f, _ in (self.train_list if train else self.test_list)]
            self.data = np.concatenate([x for x, _ in batches])  # (N, 32, 32, 3) uint8
            self.targets = [y for _, ys in batches for y in ys]
            self.classes = read_meta(os.path.join(base, self.meta["filename"]))
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

        def _check_integrity(self) -> bool:
            files = [f for f, _ in self.train_list + self.test_list] + [self.meta["filename"]]
            return all(os.path.isfile(os.path.join(self.root, self.base_folder, f)) for f in files)

    return CIFAR10Files


def load_cifar10(root, split: str, image_size: int, nc: int, download: bool):
    """CIFAR-10 from ROOT/cifar-10-batches-py (the python pickles)."""
    expected = "cifar-10-batches-py/ with data_batch_1..5, test_batch and batches.meta"
    root = Path(root).expanduser() if download and root is not None else _require_root(root, "cifar10", expected)
    try:
        base = _cifar_class()(str(root), train=split == "train", download=download)
    except RuntimeError:
        raise _missing("cifar10", root, expected, "pass --download to fetch it (170 MB)") from None
    except (OSError, EOFError, KeyError, ValueError) as e:
        raise UserError(f"cifar10 files under {root / 'cifar-10-batches-py'} are unreadable ({e}); "
                        "delete them and download again") from None
    return _Labelled(base, preprocess(image_size, nc))


def load_celeba(root, split: str, image_size: int, nc: int, download: bool):
    """CelebA (aligned) from ROOT/celeba/img_align_celeba + list_eval_partition.txt etc."""
    from torchvision import datasets

    class CelebAFiles(datasets.CelebA):
        def _check_integrity(self) -> bool:  # existence, not md5 (see CIFAR10Files)
            base = os.path.join(self.root, self.base_folder)
            return all(os.path.isfile(os.path.join(base, f)) for _, _, f in self.file_list
                       if not f.endswith(".zip")) and os.path.isdir(os.path.join(base, "img_align_celeba"))

    expected = ("celeba/img_align_celeba/*.jpg and celeba/list_eval_partition.txt, list_attr_celeba.txt, "
                "identity_CelebA.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt")
    root = Path(root).expanduser() if download and root is not None else _require_root(root, "celeba", expected)
    try:
        base = CelebAFiles(str(root), split="train" if split == "train" else "test", target_type=[],
                           download=download)
    except RuntimeError:
        raise _missing("celeba", root, expected, "download it from the CelebA site (Google Drive) or pass "
                       "--download") from None
    return _Labelled(base, preprocess(image_size, nc), labelled=False)


def load_lsun(root, split: str, image_size: int, nc: int, category: str = "bedroom"):
    """One LSUN category from its lmdb folder: ROOT/<category>_<train|val>_lmdb (or ROOT itself)."""
    try:
        import lmdb  # noqa: F401
    except ImportError:
        raise UserError("--dataset lsun needs the lmdb package: pip install lmdb") from None
    from torchvision.datasets import LSUNClass

    sub = f"{category}_{'train' if split == 'train' else 'val'}_lmdb"
    root = _require_root(root, "lsun", f"{sub}/ (from the LSUN download script, unzipped)")
    folder = root if (root / "data.mdb").is_file() else root / sub
    if not (folder / "data.mdb").is_file():
        raise _missing("lsun", root, f"{sub}/data.mdb", "download the category with the LSUN download.py "
                       "script (the data is too large for --download) and unzip it there")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-viz" / "lsun"
    cache.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(cache):  # torchvision writes its key cache into the working folder
        base = LSUNClass(str(folder.resolve()))
    return _Labelled(base, preprocess(image_size, nc), labelled=False)


class DigitsDataset(torch.utils.data.Dataset):
    """scikit-learn's 1,797 handwritten 8x8 digits (0..16), upscaled bilinearly, label = digit.

    Split: a fixed permutation (seed 0), first 80% train, last 20% test.
    """

    def __init__(self, image_size: int, nc: int = 1, split: str = "train"):
        import cv2
        from sklearn.datasets import load_digits

        d = load_digits()
        order = np.random.RandomState(0).permutation(len(d.target))
        cut = int(0.8 * len(order))
        idx = order[:cut] if split == "train" else order[cut:]
        small = (d.images[idx] / 16.0).astype(np.float32)  # (N, 8, 8) in [0, 1]
        big = np.stack([cv2.resize(im, (image_size, image_size), interpolation=cv2.INTER_LINEAR) for im in small])
        x = torch.from_numpy(np.clip(big, 0, 1) * 2 - 1).unsqueeze(1)  # (N, 1, S, S)
        self.images = x.repeat(1, nc, 1, 1) if nc == 3 else x
        self.labels = torch.from_numpy(d.target[idx].astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], int(self.labels[i])

    def get_batch(self, indices) -> torch.Tensor:
        return self.images[torch.as_tensor(list(indices), dtype=torch.long)]


class FakeDataset(torch.utils.data.Dataset):
    """Uniform noise images in [-1, 1] (label -1), for smoke tests; deterministic per index."""

    def __init__(self, image_size: int, nc: int = 3, split: str = "train", n: int | None = None, seed: int = 0):
        self.size, self.nc = image_size, nc
        self.n = (1000 if split == "train" else 100) if n is None else n
        self.seed = seed * 2 + (split != "train")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not -self.n <= i < self.n:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(i) % self.n)
        return torch.rand(self.nc, self.size, self.size, generator=g) * 2 - 1, -1
