"""AuditResult -> figures, and the labels table (``labels.md``): display only, no compute (the
package's only matplotlib import). ``gan_viz.reports.filter_audit`` re-exports them for the report."""

from __future__ import annotations

import numpy as np

from gan_viz.images import grid, to_uint8

from .dissect import LIFT_THRESHOLD, PRECISION_THRESHOLD

COLORS = {"trained": "tab:red", "random": "tab:blue"}


def _dissected(result) -> list[str]:
    names = []
    for a in result.audits:
        if a.labels is not None and a.name not in names:
            names.append(a.name)
    return names


def _get(result, name: str, network: str):
    return next(a for a in result.audits if a.name == name and a.network == network)


def _fallback(fig, result, top: float = 0.9) -> float:
    """Where D saw generated images in place of real ones, say so above the figure; returns the
    top of the area left for the axes (1.0 when nothing was said)."""
    if not getattr(result, "fallback", ""):
        return 1.0
    fig.text(0.5, 0.995, f"D on GENERATED images, not real ones: {result.fallback}", ha="center", va="top",
             fontsize=7, color="darkred", wrap=True)
    return top


def _labels(audit, kind: str) -> np.ndarray:
    return audit.labels if kind == "iou" else audit.precision_labels


def plot_label_counts(result, kind: str = "iou", tag: str = ""):
    """Per dissected layer: how many filters detect each class, trained vs random (bar charts).

    Args:
        kind: "iou" (Network Dissection labels) or "precision" (labels by mask precision and lift).
    """
    import matplotlib.pyplot as plt

    names, classes = _dissected(result), result.class_names
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.6), squeeze=False)
    x = np.arange(len(classes))
    for ax, name in zip(axes.flat, names):
        for off, network in ((-0.2, "random"), (0.2, "trained")):
            labels = _labels(_get(result, name, network), kind)
            counts = [(labels == i).sum() for i in range(len(classes))]
            ax.bar(x + off, counts, 0.4, color=COLORS[network],
                   label=f"{network} ({(labels >= 0).sum()}/{len(labels)} labelled)")
        ax.set_xticks(x)
        ax.set_xticklabels(classes, rotation=60, fontsize=6)
        ax.set_title(name, fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    rule = (f"Network Dissection IoU >= {result.iou_threshold}" if kind == "iou" else
            f">= {PRECISION_THRESHOLD:.0%} of the mask on the class and >= {LIFT_THRESHOLD:g}x its pixel share")
    top = _fallback(fig, result, 0.88)
    fig.suptitle(f"{tag + ' ' if tag else ''}Filters labelled by {rule} (mask: top {result.top_fraction:.0%} of "
                 f"activations, {result.n_images} images)", fontsize=9, y=0.96 if top < 1 else 0.98,
                 color="darkred" if "FORCED" in tag else "black")
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def plot_selectivity(result):
    """Per layer: median and interquartile range of selectivity and active fraction, trained vs random."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(a.name for a in result.audits))
    fig, axes = plt.subplots(1, 2, figsize=(max(7, 1.1 * len(names) + 3), 3.2))
    x = np.arange(len(names))
    for ax, field, title in ((axes[0], "selectivity", "selectivity over images (Treves-Rolls; 1 = one image)"),
                             (axes[1], "active_fraction", "share of positions with a positive response")):
        for off, network in ((-0.12, "random"), (0.12, "trained")):
            vals = [getattr(_get(result, n, network), field) for n in names]
            med = np.array([np.median(v) for v in vals])
            lo = med - np.array([np.percentile(v, 25) for v in vals])
            hi = np.array([np.percentile(v, 75) for v in vals]) - med
            ax.errorbar(x + off, med, yerr=[lo, hi], fmt="o", color=COLORS[network], label=network, capsize=3)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, _fallback(fig, result, 0.88)))
    return fig


def _filter_tiles(w: np.ndarray, size: int = 16) -> np.ndarray:
    """(F, k, k, nc) weights -> (F, size, size, 3) uint8, each filter min-max scaled to its own range."""
    lo = w.reshape(len(w), -1).min(1)[:, None, None, None]
    hi = w.reshape(len(w), -1).max(1)[:, None, None, None]
    v = (w - lo) / np.maximum(hi - lo, 1e-30)
    v = np.repeat(v, 3, -1) if v.shape[-1] == 1 else v
    rep = max(1, size // w.shape[1])
    return (np.kron(v, np.ones((1, rep, rep, 1))) * 255 + 0.5).astype(np.uint8)


def plot_first_layer(result):
    """The filters that touch pixels (D's first conv, G's last), random left, trained right."""
    import matplotlib.pyplot as plt

    nets = list(result.first_layer)
    fig, axes = plt.subplots(len(nets), 2, figsize=(8, 4 * len(nets)), squeeze=False)
    for row, net in zip(axes, nets):
        for ax, network in zip(row, ("random", "trained")):
            w = result.first_layer[net][network]
            ax.imshow(grid(_filter_tiles(w), nrow=int(np.ceil(np.sqrt(len(w)))), pad=1))
            ax.axis("off")
            which = (getattr(result, "first_layer_words", None) or {}).get(
                net, "first conv" if net == "D" else "last conv")
            ax.set_title(f"{network} {net}: {which}, {len(w)} filters {w.shape[1]}x{w.shape[2]}", fontsize=8)
    fig.text(0.5, 0.005, "each filter min-max scaled to its own range", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def plot_top_strips(result, layer: str):
    """Top images of the first filters of D's last audited layer, random left, trained right."""
    import matplotlib.pyplot as plt

    some = result.strips["trained"]
    f, k = some.shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.75 * k + 0.4), 0.75 * f + 1), squeeze=False)
    for ax, network in zip(axes[0], ("random", "trained")):
        s = result.strips[network]
        ax.imshow(grid(to_uint8(s.reshape(-1, *s.shape[2:])), nrow=k, pad=2))
        h = s.shape[-1]
        ax.set_xticks([])
        ax.set_yticks([2 + r * (h + 2) + h / 2 for r in range(f)])
        ax.set_yticklabels([f"filter {i}" for i in range(f)], fontsize=7)
        ax.set_title(f"{network} D.{layer}: top {k} of {result.n_images} images", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, _fallback(fig, result, 0.9)))
    return fig


def labels_table(result) -> str:
    """Markdown: filters per class label, per dissected layer, trained / random; IoU and precision labels."""
    names = _dissected(result)
    parts = []
    for kind, title in (("iou", f"Network Dissection labels (IoU >= {result.iou_threshold})"),
                        ("precision", f"Precision labels (>= {PRECISION_THRESHOLD:.0%} of the mask on the class, "
                                      f">= {LIFT_THRESHOLD:g}x its pixel share)")):
        lines = [f"### {title}", "", "| class | " + " | ".join(f"{n} trained / random" for n in names) + " |",
                 "|" + "---|" * (len(names) + 1)]
        for i, c in enumerate(list(result.class_names) + ["(none)"]):
            cid = i if i < len(result.class_names) else -1
            cells = [" / ".join(str(int((_labels(_get(result, n, net), kind) == cid).sum()))
                                for net in ("trained", "random")) for n in names]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
