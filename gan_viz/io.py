"""Atomic output writing: a crash or a bad input never leaves a half-written file.

Every writer goes through :func:`atomic_path`: the data is written to a temporary
file in the same folder, flushed to the disk (``fsync``) and renamed over the target
only once complete, and the folder is synced after the rename: after a power cut the
target holds the old file or the new one, never an empty or partial one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        _fsync(tmp)  # the data on disk before the name points at it
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the rename itself (folders cannot be opened everywhere)
            _fsync(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``Path(path).write_text(text)``, atomically (e.g. a log)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``Path(path).write_bytes(data)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    return Path(path)


MAX_FIGURE_PIXELS = 25e6  # a figure of hundreds of rows (e.g. --filters all) is saved at a lower dpi


def save_figure(fig, out_dir: str | os.PathLike, name: str, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``name.png`` and ``name.pdf`` in ``out_dir``; closes the figure.

    The dpi is lowered where the figure would exceed ``MAX_FIGURE_PIXELS`` (a 256-filter
    Fig. 5 is 14 x 193 inches: 62 megapixels at 150 dpi, 25 s to save as PNG and PDF).
    On Linux the PDF is drawn by a forked copy of this process while this one draws the PNG
    (:func:`_fork_save`): drawing is single-threaded and the two take about as long, so on
    2 cores the pair takes about half the time (the report's 93 figure files: 15 s -> 8 s).
    A copy that fails leaves nothing behind and the PDF is drawn here instead. Inside
    :func:`deferred_figures` this process does not wait for the copy: the PDF is complete when
    the block ends.
    """
    import matplotlib.pyplot as plt

    w, h = fig.get_size_inches()
    dpi = max(1, min(dpi, int((MAX_FIGURE_PIXELS / (w * h)) ** 0.5)))
    png, pdf = (Path(out_dir) / f"{name}.{ext}" for ext in ("png", "pdf"))
    child = _fork_save(fig, pdf, dpi)
    t0 = time.monotonic()
    try:
        _save_one(fig, png, dpi)
    except BaseException:
        if child is not None:
            _reaped(child, pdf, CHILD_GRACE)
        plt.close(fig)
        raise
    pending, blocks = _Pending(child, fig, pdf, dpi, time.monotonic() - t0), _blocks()
    if child is None or not blocks:
        _finish(pending)  # waits for the child (if any), draws the PDF here where it did not, closes fig
    else:
        blocks[-1].append(pending)
        if len(blocks[-1]) > MAX_PENDING:
            _finish(blocks[-1].pop(0))
    return [png, pdf]


@dataclass
class _Pending:
    """A figure whose PDF a child (``pid``, or None: no child) may still be drawing; the figure stays
    open until :func:`_finish`, which draws the PDF here if the child did not."""

    pid: int | None
    fig: Any
    pdf: Path
    dpi: int
    png_seconds: float


MAX_PENDING = 8  # figures kept open while their PDF children draw, per deferred_figures block
_LOCAL = threading.local()  # .blocks: one list of _Pending per open deferred_figures block of this thread


def _blocks() -> list[list[_Pending]]:
    if not hasattr(_LOCAL, "blocks"):
        _LOCAL.blocks = []
    return _LOCAL.blocks


def _finish(p: _Pending) -> None:
    """Wait for ``p``'s child (at most CHILD_GRACE + 4x its PNG's time, then it is stopped); where it
    did not save the PDF, draw it here. Closes the figure."""
    import matplotlib.pyplot as plt

    try:
        done = p.pid is not None and _reaped(p.pid, p.pdf, CHILD_GRACE + 4 * p.png_seconds)
        if not done:
            _save_one(p.fig, p.pdf, p.dpi)
    finally:
        plt.close(p.fig)


@contextlib.contextmanager
def deferred_figures() -> Iterator[None]:
    """Within the block :func:`save_figure` returns once its PNG is written and the PDF's child goes on
    drawing beside this process's next work; at the block's end (also on an error) every PDF begun in it
    is complete, drawn here where its child failed. On 2 cores this overlaps the PDFs with the next
    computation: the report on the 32x32 model 65 -> 58-61 s (2 AVX2 cores; 64x64 within noise).
    Blocks nest (per thread); each finishes its own figures."""
    blocks = _blocks()
    blocks.append([])
    try:
        yield
    finally:
        pending = blocks.pop()
        errors = []
        for p in pending:
            try:
                _finish(p)
            except Exception as e:  # noqa: BLE001 - finish the others, then raise the first
                errors.append(e)
        if errors:
            raise errors[0]


def _save_one(fig, target: Path, dpi: int) -> None:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=target.suffix[1:])


CHILD_GRACE = 20.0  # seconds a figure's PDF child may take beyond 4x its PNG before it is stopped
FORK_FIGURES = sys.platform.startswith("linux") and os.environ.get("GAN_VIZ_FORK_FIGURES", "1") != "0"


def _fork_save(fig, target: Path, dpi: int) -> int | None:
    """Save ``fig`` to ``target`` in a forked child; its pid, or None where there is no child (not
    Linux, ``GAN_VIZ_FORK_FIGURES=0``, or the fork failed). The child only draws with matplotlib and
    leaves by ``os._exit`` (no atexit handlers, no flushing of this process's buffers)."""
    if not FORK_FIGURES:
        return None
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child
        code = 1
        try:
            _save_one(fig, target, dpi)
            code = 0
        finally:
            os._exit(code)
    return pid


def _reaped(pid: int, target: Path, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the child ``pid`` of :func:`_fork_save` saving ``target``;
    True when it saved it. A child still running then (e.g. one forked while another thread held a
    lock it needs) is killed and its temporary file removed."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) == 0
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
    for tmp in target.parent.glob(f".{target.name}.*"):  # atomic_path's temporary, never renamed
        tmp.unlink(missing_ok=True)
    return False


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 RGB array as PNG."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]  # RGB -> BGR for OpenCV
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image)):
            raise OSError(f"could not write {path}")
    return Path(path)


def run_record(command: str, **fields: Any) -> dict:
    """What every output folder stores about how it was made."""
    from . import __version__

    return {"command": command, "argv": sys.argv, "gan_viz_version": __version__, **fields}
