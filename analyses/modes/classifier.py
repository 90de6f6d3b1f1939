"""The mode-coverage classifier: a small CNN trained here, in seconds, on the labelled real images.

Example:
    >>> clf = train_classifier(train.images, train.labels, 10, seed=0)
    >>> predict_proba(clf, images).shape  # (N, 10)
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.sources import evaluating


class SmallCNN(nn.Sequential):
    """(N, nc, S, S) in [-1, 1] -> class logits (N, K); S >= 8."""

    def __init__(self, nc: int, n_classes: int, width: int = 32):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(nc, width, 3, 1, 1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(width, 2 * width, 3, 1, 1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
            ("avg", nn.AdaptiveAvgPool2d(4)), ("flatten", nn.Flatten()), ("drop", nn.Dropout(0.25)),
            ("fc1", nn.Linear(2 * width * 16, 128)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(128, n_classes))]))


@torch.no_grad()
def predict_proba(clf: nn.Module, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """(N, C, H, W) -> (N, K) class probabilities (eval mode)."""
    with evaluating(clf):
        return torch.cat([F.softmax(clf(images[s:s + batch_size]).float(), 1)
                          for s in range(0, len(images), batch_size)]).numpy()


def train_classifier(images: torch.Tensor, labels: np.ndarray, n_classes: int, epochs: int = 8,
                     seed: int = 0, batch_size: int = 64, lr: float = 1e-3) -> nn.Module:
    """Train :class:`SmallCNN` with Adam and random 1-pixel shifts; deterministic in ``seed``.

    Args:
        images: (N, C, H, W) in [-1, 1]. labels: (N,) ints in 0..n_classes-1.
    Returns:
        the trained classifier, in eval mode.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # weight init and dropout draw from the global generator
    clf = SmallCNN(images.shape[1], n_classes)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    y = torch.as_tensor(labels, dtype=torch.long)
    clf.train()
    for _ in tqdm(range(epochs), desc="train mode classifier", unit="epoch", leave=False):
        order = torch.randperm(len(y), generator=g)
        for s in range(0, len(y), batch_size):
            idx = order[s:s + batch_size]
            dx, dy = torch.randint(-1, 2, (2,), generator=g).tolist()
            x = torch.roll(images[idx], shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(clf(x), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()
