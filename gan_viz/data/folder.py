"""A folder of images: an ImageFolder tree (one sub-folder per class) or a flat folder.

Unreadable images are either fatal (``bad_images="stop"``: the error names the file) or
skipped and counted (``"skip"``: the next readable image is returned instead, the path is
remembered in ``.skipped``). A folder has no held-out split: "test" gives the same images.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from ..errors import UserError
from .real import BAD_IMAGES, IMG_EXTENSIONS, preprocess


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMG_EXTENSIONS


def _images_in(folder: Path, recursive: bool) -> list:
    """Image files under ``folder`` (in its sub-folders too if ``recursive``; symlinked folders
    are not entered, as ``Path.rglob`` does), in ``Path`` order. Read with ``scandir`` (no stat
    per file where the file system gives entry types) and sorted as tuples of names, which is
    ``Path`` order: about a second for 100,000 files instead of several."""
    found: list[tuple] = []
    stack: list[tuple[Path, tuple]] = [(folder, ())]
    while stack:
        here, parts = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except PermissionError:
            continue
        for e in entries:
            try:
                sub = recursive and e.is_dir() and not e.is_symlink()
            except OSError:
                sub = False
            if sub:
                stack.append((here / e.name, parts + (e.name,)))
            elif _is_image_name(e.name) and e.is_file():
                found.append(parts + (e.name,))
    found.sort()
    return [folder.joinpath(*f) for f in found]


def list_images(root: Path) -> tuple[list, list, list]:
    """Returns (paths, labels, class names): flat folder -> labels -1, tree -> sub-folder index."""
    flat = _images_in(root, recursive=False)
    if flat:
        return flat, [-1] * len(flat), []
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for k, name in enumerate(classes):
        found = _images_in(root / name, recursive=True)
        paths += found
        labels += [k] * len(found)
    return paths, labels, classes


class FolderDataset(torch.utils.data.Dataset):
    """Images under ``root``, preprocessed to (nc, S, S) in [-1, 1]; label = class index or -1.

    Args:
        root: folder of images, or of class sub-folders of images.
        image_size: output side. nc: 1 or 3. bad_images: "stop" or "skip" (see module doc).
    """

    def __init__(self, root, image_size: int, nc: int = 3, bad_images: str = "stop"):
        if root is None:
            raise UserError("--dataset folder needs --data-root: a folder of images or of class sub-folders")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise UserError(f"--data-root {root} does not exist or is not a folder; give a folder of images")
        if bad_images not in BAD_IMAGES:
            raise UserError(f"bad_images={bad_images!r}; choose stop or skip")
        self.paths, self.labels, self.classes = list_images(root)
        if not self.paths:
            raise UserError(f"the folder {root} holds no images ({', '.join(IMG_EXTENSIONS)}), neither directly "
                            "nor in class sub-folders")
        self.root, self.bad_images = root, bad_images
        self.transform = preprocess(image_size, nc)
        self.skipped: set = set()

    def __len__(self) -> int:
        return len(self.paths)

    def _open(self, path: Path):
        try:
            with Image.open(path) as im:
                im.load()
                return im.copy()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            if self.bad_images == "stop":
                raise UserError(f"cannot read image {path} ({type(e).__name__}); remove or fix it, or skip "
                                "unreadable images with --bad-images skip") from None
            self.skipped.add(str(path))
            return None

    def __getitem__(self, i: int):
        n = len(self.paths)
        for k in range(n):
            j = (int(i) + k) % n
            img = self._open(self.paths[j])
            if img is not None:
                return self.transform(img), self.labels[j]
        raise UserError(f"no image under {self.root} could be read ({n} tried)")

    def verify(self) -> list:
        """Open every image; returns the paths that cannot be read (honours bad_images)."""
        return [str(p) for p in self.paths if self._open(p) is None]
