"""torchrun / DistributedDataParallel plumbing (gloo on CPU, nccl on GPU).

Launched as ``torchrun --nproc_per_node N -m gan_viz train ...``: every process trains
on its share of each global batch, gradients are averaged by DDP, and only rank 0
writes outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment (no-op otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def teardown(info: DistInfo, finished: bool = True) -> None:
    """Leave the group together: without the barrier a process that finished early tore
    its gloo connections down while rank 0 still wrote its last files, and aborted
    ("terminate called without an active exception") in about one run in six."""
    if info.enabled and dist.is_initialized():
        try:
            if finished:  # after an error a peer may never arrive
                dist.barrier()
        finally:
            dist.destroy_process_group()


def mean_across(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over processes (for logging)."""
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world
    return t


def any_across(flag: bool, info: DistInfo, device: torch.device | str = "cpu") -> bool:
    """True when ``flag`` is true on any process (so all stop together)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
