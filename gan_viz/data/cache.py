"""Decode once: a dataset's preprocessed images as one uint8 file, reused by every run.

Real datasets (folder, mnist, fashion-mnist, cifar10, celeba, lsun) are decoded, resized
and centre-cropped (the paper's preprocessing, :func:`gan_viz.data.real.preprocess`) once
into ``CACHE_DIR/<name>-<key>.u8``: rows of (H, W, C) uint8, built by worker processes
that decode in parallel and write their rows straight into the file (a memory map), with
a progress bar and ETA. Later runs (and the analyses that read real images) reuse it
when the source and the preprocessing are unchanged: the key covers the dataset name,
split, image size, channels and every source file's name, size and mtime, so a changed
folder rebuilds. Where the array fits ``budget_mb`` it is read into memory once;
otherwise batches are read from the file row by row (``os.pread``: memory stays within
the budget whatever the file's size; the OS page cache does the rest).

The file is written under a temporary name and renamed, and its ``.json`` sidecar
(format version, shape, key, skipped images) is written last, also atomically: a
half-written cache, one of another version, or one whose size does not match its sidecar
is rebuilt. A full disk says so and leaves no partial file behind. Once a changed source
is rebuilt, the caches of its earlier contents (same resolved root, dataset, split, size,
channels and options: they can never match again) are deleted, so a folder that grows
between runs does not leave a gigabyte-sized file behind at every change; caches of
other sources are never touched.

The pixels equal the uncached path's: ``uint8 / 255``, then ``(x - 0.5) / 0.5``, the
same float32 operations torchvision's ToTensor + Normalize apply.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import UserError
from .decoded import DecodedDataset

VERSION = 1
DECODED = ("folder", "mnist", "fashion-mnist", "cifar10", "celeba", "lsun")  # read from files: cached
CHUNK = 256  # rows per worker task
log = logging.getLogger("gan_viz.data")


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-viz" / "decoded"


@dataclass(frozen=True)
class Spec:
    """What the cache holds: enough to rebuild the source dataset in a worker process."""

    name: str
    image_size: int
    nc: int
    split: str
    root: str | None
    bad_images: str = "stop"
    lsun_category: str = "bedroom"

    def build(self):
        from . import build_dataset

        return build_dataset(self.name, self.image_size, self.nc, self.split, self.root,
                             bad_images=self.bad_images, lsun_category=self.lsun_category, cached=False)

    @property
    def key_split(self) -> str:
        """A folder has no held-out split (test = the same images): one cache serves both."""
        return "train" if self.name == "folder" else self.split


def _source_files(ds, root: str | None) -> list[Path]:
    """The files the dataset reads: a folder's image list, else every file under the root."""
    if hasattr(ds, "paths"):
        return list(ds.paths)
    if root is None:
        return []
    out = []
    for dirpath, _, files in os.walk(Path(root).expanduser()):
        out += [Path(dirpath) / f for f in files]
    return sorted(out)


def source_key(spec: Spec, ds) -> str:
    """sha256 over the preprocessing and every source file's (name, size, mtime); a file's
    name is its resolved path relative to the resolved root (else its path as listed).

    Each file costs one ``lstat``: a directory is resolved once, and a file that is no
    symlink resolves to its resolved directory + its name (a symlink is resolved itself).
    At every start of a run on a folder of 100,000 images this took 4 s with a
    ``resolve()`` per file, under 1 s so (same keys).
    """
    h = hashlib.sha256(json.dumps({"v": VERSION, "name": spec.name, "size": spec.image_size, "nc": spec.nc,
                                   "split": spec.key_split, "bad": spec.bad_images, "cat": spec.lsun_category,
                                   "n": len(ds)}).encode())
    _hash_files(h, _source_files(ds, spec.root), spec.root)
    return h.hexdigest()[:24]


def content_key(name: str, root) -> str | None:
    """What a dataset's files hold, without opening one: sha256 over each source file's name
    (relative to the resolved root), size and mtime, the file part of :func:`source_key` (a
    folder's image list, else every file under the root). None for a dataset that reads no
    files (rooms, digits, fake) or a root that is not a folder.

    >>> content_key("rooms", None) is None
    True
    """
    if name not in DECODED or root is None or not Path(root).expanduser().is_dir():
        return None
    from .folder import list_images

    files = list_images(Path(root).expanduser())[0] if name == "folder" else _source_files(None, root)
    h = hashlib.sha256(json.dumps({"v": VERSION, "name": name}).encode())
    _hash_files(h, files, root)
    return h.hexdigest()[:24]


def _hash_files(h, files, root) -> None:
    """Feed ``h`` one line per file: its name under the resolved ``root``, size, mtime (ns)."""
    root = str(Path(root).expanduser().resolve()) if root else None
    under = None if root is None else (root if root.endswith("/") else root + "/")
    dirs: dict = {}
    for p in files:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            real, st = str(Path(p).resolve()), os.stat(p)
        else:
            d = dirs.get(p.parent)
            if d is None:
                d = dirs[p.parent] = str(p.parent.resolve())
            real = os.path.join(d, p.name)
        rel = real[len(under):] if under is not None and real.startswith(under) else str(p)
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def raw_transform(image_size: int, nc: int):
    """The paper's preprocessing up to the uint8 pixels: PIL -> (H, W, C) uint8."""
    from torchvision import transforms as T

    steps = T.Compose([T.Resize(image_size, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
                       T.CenterCrop(image_size)])
    mode = "L" if nc == 1 else "RGB"

    def f(img):
        a = np.asarray(steps(img.convert(mode)), dtype=np.uint8)
        return a[:, :, None] if a.ndim == 2 else a
    return f


# --- building ---------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(spec: Spec, path: str, shape: tuple) -> None:
    torch.set_num_threads(1)
    ds = spec.build()
    ds.transform = raw_transform(spec.image_size, spec.nc)  # "stop" at a bad image raises, naming it
    _WORKER.update(ds=ds, out=np.memmap(path, np.uint8, "r+", shape=shape))


def _decode(start: int, stop: int) -> tuple[int, list[int], list[str], list[int]]:
    """Decode rows start..stop-1 into the memory-mapped file; returns (rows, labels, bad paths, bad rows)."""
    ds, out = _WORKER["ds"], _WORKER["out"]
    labels, bad, bad_rows = [], [], []
    for i in range(start, stop):
        if hasattr(ds, "paths"):  # a folder: open the one file, no fallback to a neighbour
            img = ds._open(ds.paths[i])
            if img is None:
                bad.append(str(ds.paths[i]))
                bad_rows.append(i)
                labels.append(-1)
                continue
            out[i] = ds.transform(img)
            labels.append(int(ds.labels[i]))
        else:
            img, label = ds[i]
            out[i] = img
            labels.append(int(label))
    out.flush()
    return stop - start, labels, bad, bad_rows


def _serial_decode(spec: Spec, path: str, shape: tuple, n: int, bar) -> tuple[list, list, list]:
    _init_worker(spec, path, shape)
    labels, bad, bad_rows = [], [], []
    try:
        for s in range(0, n, CHUNK):
            k, lab, b, br = _decode(s, min(n, s + CHUNK))
            labels += lab
            bad += b
            bad_rows += br
            bar.update(k)
    finally:
        _WORKER.clear()
    return labels, bad, bad_rows


def build(spec: Spec, ds, path: Path, workers: int, progress: bool = True) -> dict:
    """Decode every row of ``ds`` into ``path`` (atomically); returns the sidecar dict."""
    n, s, c = len(ds), spec.image_size, spec.nc
    shape = (n, s, s, c)
    need = int(np.prod(shape))
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if need > free:
        raise UserError(f"the decoded cache needs {need >> 20} MB but {path.parent} has {free >> 20} MB free; "
                        "free space or pass --data-cache-dir DIR on a larger disk")
    for stale in path.parent.glob(f"{path.name}.tmp-*"):
        _remove_if_dead(stale)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    try:
        with open(tmp, "wb") as f:
            f.truncate(need)
        labels, bad, bad_rows = [], [], []
        with tqdm(total=n, desc=f"decoding {spec.name} once", unit="img", disable=not progress,
                  mininterval=1.0, dynamic_ncols=True) as bar:
            if workers <= 1 or n <= CHUNK:
                labels, bad, bad_rows = _serial_decode(spec, str(tmp), shape, n, bar)
            else:
                with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(spec, str(tmp), shape)) as pool:
                    futures = [pool.submit(_decode, a, min(n, a + CHUNK)) for a in range(0, n, CHUNK)]
                    for fut in futures:  # in order: labels line up with rows
                        k, lab, b, br = fut.result()
                        labels += lab
                        bad += b
                        bad_rows += br
                        bar.update(k)
        meta = {"version": VERSION, "shape": list(shape), "labels": labels, "skipped": bad,
                "skipped_rows": bad_rows, "classes": list(getattr(ds, "classes", []) or []),
                "spec": spec.__dict__, "source": _source_id(spec), "build_s": round(time.perf_counter() - t0, 2)}
        os.replace(tmp, path)
        _write_json_atomic(path.with_suffix(".json"), meta)
        return {**meta, "superseded_removed": _remove_superseded(path, meta)}
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise UserError(f"the disk under {path.parent} filled up while writing the decoded cache "
                            f"({need >> 20} MB); nothing was kept: free space or pass --data-cache-dir DIR") from None
        raise UserError(f"cannot write the decoded cache {path} ({e.strerror}); pass --data-cache-dir DIR") from None
    finally:
        tmp.unlink(missing_ok=True)


def _source_id(spec: Spec) -> dict | None:
    """What makes two caches caches of the same source, whatever its contents: the resolved
    root and every preprocessing option (None without a root: never pruned)."""
    if not spec.root:
        return None
    return {"root": str(Path(spec.root).expanduser().resolve()), "name": spec.name, "split": spec.key_split,
            "size": spec.image_size, "nc": spec.nc, "bad": spec.bad_images, "cat": spec.lsun_category}


def _remove_superseded(path: Path, meta: dict) -> list[str]:
    """Delete the other caches in ``path``'s folder of the same source (its earlier contents);
    returns their file names. A cache whose sidecar lacks the source (an older build) stays."""
    source, removed = meta.get("source"), []
    if source is None:
        return removed
    prefix = path.name.rsplit("-", 1)[0] + "-"  # name-split-SIZEpx-NCc-
    for side in sorted(path.parent.glob(f"{prefix}*.json")):
        other = side.with_suffix(".u8")
        if other == path:
            continue
        try:
            if json.loads(side.read_text()).get("source") != source:
                continue
        except (OSError, json.JSONDecodeError):
            continue
        size = other.stat().st_size if other.exists() else 0
        other.unlink(missing_ok=True)  # a process reading it keeps its open file until it closes it
        side.unlink(missing_ok=True)
        removed.append(other.name)
        log.info("removed %s (%d MB): the cache of %s before it changed", other, size >> 20, source["root"])
    return removed


def _remove_if_dead(stale: Path) -> None:
    """Remove a temporary file of a build whose process is gone (a killed earlier run)."""
    try:
        pid = int(stale.name.rsplit("-", 1)[1])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        stale.unlink(missing_ok=True)
    except PermissionError:
        pass


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _valid(path: Path, shape: tuple) -> dict | None:
    """The sidecar of a complete cache file of this version and shape, else None."""
    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if meta.get("version") != VERSION or tuple(meta.get("shape", ())) != shape:
        return None
    if not path.is_file() or path.stat().st_size != int(np.prod(shape)):
        return None
    return meta


def _where(spec: Spec, ds, cache_dir) -> tuple[Path, tuple]:
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    name = f"{spec.name}-{spec.key_split}-{spec.image_size}px-{spec.nc}c-{source_key(spec, ds)}.u8"
    return folder / name, (len(ds), spec.image_size, spec.image_size, spec.nc)


def existing(spec: Spec, ds, budget_mb: int = 1024, cache_dir: str | Path | None = None) -> DecodedDataset | None:
    """The valid cache of exactly these files and this preprocessing, if one was built; else None."""
    path, shape = _where(spec, ds, cache_dir)
    meta = _valid(path, shape)
    return None if meta is None else DecodedDataset(path, meta, int(np.prod(shape)) <= budget_mb * 2 ** 20)


def decoded(spec: Spec, budget_mb: int = 1024, cache_dir: str | Path | None = None, workers: int | None = None,
            progress: bool = True, ds=None) -> DecodedDataset:
    """The dataset of ``spec`` decoded once (built if missing or stale, else reused)."""
    if spec.name not in DECODED:
        raise UserError(f"--dataset {spec.name} is not read from image files; it needs no decoded cache")
    ds = spec.build() if ds is None else ds
    path, shape = _where(spec, ds, cache_dir)
    meta = _valid(path, shape)
    if meta is None:
        workers = max(1, min(os.cpu_count() or 1, 8)) if workers is None else workers
        meta = build(spec, ds, path, workers, progress)
    return DecodedDataset(path, meta, in_memory=int(np.prod(shape)) <= budget_mb * 2 ** 20)
