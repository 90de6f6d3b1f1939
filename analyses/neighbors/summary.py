"""NeighborsResult -> summary.json's figures of merit, arrays.npz's arrays, the "cannot tell"
verdict below the calibrated sizes, and the report's caption."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from gan_viz.data.labelled import notes_lead

from .compute import NeighborsResult

# Below these the memorisation score is "cannot tell" (its measured value is kept beside). Measured on
# the calibration's blobs (3000 training images; novel-generator null <= 0.10, replay >= 0.5): with 128
# samples the null holds in 5/5 held-out draws at 100 held-out images, 4/5 at 50, 3/5 at 25; with 300
# held-out images it holds in 5/5 sample draws at 64 samples, 2/5 at 32, 1/5 at 16.
MIN_SAMPLES = 64
MIN_HELDOUT = 100  # and at least 5 held-out images below the threshold quantile (5 / --quantile)
SEEN = ("G was trained on the whole folder (a PyTorch examples run and gan-viz train read every image of it), so "
        "these held-out images were part of its training data")
SEEN_MEMORISATION = ("a lower bound: a sample that copies one of the held-out images (which G trained on) counts "
                     "as novel")
SEEN_C_T = ("absent: the data-copying test C_T (Meehan et al. 2020) needs held-out images independent of training, "
            "and these were part of G's training data; pass --heldout-root DIR with images G never saw")


def summary_of(r: NeighborsResult) -> dict:
    """Figures of merit per space: memorisation, threshold, median distances, the data-copying test."""
    out = {}
    for name, s in r.spaces.items():
        out[name] = {"memorisation": s.memorisation, "expected_if_like_heldout": s.quantile,
                     "threshold": s.threshold, "median_ratio": s.median_ratio,
                     "sample_nn_median": float(np.median(s.distances[:, 0])),
                     "heldout_nn_median": float(np.median(s.heldout_nn)),
                     "sample_nn_min": float(s.distances[:, 0].min())}
        c = s.copying
        if c is not None:
            out[name]["data_copying"] = {
                "C_T": c.C_T, "Z_U_per_cell": [None if np.isnan(v) else float(v) for v in c.z_u],
                "samples_per_cell": c.gen_counts.tolist(), "heldout_per_cell": c.held_counts.tolist(),
                "cells_kept": int(c.kept.sum()), "min_per_cell": c.min_cell,
                "reading": "C_T ~ 0: like held-out data; negative: samples closer to the training set than "
                           "held-out images (copying); positive: further"}
    return {"spaces": out, "train_searched": r.n_train, "train_images_searched": r.n_train,
            "distance": {"pixel": "per-pixel RMS", "D": "Euclidean between unit-length D feature vectors"},
            "data_copying_test": "Meehan et al. 2020 C_T: k-means cells of the training data, per-cell "
                                 "Mann-Whitney z of sample vs held-out nearest-training distances, averaged "
                                 "weighted by held-out share"}


def arrays_of(r: NeighborsResult) -> dict:
    """The result's arrays for arrays.npz (per space: distances, indices, held-out distances, Z_U)."""
    arrays = {}
    for name, s in r.spaces.items():
        arrays.update({f"{name}_distances": s.distances, f"{name}_indices": s.indices,
                       f"{name}_heldout_nn": s.heldout_nn})
        if s.copying is not None:
            arrays[f"{name}_copying_z_u"] = s.copying.z_u
    return arrays


def min_heldout(quantile: float) -> int:
    """Held-out images the memorisation threshold (their ``quantile``) needs: at least
    ``MIN_HELDOUT`` and 5 below the quantile."""
    return max(MIN_HELDOUT, int(np.ceil(5 / quantile - 1e-9)))


def cannot_tell(n: int, n_heldout: int, quantile: float) -> str:
    """Why the memorisation score of ``n`` samples against ``n_heldout`` held-out images cannot
    tell memorised from novel ("" where its calibration holds)."""
    short = [f"{n_heldout} held-out images (it needs {min_heldout(quantile)})" if n_heldout < min_heldout(quantile)
             else "", f"{n} samples (it needs {MIN_SAMPLES})" if n < MIN_SAMPLES else ""]
    short = [w for w in short if w]
    return f"cannot tell: {' and '.join(short)}; its calibration holds from those sizes up" if short else ""


def small_data(summary: dict, asked: Mapping, quantile: float, why_heldout: str) -> dict:
    """State where fewer images were used than asked (``notes``) and mark the memorisation score
    "cannot tell" below the sizes its calibration holds at (``MIN_SAMPLES``, :func:`min_heldout`):
    ``memorisation`` None, the value measured kept as ``memorisation_measured``."""
    notes, held, searched = [], summary["heldout_images"], summary["train_searched"]
    if held < asked["n_heldout"]:
        notes.append(f"{held} held-out images used of the {asked['n_heldout']} asked ({why_heldout})")
    if asked["n_train"] and searched < asked["n_train"]:
        notes.append(f"{searched} training images searched of the {asked['n_train']} asked (the training "
                     f"split holds {summary['train_size']})")
    reason = cannot_tell(summary["n_generated"], held, quantile)
    if reason:
        for v in summary["spaces"].values():
            v["memorisation_measured"], v["memorisation"] = v["memorisation"], None
            v["memorisation_verdict"] = reason
        summary["cannot_tell"] = reason
    summary["asked"], summary["notes"] = dict(asked), notes
    return summary


def caption(s: dict) -> str:
    """The report's caption: memorisation score, data copying and median distances per space."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    num = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731

    def copying(v):
        c = v.get("data_copying") or {}
        return "" if not c else (f"; data-copying C_T {num(c.get('C_T'))} over {c.get('cells_kept')} cells "
                                 "(negative = copying)")
    parts = [f"{sp} space: {pct(v.get('memorisation'))} of samples closer to a training image than the "
             f"threshold (expected {pct(v.get('expected_if_like_heldout'))} if like held-out images); median NN "
             f"distance {num(v.get('sample_nn_median'))} vs held-out {num(v.get('heldout_nn_median'))}"
             + copying(v) for sp, v in (s.get("spaces") or {}).items()]
    said = notes_lead(s)
    said += f"Memorisation score {s['cannot_tell']}. " if s.get("cannot_tell") else ""
    held = f" ({s['heldout']})" if s.get("heldout") else ""
    seen = ""
    if s.get("heldout_seen_by_G"):
        seen = f" The memorisation score is {s.get('memorisation_reading')}" + (
            f"; data copying is {s['data_copying_absent']}" if s.get("data_copying_absent") else "") + "."
    return (said + f"Nearest training images of {s.get('n_generated')} samples, searched among "
            f"{s.get('train_searched')} of the {s.get('train_size')} training images of {s.get('dataset')}, against "
            f"{s.get('heldout_images')} held-out images{held}. " + "; ".join(parts) + "." + seen)


def note_lines(s: dict) -> list[str]:
    """What ``gan-viz neighbors`` prints before its :func:`line`: the notes, the verdict, what the
    held-out images are and, where G saw them, what the score then means."""
    out = [f"note: {note}" for note in s.get("notes", []) + ([s["cannot_tell"]] if s.get("cannot_tell") else [])]
    out.append(f"held-out images: {s['heldout']}")
    if s.get("heldout_seen_by_G"):
        out.append(f"note: the memorisation score is {s['memorisation_reading']}"
                   + (f"; data copying C_T is {s['data_copying_absent']}" if s.get("data_copying_absent") else ""))
    return out


def line(s: dict) -> str:
    """What ``gan-viz neighbors`` prints of a summary (before the output folder)."""
    def ct(v):
        c = (v.get("data_copying") or {}).get("C_T")
        return "" if c is None else f", data-copying C_T {c:.2f}"

    def mem(v):
        if v["memorisation"] is None:
            return f"memorisation cannot tell (measured {100 * v['memorisation_measured']:.1f}%)"
        return f"memorisation {100 * v['memorisation']:.1f}% (like held-out {100 * v['expected_if_like_heldout']:g}%)"
    row = "; ".join(f"{sp}: {mem(v)}, median ratio {v['median_ratio']:.2f}{ct(v)}" for sp, v in s["spaces"].items())
    return f"neighbors {s['dataset']} ({s['train_searched']} of {s['train_size']} training images searched): {row}"
