"""Training configuration: the paper's recipe as defaults, validated on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import UserError

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model itself is a :class:`~gan_viz.config.ModelConfig`).

    ``batch_size`` is the global batch: under torchrun it is split evenly across the
    processes, so the recipe (128 per step, Adam 2e-4, beta1 0.5) does not change with
    the number of processes.
    """

    dataset: str = "rooms"
    data_root: str | None = None
    batch_size: int = 128  # paper: minibatch 128 (global, across processes)
    lr: float = 2e-4  # paper: Adam learning rate 0.0002
    beta1: float = 0.5  # paper: momentum term 0.5
    beta2: float = 0.999
    epochs: int | None = None  # stop after this many epochs ...
    max_steps: int | None = None  # ... or this many steps (whichever comes first)
    checkpoint_every: int = 500  # steps between numbered checkpoints (and last.pt)
    sample_every: int = 250  # steps between sample grids from a fixed z
    log_every: int = 10  # steps between metrics rows (the only host syncs)
    quality_every_epoch: bool = True  # sample-quality figures at each epoch end
    seed: int = 0
    precision: str = "fp32"  # "bf16" = autocast; only where the hardware has bf16
    dataset_size: int | None = None  # use only the first N training images
    data_cache_mb: int = 1024  # render rooms into memory once when they fit in this many MB (0: never)
    data_cache_dir: str | None = None  # decoded image files (folder, lsun, ...): None = ~/.cache/gan-viz/decoded
    data_cache: bool = True  # decode image files once into the cache (False: at every epoch)
    bad_images: str = "stop"  # image files: "stop" at an unreadable one, or "skip" it
    heldout_share: float = 0.05  # a folder: this share of its images is held out, never trained on (0: none)
    g_ema: float = 0.0  # > 0: also keep a moving average of G's weights with this decay (the G samples use)
    d_real_label: float = 1.0  # D's target on real images: < 1 is one-sided label smoothing (0.9 usual)

    def __post_init__(self):
        for name in ("batch_size", "checkpoint_every", "sample_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise UserError(f"--{name.replace('_', '-')} {v!r} must be a positive integer")
        if not isinstance(self.data_cache_mb, int) or self.data_cache_mb < 0:
            raise UserError(f"--data-cache-mb {self.data_cache_mb!r} must be an integer >= 0")
        for name in ("epochs", "max_steps", "dataset_size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise UserError(f"--{name.replace('_', '-')} {v!r} must be a positive integer")
        if self.lr <= 0 or not 0 <= self.beta1 < 1 or not 0 <= self.beta2 < 1:
            raise UserError("--lr must be > 0 and the Adam betas in [0, 1)")
        if self.bad_images not in ("stop", "skip"):
            raise UserError(f"--bad-images {self.bad_images!r}: choose stop or skip")
        if not isinstance(self.heldout_share, (int, float)) or not 0 <= self.heldout_share < 1:
            raise UserError(f"--heldout-share {self.heldout_share!r} must be in [0, 1); 0 trains on every image")
        if not isinstance(self.g_ema, (int, float)) or not 0 <= self.g_ema < 1:
            raise UserError(f"--g-ema {self.g_ema!r} must be in [0, 1) (0: no average; 0.999 is usual)")
        if not isinstance(self.d_real_label, (int, float)) or not 0.5 < self.d_real_label <= 1:
            raise UserError(f"--d-real-label {self.d_real_label!r} must be in (0.5, 1] (1: the paper; 0.9: one-sided "
                            "label smoothing)")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.epochs is None and self.max_steps is None:
            raise UserError("say how long to train: --epochs N or --max-steps N")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
