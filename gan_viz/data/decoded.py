"""A decoded-once dataset read back: the uint8 rows of :mod:`gan_viz.data.cache` as float images.

Rows come from memory (the whole array read once, where it fits the budget) or straight from
the file per batch (``os.pread``: memory stays flat whatever the file's size). The pixels equal
the uncached path's: ``uint8 / 255``, then ``(x - 0.5) / 0.5``, the same float32 operations
torchvision's ToTensor + Normalize apply.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def to_float(u8: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [-1, 1], as ToTensor + Normalize(0.5, 0.5)."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).contiguous().float().div(255)
    return x.sub_(0.5).div_(0.5)


class DecodedDataset(torch.utils.data.Dataset):
    """The decoded rows as a dataset: ``ds[i] -> (image (C, H, W) float32 in [-1, 1], label)``,
    ``get_batch(indices)``; rows of unreadable images (``--bad-images skip``) are left out.

    ``in_memory``: the whole array was read into memory; otherwise rows are read from the
    file per batch (memory stays flat)."""

    def __init__(self, path: Path, meta: dict, in_memory: bool):
        self.path, self.meta = path, meta
        self.shape = tuple(meta["shape"])
        keep = np.ones(self.shape[0], bool)
        keep[np.asarray(meta.get("skipped_rows", []), np.int64)] = False
        self.rows = np.flatnonzero(keep).astype(np.int64)
        self.labels = np.asarray(meta["labels"], np.int64)[self.rows]
        self.classes = meta.get("classes", [])
        self.skipped = set(meta.get("skipped", []))
        self.row_bytes = int(np.prod(self.shape[1:]))
        self.in_memory = in_memory
        self._array = np.fromfile(path, np.uint8).reshape(self.shape) if in_memory else None
        self._fd: int | None = None if in_memory else os.open(path, os.O_RDONLY)  # open now: see _remove_superseded

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self):  # worker processes reopen the file
        d = dict(self.__dict__)
        d["_fd"] = None
        return d

    def _read(self, rows: np.ndarray) -> np.ndarray:
        if self._array is not None:
            return self._array[rows]
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        flat = out.reshape(len(rows), -1)
        for k, r in enumerate(rows):
            flat[k] = np.frombuffer(os.pread(self._fd, self.row_bytes, int(r) * self.row_bytes), np.uint8)
        return out

    def get_batch(self, indices) -> torch.Tensor:
        return to_float(self._read(self.rows[np.asarray(list(indices), np.int64)]))

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.get_batch([i])[0], int(self.labels[i])

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
