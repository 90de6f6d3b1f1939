"""A fixed held-out list for a folder of images: images a run never trains on.

A folder has no test split, and a G trained on the whole folder has seen every image of it;
the memorisation and data-copying tests then have no images independent of training.
``gan-viz train`` on a folder therefore holds a small share of the folder out
(:data:`DEFAULT_SHARE`, at most :data:`MAX_HELDOUT` images), drawn from the run's seed,
records the files (relative to the data root) in the checkpoint's training config and in
``OUT/heldout.txt``, and never trains on them. The analyses read the recorded list back with
:func:`recorded_indices` and use those images as held out (``seen_by_G`` false).

>>> train, held = split_indices(100, 0.05, seed=0)
>>> len(held), len(train), len(set(train.tolist()) & set(held.tolist()))
(5, 95, 0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError

DEFAULT_SHARE = 0.05  # of the folder's images, held out by gan-viz train
MAX_HELDOUT = 5000  # enough for the held-out statistics (neighbors reads 1000 by default)
HELD_DATASETS = ("folder",)  # datasets without a test split of their own
KEY = "heldout_files"  # the training config's entry: relative paths, in the folder's image order
_SALT = 0x48454C44  # "HELD": the held-out draw is its own stream of the run's seed


def split_indices(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices) of ``n`` images, both sorted and disjoint.

    ``share`` of the images (rounded, at least 1, at most :data:`MAX_HELDOUT`) are held out;
    ``share`` 0 holds none out. Raises when fewer than 2 images would be left to train on.
    """
    if not 0 <= share < 1:
        raise UserError(f"--heldout-share {share!r} must be in [0, 1); 0 trains on every image")
    k = 0 if share == 0 else min(MAX_HELDOUT, max(1, round(share * n)))
    if n - k < 2:
        raise UserError(f"the folder holds {n} images; holding {k} out leaves fewer than 2 to train on; "
                        "add images or pass --heldout-share 0")
    held = np.sort(np.random.default_rng([int(seed), _SALT]).permutation(n)[:k])
    keep = np.ones(n, bool)
    keep[held] = False
    return np.flatnonzero(keep), held


def relative_names(paths, root) -> list[str]:
    """``paths`` as posix paths relative to ``root`` (how the held-out list is recorded)."""
    base = Path(root).expanduser()
    return [Path(p).relative_to(base).as_posix() for p in paths]


def recorded_indices(train_config: dict | None, root, with_count: bool = False):
    """Indices (in the folder's image order) of the images the run recorded as held out, or
    None when it recorded none or ``root`` is another folder (none of the files is under it).
    Raises when ``root`` holds some of them but not all (the folder changed since training:
    the list cannot be trusted). The names are relative, so a moved copy of the folder works.
    ``with_count``: return (indices, the folder's image count) from the one listing."""
    names = (train_config or {}).get(KEY)
    if not names or root is None:
        return (None, 0) if with_count else None
    from .folder import list_images

    base = Path(root).expanduser()
    trained = (train_config or {}).get("data_root")
    own = trained is not None and Path(trained).expanduser().resolve() == base.resolve()
    if not base.is_dir():
        raise UserError(f"the folder {root} is not there; pass --data-root with the folder G was trained on")
    where = {n: i for i, n in enumerate(relative_names(list_images(base)[0], base))}
    missing = [n for n in names if n not in where]
    if missing and not own and len(missing) == len(names):
        return (None, len(where)) if with_count else None  # another folder: the recorded list does not apply
    if missing:
        raise UserError(f"{len(missing)} of the {len(names)} images the run held out are no longer under {root} "
                        f"(first: {missing[0]}); the folder changed since training, so which images G never "
                        "saw is unknown; pass --heldout-root DIR with images G never saw")
    held = np.sort(np.array([where[n] for n in names], np.int64))
    return (held, len(where)) if with_count else held
