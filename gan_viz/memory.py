"""Memory for a request, sized before the work starts.

Every count option (images, samples, points, draws...) decides how much an analysis holds
in memory at once. :func:`require` compares an estimate with what this machine (or its
container's memory limit) has available and refuses, in one line naming the option and the
largest value that fits, what cannot fit: an allocator's traceback half-way through a run is
never the answer.

``GAN_VIZ_MEMORY_MB`` overrides the available memory (a shared machine, a test).

>>> require("--images", 10, per_unit=1e6, what="activations", available=1e9)
>>> try:
...     require("--images", 10_000, per_unit=1e6, what="activations", available=1e9)
... except Exception as e:
...     print(str(e)[:60])
--images 10000 needs about 10.0 GB of memory for activations
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

SHARE = 0.8  # of the available memory a request may plan to use (the rest: Python, torch, the OS)
FLOAT = 4  # bytes of a float32
ENV = "GAN_VIZ_MEMORY_MB"


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup (v2) memory limit, or None without one."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Memory a new allocation can use: ``GAN_VIZ_MEMORY_MB`` if set, else the smaller of the
    kernel's MemAvailable and the room under a container's limit."""
    env = os.environ.get(ENV)
    if env:
        try:
            return int(float(env) * 2 ** 20)
        except ValueError:
            raise UserError(f"{ENV}={env!r} is not a number of megabytes") from None
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    room = _cgroup_room()
    if room is not None:
        found.append(room)
    if not found:  # not Linux: the physical memory
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    return min(found)


def _gb(b: float) -> str:
    return f"{b / 1e9:.1f} GB" if b >= 1e8 else f"{b / 1e6:.0f} MB"


def require(option: str, value: int, per_unit: float, what: str, fixed: float = 0.0,
            available: float | None = None) -> None:
    """Refuse ``option`` = ``value`` when ``fixed + value * per_unit`` bytes exceed the share of
    available memory a request may use; the message names the largest value that fits."""
    need = fixed + value * per_unit
    room = (available_bytes() if available is None else available) * SHARE
    if need <= room:
        return
    largest = int((room - fixed) // per_unit) if per_unit > 0 and room > fixed else 0
    fix = f"the largest {option} that fits is {largest}" if largest >= 1 else \
        "even one does not fit; free memory or use a machine with more"
    raise UserError(f"{option} {value} needs about {_gb(need)} of memory for {what}, and {_gb(room)} are "
                    f"usable here; {fix}")


def image_bytes(shape) -> int:
    """Bytes of one float32 image of ``shape`` (C, H, W)."""
    n = FLOAT
    for s in shape:
        n *= int(s)
    return n


def layer_bytes(net, layers, x, call=None) -> int:
    """Bytes (float32) of the outputs of ``layers`` of ``net`` for the one input ``x`` (batch 1):
    what capturing them costs per item."""
    import torch

    from .hooks import capture
    from .sources import evaluating

    with torch.no_grad(), evaluating(net), capture(net, list(layers)) as acts:
        (call or net)(x)
        return sum(FLOAT * a[0].numel() for a in acts.values() if isinstance(a, torch.Tensor))


def release() -> bool:
    """Hand freed memory back to the OS: collect cycles, then (glibc) trim the allocator's free
    pools, which otherwise keep a finished step's peak resident for the rest of the process
    (the report's sections one after another: each started on the last one's high water).
    Returns whether the allocator was trimmed (False off glibc)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0)) if name else False
    except (OSError, AttributeError):
        return False
