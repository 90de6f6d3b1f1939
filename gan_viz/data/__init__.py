"""Datasets: the embedded rooms scenes and real image datasets, behind one builder.

Every dataset yields ``(image, label)``: image a float32 tensor (nc, H, W) in [-1, 1],
label an int (-1 when the dataset has none). See rooms.py (built in, with masks) and
real.py / folder.py (real datasets; nothing is downloaded unless asked).
"""

from __future__ import annotations

from ..errors import UserError

DATASETS = ("rooms", "digits", "fake", "folder", "mnist", "fashion-mnist", "cifar10", "lsun", "celeba")
NEEDS_ROOT = ("folder", "mnist", "fashion-mnist", "cifar10", "lsun", "celeba")
GRAYSCALE = ("digits", "mnist", "fashion-mnist")  # natively one channel
SPLITS = ("train", "test")


def _check_request(name: str, image_size, nc, split: str) -> None:
    """A one-line UserError for a dataset request that cannot be built."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose train or test")
    if nc not in (1, 3):
        raise UserError(f"nc={nc!r}: images must have 1 or 3 channels")
    if not isinstance(image_size, int) or image_size < 8:
        raise UserError(f"image size {image_size!r} is too small; use at least 8 pixels")


def build_dataset(name: str, image_size: int, nc: int = 3, split: str = "train", root=None,
                  download: bool = False, seed: int = 0, n: int | None = None, bad_images: str = "stop",
                  lsun_category: str = "bedroom", cached: bool = True):
    """Build dataset ``name`` at ``image_size`` with ``nc`` channels.

    Args:
        name: one of DATASETS. image_size: side in pixels. nc: 1 or 3 channels
            (grayscale datasets are repeated to 3, colour ones converted to luma for 1).
        split: "train" or "test" (held out). root: the data folder (real datasets).
        download: let torchvision download mnist, fashion-mnist, cifar10 or celeba.
        seed: rooms / fake seed. n: rooms / fake length (default 50,000 / 5,000 rooms).
        bad_images: folder only: "stop" at an unreadable image, or "skip" and count it.
        lsun_category: lsun only: e.g. bedroom, church_outdoor.
        cached: image files (folder, lsun, ...) come from their decode-once cache
            (:mod:`gan_viz.data.cache`, e.g. built by a training run) where a valid one exists
            for exactly these files and this preprocessing; nothing is built here.
    Returns:
        a torch Dataset of (image float32 (nc, H, W) in [-1, 1], label int).

    Example:
        >>> ds = build_dataset("digits", 32, nc=1)
        >>> ds[0][0].shape, ds[0][1] in range(10)
        (torch.Size([1, 32, 32]), True)
    """
    _check_request(name, image_size, nc, split)
    if cached and not download:
        from . import cache

        if name in cache.DECODED:
            spec = cache.Spec(name, image_size, nc, split, None if root is None else str(root), bad_images,
                              lsun_category)
            ds = spec.build()
            return cache.existing(spec, ds) or ds
    if name == "rooms":
        from .rooms import RoomsDataset

        return RoomsDataset(image_size=image_size, split=split, n=n, seed=seed, nc=nc)
    from . import real

    if name == "digits":
        return real.DigitsDataset(image_size, nc, split)
    if name == "fake":
        return real.FakeDataset(image_size, nc, split, n=n, seed=seed)
    if name == "folder":
        from .folder import FolderDataset

        return FolderDataset(root, image_size, nc, bad_images)
    if name in ("mnist", "fashion-mnist"):
        return real.load_mnist(name, root, split, image_size, nc, download)
    if name == "cifar10":
        return real.load_cifar10(root, split, image_size, nc, download)
    if name == "celeba":
        return real.load_celeba(root, split, image_size, nc, download)
    if download:
        raise UserError("--download is not available for lsun (about 40 GB per category); use the LSUN "
                        "download script, then --data-root")
    return real.load_lsun(root, split, image_size, nc, lsun_category)
