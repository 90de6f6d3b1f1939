"""Labelled real images: the training and held-out splits the real-data analyses read.

Shared by ``classify`` (Table 1), ``modes`` (mode coverage) and ``neighbors``
(memorisation). :func:`load_split` reads random items of one split with their labels;
:func:`real_pair` gives training and held-out images of a dataset at a subject's image
shape (a folder of images has no held-out split: the images ``gan-viz train`` held out
(:func:`recorded_split`), else a disjoint random part of it, is held out);
:func:`labelled_pair` adds the checks that classes exist. :func:`used_notes` and
:func:`notes_lead` say in words where fewer images were used than asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from ..errors import UserError

if TYPE_CHECKING:
    from gan_viz.subject import Subject

NO_HELDOUT_SPLIT = ("folder",)  # datasets whose "test" split is the training images again
ROOMS_ATTRIBUTES = {  # attribute -> class names, in label order
    "n_windows": ("0", "1", "2", "3"), "time_of_day": ("day", "dusk", "night"), "lamp_on": ("off", "on"),
    "has_door": ("no", "yes"), "has_picture": ("no", "yes"), "has_bed": ("no", "yes"),
    "has_rug": ("no", "yes"), "has_nightstand": ("no", "yes"), "has_lamp": ("no", "yes")}


@dataclass(frozen=True)
class Labelled:
    """Images of one split with integer labels."""

    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: np.ndarray  # (N,) int64, -1 where the dataset has none
    indices: np.ndarray  # (N,) item indices in the dataset
    classes: tuple  # class names, label k -> classes[k] (empty when unlabelled)


def _class_names(ds, name: str, attribute: str | None) -> tuple:
    if name == "rooms":
        return ROOMS_ATTRIBUTES[attribute or "n_windows"]
    if name in ("digits", "mnist"):
        return tuple(str(k) for k in range(10))
    base = getattr(ds, "base", ds)
    return tuple(getattr(base, "classes", ()) or ())


def _rooms_items(ds, idx: np.ndarray, attribute: str) -> tuple[torch.Tensor, np.ndarray]:
    from .rooms import TIMES_OF_DAY, to_tensor

    samples = [ds.sample(int(i)) for i in idx]
    values = [s.attrs[attribute] for s in samples]
    labels = [TIMES_OF_DAY.index(v) if attribute == "time_of_day" else int(v) for v in values]
    return to_tensor(np.stack([s.image for s in samples]), ds.nc), np.asarray(labels, np.int64)


def load_split(name: str, image_size: int, nc: int, split: str, root=None, n: int | None = None,
               seed: int = 0, attribute: str | None = None, limit: int | None = None) -> Labelled:
    """Up to ``n`` random items (sorted by index) of a dataset split, with labels.

    Args:
        name, image_size, nc, split, root: as :func:`gan_viz.data.build_dataset`.
        n: how many items (None: all). seed: which ones. attribute: rooms only, the scene
            attribute used as label (default ``n_windows``). limit: draw only from the
            first ``limit`` items (a run trained on ``--dataset-size`` images).
    Returns:
        :class:`Labelled`; labels are -1 for an unlabelled dataset.
    """
    ds, total = open_split(name, image_size, nc, split, root, attribute, limit)
    order = np.random.default_rng(seed).permutation(total)
    return _take(ds, name, np.sort(order[: total if n is None else min(n, total)]), attribute, split)


def open_split(name: str, image_size: int, nc: int, split: str, root, attribute: str | None = None,
               limit: int | None = None):
    """(dataset, items to draw from): split ``split`` of ``name`` opened, its size capped at ``limit``.

    Raises:
        UserError: ``attribute`` given for a dataset other than rooms or not a rooms attribute;
            an empty split.
    """
    from . import build_dataset

    if attribute is not None and name != "rooms":
        raise UserError(f"--attribute applies to rooms only; {name} has its own labels")
    if attribute is not None and attribute not in ROOMS_ATTRIBUTES:
        raise UserError(f"unknown rooms attribute {attribute!r}; choose one of {', '.join(ROOMS_ATTRIBUTES)}")
    ds = build_dataset(name, image_size, nc, split, root, seed=0)
    total = len(ds) if limit is None else min(limit, len(ds))
    if total == 0:
        raise UserError(f"the {name} {split} split is empty; pass another --dataset")
    return ds, total


def _take(ds, name: str, idx: np.ndarray, attribute: str | None, split: str) -> Labelled:
    """Items ``idx`` of an opened dataset, with labels."""
    if name == "rooms":
        images, labels = _rooms_items(ds, idx, attribute or "n_windows")
    elif hasattr(ds, "get_batch") and isinstance(getattr(ds, "labels", None), torch.Tensor):
        images, labels = ds.get_batch(idx.tolist()), ds.labels[torch.as_tensor(idx)].numpy()
    else:
        items = [ds[int(i)] for i in tqdm(idx, desc=f"load {name} {split}", unit="img", leave=False)]
        images = torch.stack([x for x, _ in items])
        labels = np.array([y for _, y in items], np.int64)
    return Labelled(images.float(), labels.astype(np.int64), idx, _class_names(ds, name, attribute))


def real_pair(subject: "Subject", name: str | None, data_root: str | None, n_train: int | None, n_test: int,
              seed: int = 0, attribute: str | None = None, limit: int | None = None) -> tuple[Labelled, Labelled]:
    """Training and held-out real images of ``name`` at the subject's image shape.

    The held-out images are the dataset's test split, or, for a dataset without one
    (a folder of images), the images ``gan-viz train`` held out of it where the subject's
    checkpoint records them (:func:`recorded_split`), else a random part of it disjoint
    from the training images (at most a fifth where the folder cannot hold both counts).

    Args:
        subject: the model (image size and channels; its recorded data root for its own dataset).
        name: dataset (None: raises with how to pass one). data_root: its folder.
        n_train: training images (None: all). n_test: held-out images. limit: draw training
            images from the first ``limit`` only.
    Returns:
        (train, test) :class:`Labelled`.
    """
    if name is None:
        raise UserError(f"{subject.where} does not record its dataset; pass --dataset (and --data-root)")
    C, H, W = subject.image_shape
    if H != W:
        raise UserError(f"the model's images are {H}x{W}; real datasets load square images only")
    same = name == subject.domain
    root = data_root or ((subject.train_config or {}).get("data_root") if same else None)
    if name not in NO_HELDOUT_SPLIT:
        train = load_split(name, H, C, "train", root, n_train, seed, attribute, limit)
        return train, load_split(name, H, C, "test", root, n_test, seed, attribute)
    recorded = recorded_split(subject, name, root, limit)
    if recorded is not None:  # the images gan-viz train held out: never trained on
        ds, (train_idx, held_idx) = open_split(name, H, C, "train", root, attribute, None)[0], recorded
        rng = np.random.default_rng(seed)
        held_idx = np.sort(rng.permutation(held_idx)[:n_test])
        train_idx = np.sort(rng.permutation(train_idx)[: n_train or len(train_idx)])
        return (_take(ds, name, train_idx, attribute, "train"), _take(ds, name, held_idx, attribute, "held-out"))
    ds, total = open_split(name, H, C, "train", root, attribute, limit)
    if total < 2:
        raise UserError(f"the {name} data at {root} holds {total} image; it needs at least 2 (training and held-out)")
    n_held = min(n_test, max(1, total // 5)) if (n_train or total) + n_test > total else n_test
    n_tr = min(n_train or total, total - n_held)
    order = np.random.default_rng(seed).permutation(total)
    return (_take(ds, name, np.sort(order[n_held:n_held + n_tr]), attribute, "train"),
            _take(ds, name, np.sort(order[:n_held]), attribute, "held-out"))


def recorded_split(subject: "Subject", name: str, root, limit: int | None = None):
    """(training indices, held-out indices) of a folder whose images ``gan-viz train`` held out
    for this subject (recorded in its checkpoint), or None. The training indices are the
    first ``limit`` of the others (a run trained on ``--dataset-size`` images)."""
    from .heldout import recorded_indices

    if name not in NO_HELDOUT_SPLIT or name != subject.domain:
        return None
    held, total = recorded_indices(subject.train_config, root, with_count=True)  # one listing of the folder
    if held is None:
        return None
    keep = np.ones(total, bool)
    keep[held] = False
    train = np.flatnonzero(keep)
    return (train if limit is None else train[:limit]), held


def labelled_pair(subject: "Subject", name: str | None, data_root: str | None, n_train: int, n_test: int,
                  seed: int = 0, attribute: str | None = None) -> tuple[str, Labelled, Labelled, int]:
    """(dataset name, train, test, K): labelled real images of at least two classes; the test
    images restricted to the training classes."""
    train, test = real_pair(subject, name, data_root, n_train, n_test, seed, attribute)
    k = require_labels(train, name)
    if len(np.unique(train.labels)) < 2:
        raise UserError(f"the {name} training images hold a single class ({', '.join(train.classes[:1]) or '0'}); "
                        "classes are needed: give a folder with one sub-folder per class, raise --n-train or "
                        "pick another label")
    keep = (test.labels >= 0) & (test.labels < k)
    test = Labelled(test.images[keep], test.labels[keep], test.indices[keep], test.classes)
    if len(test.labels) == 0:
        raise UserError(f"the {name} test split has no images of the training classes")
    return name, train, test, k


def used_notes(name: str, train: Labelled, test: Labelled, n_train: int | None, n_test: int) -> list[str]:
    """Where fewer real images were used than asked, in words (for summaries and captions): the
    split (or folder) held fewer, or fewer test images are of the training classes."""
    held = "held-out" if name in NO_HELDOUT_SPLIT else "test"
    notes = []
    if n_train and len(train.labels) < n_train:
        notes.append(f"{len(train.labels)} training images used of the {n_train} asked")
    if len(test.labels) < n_test:
        notes.append(f"{len(test.labels)} {held} images used of the {n_test} asked")
    return notes


def notes_lead(s: dict) -> str:
    """A summary's ``notes`` as the first sentences of its caption."""
    return "".join(f"{w[0].upper()}{w[1:]}. " for w in s.get("notes") or [])


def require_labels(data: Labelled, name: str) -> int:
    """The number of classes; raises when the dataset carries no labels."""
    if (data.labels < 0).any():
        raise UserError(f"dataset {name} has no labels (class labels are needed); use a labelled one (digits, "
                        "rooms, mnist, fashion-mnist, cifar10, or a folder with one sub-folder per class)")
    k = int(data.labels.max()) + 1
    return max(k, len(data.classes))
