"""ClassifyResult -> summary.json's figures of merit, arrays.npz's arrays and the report's caption."""

from __future__ import annotations

import numpy as np

from gan_viz.data.labelled import notes_lead

from .compute import ClassifyResult


def summary_of(r: ClassifyResult) -> dict:
    """Figures of merit: accuracy (mean, 1.96 std, per draw) of each feature set."""
    sets = {}
    for s, name in enumerate(r.feature_sets):
        sets[name] = {"accuracy_mean": float(r.mean[s]), "accuracy_ci95": float(r.ci95[s]),
                      "error_mean": float(1 - r.mean[s]), "accuracy_per_draw": r.accuracy[s].tolist(),
                      "balanced_accuracy_mean": float(r.balanced_mean[s]),
                      "balanced_accuracy_ci95": float(r.balanced_ci95[s]),
                      "val_accuracy_mean": float(r.val_accuracy[s].mean()), "dims": r.dims[s],
                      "chosen_C": r.chosen_C[s].tolist()}
    return {"feature_sets": sets, "chance_accuracy": r.chance, "chance_balanced_accuracy": r.balanced_chance,
            "draws": len(r.protocol.draws), "labels_per_draw": int(r.protocol.draws.shape[1]),
            "class_balanced": r.protocol.balanced,
            "validation_images": len(r.protocol.val), "test_images": int(r.test_counts.sum()),
            "C_grid": list(r.C_grid), "svm_fits_not_converged": r.unconverged,
            "interval": "mean +- 1.96 std over draws"}


def arrays_of(r: ClassifyResult) -> dict:
    """The result's arrays for arrays.npz (accuracies per set and draw, the protocol's positions)."""
    return {"accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "val_accuracy": r.val_accuracy,
            "chosen_C": r.chosen_C,
            "val_positions": r.protocol.val, "draw_positions": r.protocol.draws, "C_grid": np.array(r.C_grid),
            "feature_sets": np.array(r.feature_sets), "dims": np.array(r.dims), "test_counts": r.test_counts}


def caption(s: dict) -> str:
    """The report's caption: test accuracy of each feature set against chance."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    sets = s.get("feature_sets") or {}
    def ci(v):
        c = v.get("accuracy_ci95")
        return "" if c is None or (s.get("draws") or 1) < 2 else f" +- {100 * c:.1f}"

    def chosen(v):
        cs = v.get("chosen_C") or []
        return f", C {'/'.join(f'{c:g}' for c in cs)}" if cs else ""
    accs = "; ".join(f"{n.replace('_', ' ')} {pct(v.get('accuracy_mean'))}{ci(v)} (balanced "
                     f"{pct(v.get('balanced_accuracy_mean'))}, {v.get('dims')} dims{chosen(v)})"
                     for n, v in sets.items())
    return notes_lead(s) + (f"The discriminator as a feature extractor on {s.get('dataset')} ({s.get('attribute') or 'default label'}, "
            f"{len(s.get('classes') or [])} classes): D layers {s.get('layers')} max-pooled to "
            f"{s.get('pool')}x{s.get('pool')}, linear L2-SVM on {s.get('labels_per_draw')} labels x "
            f"{s.get('draws')} draw(s), C chosen per draw on {s.get('validation_images')} validation images from "
            f"{s.get('C_grid')}, {s.get('test_images')} test images. Test accuracy (mean +- 1.96 std over draws): "
            f"{accs}; chance "
            f"{pct(s.get('chance_accuracy'))} (balanced {pct(s.get('chance_balanced_accuracy'))}).")


def line(s: dict) -> str:
    """What ``gan-viz classify`` prints of a summary (before the output folder)."""
    row = ", ".join(f"{n} {100 * v['accuracy_mean']:.1f} +- {100 * v['accuracy_ci95']:.1f}% (balanced "
                    f"{100 * v['balanced_accuracy_mean']:.1f})" for n, v in s["feature_sets"].items())
    return (f"classify {s['dataset']} ({s['labels_per_draw']} labels x {s['draws']} draws): {row}; "
            f"chance {100 * s['chance_accuracy']:.1f}%")
