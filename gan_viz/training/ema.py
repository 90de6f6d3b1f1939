"""An exponential moving average of G's weights (``--g-ema DECAY``), the generator a run ships.

The paper's recipe trains G and D as it says; the average is a copy of G kept beside it and
never trained: after every G step ``w_ema <- decay * w_ema + (1 - decay) * w``. Averaging the
iterates of an oscillating GAN game cancels much of the oscillation (Yazici et al. 2019, "The
Unusual Effectiveness of Averaging in GAN Training"; StyleGAN's ``G_ema``). The averaged
weights never saw the live G's BatchNorm statistics, so before the average is sampled its
statistics are recomputed: G_ema in train mode with a cumulative average over ``BN_BATCHES``
batches of a fixed z (deterministic: the same weights give the same statistics, so a resumed run
stays bit-identical).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..config import ModelConfig
from ..models import sample_z

BN_BATCHES, BN_BATCH = 8, 128


class GeneratorEMA:
    """The moving average of ``G``'s parameters; buffers are recomputed by :meth:`calibrated`."""

    def __init__(self, G: nn.Module, decay: float):
        self.decay = float(decay)
        self.G = copy.deepcopy(G).eval()
        for p in self.G.parameters():
            p.requires_grad_(False)
        self._fresh = False

    @torch.no_grad()
    def update(self, G: nn.Module) -> None:
        mine = list(self.G.parameters())
        torch._foreach_lerp_(mine, [p.detach() for p in G.parameters()], 1.0 - self.decay)
        self._fresh = False

    @torch.no_grad()
    def calibrated(self, mcfg: ModelConfig, seed: int) -> nn.Module:
        """G_ema with BatchNorm statistics recomputed for its own weights (eval mode)."""
        if self._fresh:
            return self.G
        bns = [m for m in self.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if bns:
            saved = [m.momentum for m in bns]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
            self.G.train()
            gen = torch.Generator().manual_seed(seed)
            device = next(self.G.parameters()).device
            for _ in range(BN_BATCHES):
                self.G(sample_z(mcfg, BN_BATCH, gen, device))
            for m, mom in zip(bns, saved):
                m.momentum = mom
        self.G.eval()
        self._fresh = True
        return self.G

    def state_dict(self) -> dict:
        return {k: v.detach().clone() for k, v in self.G.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state)
        self._fresh = False
