"""ModesResult -> figures: the class histogram and the samples by class (the only matplotlib import)."""

from __future__ import annotations

import numpy as np

from .compute import ModesResult


def plot_histogram(r: ModesResult, title: str = "", ax=None):
    """Bars: share of each class among samples and real images; uncovered classes marked."""
    import matplotlib.pyplot as plt

    k = len(r.classes)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(max(5, 0.6 * k + 2), 3.2))
    x = np.arange(k)
    from matplotlib.patches import Patch

    cov = r.covered_corrected
    ax.bar(x - 0.27, 100 * r.real_true_share, 0.26, color="#a0a0a0")
    ax.bar(x, 100 * r.gen_share, 0.26, color="#c9d6ea")
    ax.bar(x + 0.27, 100 * r.corrected_share, 0.26, color=np.where(cov, "#3b6fb6", "#d04040"))
    for i in np.flatnonzero(~cov):
        ax.text(i + 0.27, 100 * r.corrected_share[i] + 0.5, "missing", rotation=90, ha="center", va="bottom",
                fontsize=7, color="#d04040")
    ax.set_xticks(x, r.classes, fontsize=8)
    ax.set_ylabel("share (%)")
    state = "COLLAPSED" if r.collapsed else "all covered"
    ax.set_title(title or f"modes covered {int(cov.sum())}/{k} ({state}; uncorrected {int(r.covered.sum())}); "
                 f"KL(real||gen) {r.kl_real_gen_corrected:.3f}; classifier acc {100 * r.test_accuracy:.1f}%"
                 + (" [warning]" if r.warnings else ""), fontsize=9)
    ax.legend(handles=[Patch(color="#a0a0a0", label="held-out real (true labels)"),
                       Patch(color="#c9d6ea", label="generated, as classified"),
                       Patch(color="#3b6fb6", label="generated, corrected for confusion: covered"),
                       Patch(color="#d04040", label="corrected: not covered")], fontsize=7)
    return fig


def plot_by_class(r: ModesResult, images: np.ndarray, per_class: int = 8):
    """Samples grouped by predicted class, one row per class (most confident first).

    Args:
        images: (N, H, W, 3) uint8 generated images, aligned with ``r.probs``.
    """
    import matplotlib.pyplot as plt

    k = len(r.classes)
    pred, conf = r.probs.argmax(1), r.probs.max(1)
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 0.8, k * 0.8 + 0.3), squeeze=False)
    for c in range(k):
        members = np.flatnonzero(pred == c)
        members = members[np.argsort(-conf[members])][:per_class]
        for j, ax in enumerate(axes[c]):
            ax.set_axis_off()
            if j < len(members):
                ax.imshow(images[members[j]], interpolation="nearest")
        axes[c, 0].text(-0.15, 0.5, f"{r.classes[c]} ({r.gen_counts[c]})", transform=axes[c, 0].transAxes,
                        ha="right", va="center", fontsize=7)
    fig.suptitle("generated samples by predicted class (count)", fontsize=9)
    return fig
