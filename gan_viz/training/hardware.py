"""What the hardware can do fast (bf16 is 300x slower on CPUs without it)."""

from __future__ import annotations

import sys
from functools import lru_cache

import torch


@lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def check_precision(precision: str, device: torch.device) -> None:
    """Warn (never silently slow) when bf16 is asked for on hardware that emulates it."""
    if precision != "bf16":
        return
    if device.type == "cpu" and not cpu_has_bf16():
        sys.stderr.write("gan-viz: warning: this CPU has no native bf16 (capability "
                         f"{torch.backends.cpu.get_cpu_capability()}); bf16 autocast will be far slower than fp32\n")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        sys.stderr.write("gan-viz: warning: this GPU does not support bf16 natively\n")
