"""The real images of the neighbour search: the searched training images, streamed, and the held-out ones.

Rooms are rendered once into a cached memory map (:func:`rendered_rooms`) or, for a subset,
rendered on the fly by worker processes; other datasets are read chunk by chunk. What the
held-out images are (a test split, the images ``gan-viz train`` held out of a folder, a part of
the folder G trained on, or ``--heldout-root``) is said in the ``about`` record of
:func:`train_stream`.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from gan_viz.data.labelled import NO_HELDOUT_SPLIT, load_split, open_split, real_pair, recorded_split
from gan_viz.errors import UserError

from .compute import CHUNK, TrainStream
from .summary import SEEN


def _render_rooms(args) -> np.ndarray:
    from gan_viz.data.rooms import render_image

    seed, idx, size, stream = args
    return np.stack([render_image(seed, int(i), size, stream) for i in idx])


def rendered_rooms(ds, progress: bool = True) -> np.ndarray:
    """Every room of ``ds`` as a read-only (N, H, W, 3) uint8 memory map, rendered once (worker
    processes, one per core) into the user's cache folder and reused by later runs. The rooms are
    a pure function of seed, split, stream, size, index and the renderer, so the file's name holds
    :func:`gan_viz.data.rooms.renderer_key` of them all (the renderer's source included): a changed
    renderer renders anew, and the files of the same rooms by an earlier renderer are deleted."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from gan_viz.data.cache import default_cache_dir
    from gan_viz.data.rooms import renderer_key

    size = ds.image_size
    stem = f"rooms-seed{ds.seed}-{ds.split}-{size}px-{ds.n}"
    key = renderer_key(ds.seed, ds.split, size, ds.n, ds.stream)
    path = default_cache_dir().parent / "rendered" / f"{stem}-{key}.u8"
    shape = (ds.n, size, size, 3)
    if path.exists() and path.stat().st_size == int(np.prod(shape)):
        return np.memmap(path, np.uint8, "r", shape=shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    buf = np.memmap(tmp, np.uint8, "w+", shape=shape)
    parts = [np.arange(s, min(s + CHUNK, ds.n)) for s in range(0, ds.n, CHUNK)]
    from tqdm import tqdm

    with ProcessPoolExecutor(max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        jobs = [(ds.seed, p, size, ds.stream) for p in parts]
        for p, imgs in tqdm(zip(parts, pool.map(_render_rooms, jobs)), total=len(parts), disable=not progress,
                            desc="render rooms once (cached)", unit="chunk", leave=False):
            buf[p[0]:p[-1] + 1] = imgs
    buf.flush()
    del buf
    os.replace(tmp, path)
    # the same rooms by another renderer (or unkeyed, as before): never served again
    for old in [*path.parent.glob(f"{stem}-*.u8"), path.parent / f"{stem}.u8"]:
        if old != path:
            old.unlink(missing_ok=True)
    return np.memmap(path, np.uint8, "r", shape=shape)


def read_rows(rooms: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``rooms[positions]`` (sorted positions) of a :func:`rendered_rooms` memory map, read from its
    file: the pages of a whole pass over the 50,000 rooms are then never all mapped into this
    process at once (614 MB of resident memory at 64x64); an array in memory is indexed."""
    filename = getattr(rooms, "filename", None)
    if filename is None or len(positions) == 0:
        return np.asarray(rooms[positions])
    row = int(np.prod(rooms.shape[1:]))
    first, last = int(positions[0]), int(positions[-1])
    with open(filename, "rb") as f:
        f.seek(first * row)
        span = np.frombuffer(f.read((last - first + 1) * row), np.uint8).reshape(-1, *rooms.shape[1:])
    return span[np.asarray(positions) - first]


def _render_chunks(ds, positions: np.ndarray, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Rooms ``positions`` rendered by worker processes (one per core), in order, chunk by chunk."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from gan_viz.data.rooms import to_tensor

    parts = [positions[s:s + chunk] for s in range(0, len(positions), chunk)]
    with ProcessPoolExecutor(max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        jobs = [(ds.seed, p, ds.image_size, ds.stream) for p in parts]
        offset = 0
        for p, imgs in zip(parts, pool.map(_render_rooms, jobs)):
            yield offset, to_tensor(imgs, ds.nc)
            offset += len(p)


def chunks_of(ds, positions: np.ndarray, chunk: int = CHUNK) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, images) of ``ds`` items ``positions`` in chunks; rooms come from :func:`rendered_rooms`."""
    if hasattr(ds, "stream") and hasattr(ds, "image_size") and getattr(ds, "_cache", None) is None:
        from gan_viz.data.rooms import to_tensor

        if 2 * len(positions) < ds.n:  # a subset (or a run trained on the first N): render only those
            yield from _render_chunks(ds, positions, chunk)
            return
        rooms = rendered_rooms(ds)
        for s in range(0, len(positions), chunk):
            yield s, to_tensor(read_rows(rooms, positions[s:s + chunk]), ds.nc)
        return
    for s in range(0, len(positions), chunk):
        yield s, items(ds, positions[s:s + chunk])


def items(ds, idx: Iterable[int]) -> torch.Tensor:
    """Items ``idx`` of ``ds`` as one (N, C, H, W) float32 batch."""
    idx = [int(i) for i in idx]
    if hasattr(ds, "get_batch"):
        return ds.get_batch(idx).float()
    return torch.stack([ds[i][0] for i in idx]).float()


def train_stream(S, name: str, data_root: str | None, n_train: int, n_heldout: int, seed: int,
                 heldout_root: str | None = None):
    """(searched images: a tensor or a :class:`TrainStream`, their item indices, training-split size,
    held-out :class:`Labelled`, the opened dataset or None where the images are in memory, what the
    held-out images are: {"source", "heldout", "seen_by_G"})."""
    limit = (S.train_config or {}).get("dataset_size") if name == S.domain else None  # trained on the first N
    root = data_root or ((S.train_config or {}).get("data_root") if name == S.domain else None)
    recorded = recorded_split(S, name, root, limit) if heldout_root is None else None
    if recorded is not None:  # the images gan-viz train held out of the folder: G never trained on them
        train, held = real_pair(S, name, data_root, n_train or None, n_heldout, seed, limit=limit)
        about = {"source": "recorded held-out", "seen_by_G": False,
                 "heldout": f"{len(held.indices)} of the {len(recorded[1])} images gan-viz train held out of the "
                            f"folder {root} (recorded in the checkpoint; G never trained on them)"}
        return train.images, train.indices, len(recorded[0]), held, None, about
    if name in NO_HELDOUT_SPLIT and heldout_root is None:  # held-out images: a disjoint part of the folder
        train, held = real_pair(S, name, data_root, n_train or None, n_heldout, seed, limit=limit)
        _, total = open_split(name, S.image_shape[1], S.image_shape[0], "train", root, None, limit)
        about = {"source": "folder part", "seen_by_G": True,
                 "heldout": f"a part of the folder {root} disjoint from the searched images; {SEEN}"}
        return train.images, train.indices, total - len(held.indices), held, None, about
    C, H, W = S.image_shape
    if H != W:
        raise UserError(f"the model's images are {H}x{W}; real datasets load square images only")
    ds, total = open_split(name, H, C, "train", root, None, limit)
    order = np.random.default_rng(seed).permutation(total)
    idx = np.sort(order[: n_train or total])
    if heldout_root is not None:
        held = heldout_folder(heldout_root, C, H, n_heldout, seed, root if name in NO_HELDOUT_SPLIT else None)
        about = {"source": "heldout root", "seen_by_G": False,
                 "heldout": f"the images of --heldout-root {heldout_root}, given as images G never saw"}
    else:
        held = load_split(name, H, C, "test", root, n_heldout, seed)
        about = {"source": "test split", "seen_by_G": False,
                 "heldout": f"the {name} test split (G is trained on the training split)"}
    return TrainStream(len(idx), lambda: chunks_of(ds, idx)), idx, total, held, ds, about


def heldout_folder(heldout_root: str, C: int, H: int, n: int, seed: int, train_root: str | None):
    """Up to ``n`` images of ``heldout_root`` at the model's shape; refused where one of them is an
    image of the training folder ``train_root`` (the same file, by resolved path)."""
    from pathlib import Path

    from gan_viz.data.folder import list_images

    held_dir = Path(heldout_root).expanduser()
    if not held_dir.is_dir():
        raise UserError(f"--heldout-root {heldout_root} is not a folder; give a folder of images G never saw")
    if train_root is not None and Path(train_root).expanduser().is_dir():
        seen = {p.resolve() for p in list_images(Path(train_root).expanduser())[0]}
        both = [p for p in list_images(held_dir)[0] if p.resolve() in seen]
        if both:
            raise UserError(f"--heldout-root {heldout_root}: {len(both)} of its images are training images under "
                            f"{train_root} (first: {both[0]}); held-out images must be ones G never saw")
    return load_split("folder", H, C, "train", str(held_dir), n, seed)
