"""ModesResult -> summary.json's figures of merit, arrays.npz's arrays and the report's caption."""

from __future__ import annotations

import numpy as np

from gan_viz.data.labelled import notes_lead

from .compute import PSEUDO_COUNT, ModesResult


def summary_of(r: ModesResult) -> dict:
    """Figures of merit: modes covered, missing, KL both ways, collapse, classifier quality."""
    missing = [c for c, ok in zip(r.classes, r.covered_corrected) if not ok]
    top = [i for i in np.argsort(-r.gen_counts, kind="stable")[:3] if r.gen_counts[i] > 0]
    return {"classes": list(r.classes), "n_classes": len(r.classes),
            "modes_covered": int(r.covered_corrected.sum()), "missing_modes": missing, "collapsed": r.collapsed,
            "modes_covered_uncorrected": int(r.covered.sum()),
            "missing_modes_uncorrected": [c for c, ok in zip(r.classes, r.covered) if not ok],
            "generated_share_corrected": dict(zip(r.classes, r.corrected_share.tolist())),
            "kl_real_to_generated_corrected": r.kl_real_gen_corrected,
            "classifier_recall": dict(zip(r.classes, r.recall.tolist())),
            "confusion_condition_number": r.condition, "coverage_warning": r.warnings,
            "correction": "generated true-class shares q >= 0 solving C^T q = predicted shares (NNLS), C the "
                          "held-out confusion matrix; coverage and collapse use q against true real shares",
            "dominant_classes": [r.classes[i] for i in top], "dominant_share": float(r.gen_share[top].sum()),
            "kl_real_to_generated": r.kl_real_gen, "kl_generated_to_real": r.kl_gen_real,
            "generated_share": dict(zip(r.classes, r.gen_share.tolist())),
            "real_share_predicted": dict(zip(r.classes, r.real_share.tolist())),
            "real_share_true": dict(zip(r.classes, (r.real_true_counts / max(1, r.real_true_counts.sum())).tolist())),
            "classifier_test_accuracy": r.test_accuracy, "mean_confidence": r.confidence,
            "classifier_score": r.classifier_score,
            "coverage_rule": f"corrected generated share >= {r.min_share} x true real share (uncorrected: "
                             f"predicted share >= {r.min_share} x predicted real share)",
            "kl_pseudo_count": PSEUDO_COUNT, "n_generated": int(r.gen_counts.sum())}


def arrays_of(r: ModesResult) -> dict:
    """The result's arrays for arrays.npz (probabilities, counts, coverage, confusion)."""
    return {"probs": r.probs, "predicted": r.probs.argmax(1), "gen_counts": r.gen_counts,
            "real_counts": r.real_counts, "real_true_counts": r.real_true_counts, "covered": r.covered,
            "covered_corrected": r.covered_corrected, "corrected_share": r.corrected_share,
            "confusion": r.confusion if r.confusion is not None else np.zeros((0, 0)),
            "classes": np.array(r.classes)}


def caption(s: dict) -> str:
    """The report's caption: modes covered, missing, KL, the two histograms."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    share = ", ".join(f"{k}: {pct(v)}" for k, v in (s.get("generated_share") or {}).items())
    real = ", ".join(f"{k}: {pct(v)}" for k, v in (s.get("real_share_true") or {}).items())
    kl = s.get("kl_real_to_generated_corrected", s.get("kl_real_to_generated"))
    warn = " Warning: " + "; ".join(s["coverage_warning"]) + "." if s.get("coverage_warning") else ""
    return notes_lead(s) + (f"Mode coverage ({s.get('dataset')}, classes by {s.get('attribute') or 'the default label'}) of "
            f"{s.get('n_generated')} samples labelled by a classifier trained here "
            f"({s.get('classifier')}, test accuracy {pct(s.get('classifier_test_accuracy'))}): "
            f"{s.get('modes_covered')} of {s.get('n_classes')} classes covered after correcting for the "
            f"classifier's confusion ({s.get('modes_covered_uncorrected')} uncorrected), "
            f"missing {s.get('missing_modes')}, "
            f"collapsed {s.get('collapsed')}; KL(real||generated) {'n/a' if kl is None else f'{kl:.3f}'}. "
            f"Generated shares (as classified) {share}; real {real}.{warn}")


def line(s: dict) -> str:
    """What ``gan-viz modes`` prints of a summary (before the output folder; its warnings follow)."""
    flag = f"COLLAPSED (missing {', '.join(s['missing_modes'])})" if s["collapsed"] else "no collapse"
    return (f"modes {s['dataset']}: {s['modes_covered']}/{s['n_classes']} covered (corrected for the classifier's "
            f"confusion; uncorrected {s['modes_covered_uncorrected']}), {flag}; KL(real||gen) "
            f"{s['kl_real_to_generated_corrected']:.3f}; classifier acc {100 * s['classifier_test_accuracy']:.1f}%")
