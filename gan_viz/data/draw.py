"""Random items of a dataset, drawn reproducibly: the real images an analysis sets beside generated ones.

Shared by ``checkerboard`` (real spectra) and ``filters`` (real images added to D's inputs).
"""

from __future__ import annotations

import numpy as np
import torch


def random_items(ds, n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """(images (M, C, H, W) float32, their indices (M,) in increasing order) of ``M = min(n, len(ds))``
    items drawn without replacement by ``numpy.random.default_rng(seed)``; read through the dataset's
    ``get_batch`` where it has one."""
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    x = ds.get_batch(idx) if hasattr(ds, "get_batch") else torch.stack([ds[int(i)][0] for i in idx])
    return x.float(), idx
