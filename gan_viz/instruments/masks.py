"""Hand annotations as instruments: :class:`Masks` (user class masks of fixed real images,
filter-audit ``--masks``) and :class:`Boxes` (user boxes of one concept on annotated samples,
forget ``--boxes``). They label fixed images only; they cannot segment new ones."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import UserError
from .base import Instrument


class Masks(Instrument):
    """User class masks of fixed real images: ``maps(indices) -> (B, H, W)`` class ids."""

    kind = "masks"

    def __init__(self, path: str, masks: np.ndarray, class_names: Sequence[str]):
        super().__init__(f"masks {path}", class_names, False, f"your masks {path}")
        self.masks = masks  # (N, H, W) int64

    def maps(self, indices) -> np.ndarray:
        return self.masks[np.asarray(indices, dtype=np.int64)]

    @classmethod
    def from_npz(cls, path: str, n: int, size: Sequence[int]) -> "Masks":
        """Read an .npz with ``masks`` (M >= n, H, W) integer ids and ``class_names`` (K,)."""
        h, w = int(size[0]), int(size[1])
        try:
            with np.load(path, allow_pickle=False) as z:
                masks, names = z["masks"], tuple(str(c) for c in z["class_names"])
        except FileNotFoundError:
            raise UserError(f"--masks file {path} does not exist") from None
        except (KeyError, ValueError, OSError) as e:
            raise UserError(f"--masks {path} must be an .npz with 'masks' (N, H, W) and 'class_names' ({e})") from None
        if masks.ndim != 3 or masks.shape[1:] != (h, w) or len(masks) < n:
            raise UserError(f"--masks has shape {masks.shape}; need ({n} or more, {h}, {w}) for "
                            f"--images {n} at the model's size")
        if not np.issubdtype(masks.dtype, np.integer) or masks.min() < 0 or masks.max() >= len(names):
            raise UserError(f"--masks must hold integer class ids in 0..{len(names) - 1}")
        return cls(str(path), masks[:n].astype(np.int64), names)


class Boxes(Instrument):
    """User boxes of one concept on annotated samples: ``boxes[i] = [(x0, y0, x1, y1), ...]``."""

    kind = "boxes"

    def __init__(self, path: str, concept: str, boxes: dict):
        super().__init__(f"boxes {path}", ("(rest)", concept), False, f"your boxes {path}")
        self.boxes = boxes
