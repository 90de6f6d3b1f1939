"""EvaluateResult -> figures (the only matplotlib import of the analysis)."""

from __future__ import annotations

from gan_viz.metrics import METRICS

from .compute import EvaluateResult

NAMES = {"frechet": "Frechet distance", "kid": "KID", "precision": "precision (k=3)", "recall": "recall (k=3)",
         "density": "density (k=5)", "coverage": "coverage (k=5)"}


def _bar(ax, rows: list[tuple[str, dict, str]]) -> None:
    for y, (label, e, color) in enumerate(rows):
        v = e["value"]
        err = None if e.get("low") is None else [[v - e["low"]], [e["high"] - v]]
        ax.errorbar([v], [y], xerr=err, fmt="o", color=color, capsize=3, ms=5)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", lw=0.3, color="0.8")


def plot_evaluate(r: EvaluateResult):
    """One row per feature space, one panel per metric: the model and the real-vs-real control at equal N."""
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if any(m in r.model[s] for s in r.spaces)]
    fig, axes = plt.subplots(len(r.spaces), len(metrics), figsize=(2.4 * len(metrics), 1.5 + 1.1 * len(r.spaces)),
                             squeeze=False)
    for i, space in enumerate(r.spaces):
        for j, m in enumerate(metrics):
            ax = axes[i][j]
            if m not in r.model[space]:
                ax.axis("off")
                continue
            _bar(ax, [("model vs real", r.model[space][m], "tab:red"),
                      ("real vs real", r.control[space][m], "tab:gray")])
            ax.set_title(f"{NAMES[m]}" if i == 0 else "", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{space}\n(F={r.dims[space]})", fontsize=8)
            else:
                ax.set_yticklabels([])
    level = r.options.get("level", 0.95)
    fig.suptitle(f"Generated vs real, N={r.n} per set; control: two disjoint real sets of N ({level:.0%} bootstrap "
                 "intervals)", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {"evaluate_metrics": plot_evaluate}
