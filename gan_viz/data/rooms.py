"""Rooms: procedurally rendered bedrooms with a per-pixel class map, boxes and attributes.

A room is a box seen by a pinhole camera (back wall, side walls, floor, ceiling); on its
walls 0-3 windows (sky by time of day, a horizon), a door and a picture; on its floor a
rug, a bed, a nightstand and a lamp. Every surface is a 3D quad projected to the image
and filled with OpenCV, far to near (occlusion by draw order). Each quad writes its own
region id into one uint8 map; the RGB image and the class map are two table look-ups of
that map, so masks are exact by construction.

Randomness comes from ``random.Random`` seeded by (seed, stream, index) only: the same
scene at every size (32..128), the train split is stream 0 and the test split stream 1.

Example:
    >>> s = render_room(seed=0, index=3, size=64)
    >>> s.image.shape, s.classmap.shape, s.attrs["n_windows"] in range(4)
    ((64, 64, 3), (64, 64), True)
    >>> [CLASSES[b[0]] for b in s.boxes]  # doctest: +SKIP
    ['window', 'door', 'bed', 'nightstand', 'lamp']
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import UserError
from .scene import build_scene

CLASSES = ("wall", "floor", "ceiling", "window", "bed", "door", "lamp", "picture", "rug", "nightstand")
CLASS_ID = {name: i for i, name in enumerate(CLASSES)}
PALETTE = np.array([  # (K, 3) uint8, fixed: one colour per class for mask pictures
    [180, 180, 180],  # wall
    [140, 90, 40],    # floor
    [240, 240, 200],  # ceiling
    [40, 160, 255],   # window
    [220, 40, 40],    # bed
    [120, 60, 160],   # door
    [255, 220, 0],    # lamp
    [0, 170, 110],    # picture
    [255, 120, 200],  # rug
    [90, 60, 20],     # nightstand
], np.uint8)
TIMES_OF_DAY = ("day", "dusk", "night")
MIN_SIZE, MAX_SIZE = 32, 128
SPLITS = {"train": 0, "test": 1}
LABEL = "n_windows"  # what RoomsDataset returns as the label: number of windows, 0..3
N_LABELS = 4
_SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices
# the renderer's own code: a cache of rendered rooms is keyed on these files' bytes (renderer_key)
RENDERER_FILES = tuple(Path(__file__).with_name(f) for f in ("rooms.py", "scene.py", "furniture.py"))


def renderer_key(seed: int, split: str, size: int, n: int, stream: int) -> str:
    """What rendered rooms depend on: the parameters, the renderer's source (``RENDERER_FILES``)
    and the OpenCV / numpy versions that fill its polygons; 20 hex digits of their sha256."""
    h = hashlib.sha256(json.dumps({"seed": seed, "split": split, "size": size, "n": n, "stream": stream,
                                   "cv2": cv2.__version__, "numpy": np.__version__}).encode())
    for f in RENDERER_FILES:
        h.update(Path(f).read_bytes() + b"\0")
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class RoomSample:
    """One rendered room.

    image: (H, W, 3) uint8 RGB. classmap: (H, W) uint8 class ids (index into CLASSES).
    boxes: one (class_id, x0, y0, x1, y1) per visible object instance, inclusive pixel
    bounds of its visible pixels. attrs: scene attributes (n_windows, time_of_day, ...).
    """

    image: np.ndarray
    classmap: np.ndarray
    boxes: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"rooms image size {size!r} is not supported; use {MIN_SIZE} to {MAX_SIZE} pixels")


def _rng(seed: int, index: int, stream: int) -> random.Random:
    # An int seed is hashed by Mersenne Twister's init_by_array: stable across versions.
    return random.Random((int(seed) & 0xFFFFFFFF) << 72 | (int(stream) & 0xFF) << 64 | (int(index) & (2**64 - 1)))


def _project(quads: np.ndarray, cam: tuple, size: int) -> np.ndarray:
    """(Q, 4, 3) room coordinates in metres -> (Q, 4, 2) int32 fixed-point pixels."""
    cx, cy, f, u0, v0 = cam  # f, u0, v0 in units of the image size
    z = quads[..., 2]
    u = u0 + f * (quads[..., 0] - cx) / z
    v = v0 - f * (quads[..., 1] - cy) / z
    return np.rint(np.stack([u, v], -1) * (size * (1 << _SHIFT))).astype(np.int32)


def _rasterize(quads, size: int, cam) -> np.ndarray:
    """Fill quads in order; returns the (H, W) uint8 region map (region r = quad r)."""
    pts = _project(np.asarray(quads, np.float64).reshape(-1, 4, 3), cam, size)
    regions = np.zeros((size, size), np.uint8)
    for r in range(1, len(pts)):  # quad 0 is the back wall, already the background
        cv2.fillConvexPoly(regions, pts[r], r, lineType=cv2.LINE_8, shift=_SHIFT)
    return regions


def _render(seed: int, index: int, size: int, stream: int, meta: bool):
    _check_size(size)
    sc = build_scene(_rng(seed, index, stream))
    regions = _rasterize(sc.quads, size, sc.camera)
    image = np.take(sc.colors, regions, axis=0)  # (H, W, 3) uint8 (take: 4x faster than [regions])
    if not meta:
        return image, None, None, sc.attrs
    classmap = np.take(sc.classes, regions)
    return image, classmap, _boxes(regions, sc.instances, sc.classes), sc.attrs


def _boxes(regions: np.ndarray, instances: np.ndarray, classes: np.ndarray) -> list:
    """Bounding boxes of each object instance's visible pixels (instance 0 = room shell)."""
    inst_map = np.take(instances, regions)
    out = []
    for inst in np.unique(inst_map):
        if inst == 0:
            continue
        ys, xs = np.nonzero(inst_map == inst)
        cls = int(classes[regions[ys[0], xs[0]]])
        out.append((cls, int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())))
    return out


def render_room(seed: int, index: int, size: int = 64, stream: int = 0) -> RoomSample:
    """Render room ``index`` of the stream ``(seed, stream)`` at ``size`` x ``size``.

    Args:
        seed: dataset seed. index: which room (any non-negative int).
        size: image side in pixels, 32..128. stream: 0 = train split, 1 = test split.
    Returns:
        RoomSample with image, classmap, boxes and attrs; deterministic in all arguments.
    """
    image, classmap, boxes, attrs = _render(seed, index, size, stream, meta=True)
    return RoomSample(image=image, classmap=classmap, boxes=boxes, attrs=attrs)


def render_image(seed: int, index: int, size: int = 64, stream: int = 0) -> np.ndarray:
    """Fast path: only the (H, W, 3) uint8 image of :func:`render_room`."""
    return _render(seed, index, size, stream, meta=False)[0]


def to_tensor(images: np.ndarray, nc: int = 3) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, nc, H, W) float32 in [-1, 1] (nc=1: luma)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    if nc == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return x.div_(127.5).sub_(1.0)


class RoomsDataset(torch.utils.data.Dataset):
    """Rooms rendered on the fly: ``ds[i] -> (image (nc, H, W) float32 in [-1, 1], label)``.

    The label is the number of windows in the room (0..3, see ``LABEL``). Train and test
    are different random streams of the same seed, disjoint by construction.

    Args:
        image_size: 32..128. split: "train" (default 50,000 rooms) or "test" (5,000).
        n: number of rooms (overrides the default). seed: dataset seed. nc: 1 or 3 channels.
    """

    def __init__(self, image_size: int = 64, split: str = "train", n: int | None = None,
                 seed: int = 0, nc: int = 3):
        _check_size(image_size)
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; choose train or test")
        if nc not in (1, 3):
            raise UserError(f"nc={nc!r}: images must have 1 or 3 channels")
        n = (50_000 if split == "train" else 5_000) if n is None else n
        if not isinstance(n, int) or n < 1:
            raise UserError(f"n={n!r}: a dataset needs at least one room")
        self.image_size, self.split, self.n, self.seed, self.nc = image_size, split, n, seed, nc
        self.stream = SPLITS[split]
        self.classes = CLASSES
        self._cache: np.ndarray | None = None  # (m, H, W, 3) uint8 of items 0..m-1, see cache()

    def __len__(self) -> int:
        return self.n

    def _index(self, i: int) -> int:
        if not -self.n <= i < self.n:
            raise IndexError(f"room {i} out of range for a dataset of {self.n}")
        return int(i) % self.n

    def sample(self, i: int) -> RoomSample:
        """The full RoomSample (image, classmap, boxes, attrs) of item ``i``."""
        return render_room(self.seed, self._index(i), self.image_size, self.stream)

    def masks(self, i: int) -> np.ndarray:
        """(H, W) uint8 class map of item ``i`` (ids index ``CLASSES``)."""
        return self.sample(i).classmap

    def __getitem__(self, i: int):
        image, _, _, attrs = _render(self.seed, self._index(i), self.image_size, self.stream, meta=False)
        return to_tensor(image[None], self.nc)[0], int(attrs[LABEL])

    def cache_bytes(self, n: int | None = None) -> int:
        """Memory that :meth:`cache` of the first ``n`` items (default all) would take."""
        return (self.n if n is None else min(n, self.n)) * self.image_size ** 2 * 3

    def cache(self, n: int | None = None, progress: bool = False) -> None:
        """Render items 0..n-1 (default all) once into memory as uint8, so that
        :meth:`get_batch` only indexes: the same pixels, none of the rendering cost
        during training (where rendering would share the CPU with the training step)."""
        from tqdm import tqdm

        n = self.n if n is None else min(n, self.n)
        buf = np.empty((n, self.image_size, self.image_size, 3), np.uint8)
        for i in tqdm(range(n), desc="rooms cache", unit="img", disable=not progress, mininterval=1.0,
                      dynamic_ncols=True):
            buf[i] = render_image(self.seed, i, self.image_size, self.stream)
        self._cache = buf

    def get_batch(self, indices) -> torch.Tensor:
        """(N, nc, H, W) float32 in [-1, 1] for a sequence of item indices (no labels)."""
        idx = [self._index(int(i)) for i in indices]
        if self._cache is not None and idx and max(idx) < len(self._cache):
            return to_tensor(self._cache[np.asarray(idx)], self.nc)
        imgs = np.stack([render_image(self.seed, i, self.image_size, self.stream) for i in idx])
        return to_tensor(imgs, self.nc)

    def labels(self, indices) -> np.ndarray:
        """(N,) int64 labels (window counts) for ``indices``, without rendering images."""
        return np.array([build_scene(_rng(self.seed, self._index(int(i)), self.stream)).attrs[LABEL]
                         for i in indices], np.int64)
