"""The walk as a video: nearest-neighbour enlarged frames, an endlessly looping GIF (Pillow) and an MP4 (OpenCV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_viz.errors import UserError
from gan_viz.images import to_uint8


def video_frames(frames: np.ndarray, scale: int) -> np.ndarray:
    """(F, C, H, W) in [-1, 1] -> (F, H*scale, W*scale, 3) uint8 RGB, nearest-neighbour enlarged."""
    pics = to_uint8(frames)
    return pics.repeat(scale, axis=1).repeat(scale, axis=2)


def write_gif(path: str | Path, pics: np.ndarray, fps: float) -> Path:
    """An endlessly looping GIF of (F, H, W, 3) uint8 frames (Pillow)."""
    from PIL import Image

    from gan_viz.io import atomic_path

    images = [Image.fromarray(p) for p in pics]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0, optimize=False)
    return Path(path)


def write_mp4(path: str | Path, pics: np.ndarray, fps: float, fourcc: str = "mp4v") -> Path:
    """An MP4 of (F, H, W, 3) uint8 RGB frames through OpenCV's VideoWriter (MPEG-4 part 2)."""
    import cv2

    from gan_viz.io import atomic_path

    h, w = pics.shape[1:3]
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
        if not writer.isOpened():
            raise UserError(f"OpenCV cannot write {fourcc} video here; use the GIF (or --no-video)")
        try:
            for p in pics:
                writer.write(np.ascontiguousarray(p[:, :, ::-1]))  # RGB -> BGR
        finally:
            writer.release()
    return Path(path)
