"""CIFAR-10's python batches, read without running code from them.

The batches (``data_batch_1..5``, ``test_batch``, ``batches.meta``) are pickles: dicts of
str / bytes / int lists and one uint8 ndarray. A pickle may name any importable callable,
so a file planted under ``--data-root`` as ``data_batch_1`` would run it when loaded.
:func:`read_batch` and :func:`read_meta` unpickle with :class:`CifarUnpickler`, which
admits only the globals that rebuild numpy arrays and dtypes (Python 2 and 3 pickles, any
protocol), then check the layout. Anything else is refused with one line (exit 2),
before a single object is built from the forbidden name.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import UserError

# (module, name) a CIFAR-10 batch may reference: ndarray / dtype reconstruction, and the
# latin-1 bytes encoding Python 3 writes for bytes at protocol 2
ALLOWED = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),  # numpy ints in a re-pack
    ("_codecs", "encode"),
})
CANONICAL = "replace it with the file from the canonical cifar-10-python.tar.gz (or pass --download)"


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle named a global outside :data:`ALLOWED`."""


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED` globals (every other raises at once)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise ForbiddenGlobal(f"{module}.{name}")
        return super().find_class(module, name)


def _load(path: Path) -> dict:
    """The dict a CIFAR file pickles, its keys as str. Raises :class:`UserError` (one line)."""
    try:
        with open(path, "rb") as f:
            obj = CifarUnpickler(f, encoding="latin1").load()
    except ForbiddenGlobal as e:
        raise UserError(f"cifar10 file {path} is not a CIFAR-10 batch: it names {e}, which the format never "
                        f"needs, so it was not unpickled; {CANONICAL}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError) as e:
        raise UserError(f"cifar10 file {path} is unreadable ({type(e).__name__}: {e}); {CANONICAL}") from None
    if not isinstance(obj, dict):
        raise UserError(f"cifar10 file {path} holds a {type(obj).__name__}, not the dict of a CIFAR-10 batch; "
                        f"{CANONICAL}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_batch(path) -> tuple[np.ndarray, list[int]]:
    """One batch file: (images (N, 32, 32, 3) uint8 HWC, labels N ints in 0..9)."""
    path = Path(path)
    d = _load(path)
    data, labels = d.get("data"), d.get("labels", d.get("fine_labels"))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"cifar10 file {path}: 'data' must be a uint8 array (N, 3072), got {got}; {CANONICAL}")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(y, (int, np.integer)) and 0 <= y < 10 for y in labels)):
        raise UserError(f"cifar10 file {path}: 'labels' must be {len(data)} ints in 0..9; {CANONICAL}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), [int(y) for y in labels]


def read_meta(path) -> list[str]:
    """``batches.meta``: the 10 class names."""
    path = Path(path)
    names = _load(path).get("label_names")
    if not (isinstance(names, list) and len(names) == 10 and all(isinstance(n, (str, bytes)) for n in names)):
        raise UserError(f"cifar10 file {path}: 'label_names' must be 10 names; {CANONICAL}")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
