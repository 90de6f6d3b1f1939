"""Datasets: the embedded rooms scenes and real image datasets, behind one builder.

Every dataset yields ``(image, label)``: image a float32 tensor (nc, H, W) in [-1, 1],
label an int (-1 when the dataset has none).
"""

from __future__ import annotations

from ..errors import UserError

DATASETS = ("rooms",)


def build_dataset(name: str, image_size: int, nc: int = 3, split: str = "train", root=None,
                  download: bool = False, seed: int = 0, n: int | None = None):
    """Build dataset ``name`` at ``image_size`` with ``nc`` channels.

    Args:
        name: one of DATASETS. image_size: side in pixels. nc: 1 or 3 channels.
        split: "train" or "test". root: data folder (real datasets). download: allow
        torchvision downloads. seed: rooms seed. n: rooms count (default 50,000 / 5,000).
    Returns:
        a torch Dataset of (image float32 (nc, H, W) in [-1, 1], label int).
    """
    if name == "rooms":
        from .rooms import RoomsDataset

        return RoomsDataset(image_size=image_size, split=split, n=n, seed=seed, nc=nc)
    raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
