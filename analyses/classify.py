"""The discriminator as a feature extractor (the paper's Table 1 / Table 2 protocol).

Features: the output of every convolutional block of D (after its BatchNorm and
LeakyReLU, i.e. as the next layer reads it), each max-pooled to a 4x4 grid, flattened
and concatenated (at 64x64 with ndf=64: 64*16 + 128*16 + 256*16 + 512*16 = 15,360
dimensions; the paper's ImageNet D gave 28,672). An MLP discriminator's hidden layers
are taken as they are. D runs in eval mode (BatchNorm running statistics).

Classifier: a regularised linear L2-SVM (scikit-learn ``LinearSVC``, squared hinge, L2
penalty, one-vs-rest) on standardised features (mean / std of the labelled draw: our
choice, the paper does not say), its C chosen on a validation split held out of the
training split. With few labels (``n_labels``, the SVHN experiment): class-balanced
random draws from the rest of the training split, repeated; accuracy is reported as
mean +- 1.96 std over the draws. Baselines in the same run: the same D freshly
initialised (seeded) and raw pixels.

Example:
    >>> r = compute_classify({"trained_D": Xd, "random_D": Xr, "pixels": Xp}, y,
    ...                      split_protocol(y, n_val=200, n_labels=100, draws=5, seed=0), test_idx)
    >>> r.accuracy.mean(1)  # (3,) mean test accuracy per feature set
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from gan_viz.analyses.labelled import (NO_HELDOUT_SPLIT, ROOMS_ATTRIBUTES, Labelled, labelled_pair,  # noqa: F401
                                       load_split, notes_lead, real_pair, require_labels, used_notes)
from gan_viz.analyses.registry import register
from gan_viz import memory as _memory
from gan_viz.errors import UserError
from gan_viz.features import POOL, RECTIFIERS, check_layers, d_features, feature_layers  # noqa: F401

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context


FEATURE_SETS = ("trained_D", "random_D", "pixels")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
PARALLEL_MIN_SIZE = 2_000_000  # feature values below which the C grid is fitted in-process
CI_Z = 1.96


# --- the SVM protocol -------------------------------------------------------------------

@dataclass(frozen=True)
class Protocol:
    """Which training items are validation, which labelled draws (indices into the training split)."""

    val: np.ndarray  # (V,)
    draws: np.ndarray  # (R, L): R draws of L labelled items each
    balanced: bool  # class-balanced draws (n_labels given) or the whole rest


def balanced_draw(labels: np.ndarray, pool: np.ndarray, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` items of ``pool`` with as equal a share of each of ``k`` classes as ``n`` allows."""
    per = np.full(k, n // k)
    per[rng.permutation(k)[: n % k]] += 1
    chosen = [rng.choice(pool[labels[pool] == c], per[c], replace=False) for c in range(k)]
    return np.sort(np.concatenate(chosen))


def split_protocol(labels: np.ndarray, n_val: int, n_labels: int | None, draws: int, seed: int,
                   k: int | None = None) -> Protocol:
    """Hold out ``n_val`` items (stratified) for choosing C, then the labelled draws.

    Raises:
        UserError: ``n_labels`` below one per class or beyond what a class holds.
    """
    k = int(labels.max()) + 1 if k is None else k
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    val = np.sort(order[:n_val])
    pool = np.sort(order[n_val:])
    counts = np.bincount(labels[pool], minlength=k)
    if n_labels is None:
        return Protocol(val, pool[None], False)
    if n_labels < k:
        raise UserError(f"--labels {n_labels} is fewer than one per class ({k} classes); pass at least {k}")
    need = -(-n_labels // k)
    if counts.min() < need:
        c = int(counts.argmin())
        raise UserError(f"--labels {n_labels} needs {need} labelled images per class but class {c} has only "
                        f"{counts[c]} in the training split after the {n_val}-image validation split; "
                        f"pass at most {counts.min() * k} (or raise --n-train)")
    return Protocol(val, np.stack([balanced_draw(labels, pool, n_labels, k, rng) for _ in range(draws)]), True)


def _fit_one(Xs: np.ndarray, y: np.ndarray, C: float):
    """One LinearSVC fit (in a worker process): the model and whether it hit max_iter."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf = LinearSVC(C=C, loss="squared_hinge", penalty="l2", dual=True, max_iter=2000,
                        random_state=0).fit(Xs, y)
    return clf, any(issubclass(w.category, ConvergenceWarning) for w in caught)


def fit_svm(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray, Cs: Sequence[float],
            done: Callable[[], None] | None = None):
    """LinearSVC for each C on standardised features; the best on the validation split.

    liblinear runs on one core, so the C values are fitted side by side in worker
    processes (joblib; one process per core, at most one per C; in-process where the
    problem is small). Each process seeds liblinear alike, so the models are those of
    fitting one C after another, bit for bit. Ties on validation accuracy go to the
    first C of ``Cs``.

    Args:
        done: called once per finished C (progress).
    Returns:
        (predict: callable X -> labels, chosen C, validation accuracy, fits that did not converge)
    """
    from joblib import Parallel, cpu_count, delayed
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    Xs, Xvs = scaler.transform(X), scaler.transform(Xv)
    n_jobs = 1 if Xs.size < PARALLEL_MIN_SIZE else max(1, min(len(Cs), cpu_count()))
    best, unconverged = (-1.0, None, None), 0
    fits = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_fit_one)(Xs, y, C) for C in Cs)
    for C, (clf, bad) in zip(Cs, fits):
        unconverged += bad
        acc = float((clf.predict(Xvs) == yv).mean())
        if acc > best[0]:
            best = (acc, C, clf)
        if done is not None:
            done()
    acc, C, clf = best
    return (lambda Z: clf.predict(scaler.transform(Z))), C, acc, unconverged


@dataclass(frozen=True)
class ClassifyResult:
    """Test accuracy of a linear L2-SVM on each feature set over the labelled draws."""

    feature_sets: tuple  # e.g. ("trained_D", "random_D", "pixels")
    dims: tuple  # feature dimension of each set
    accuracy: np.ndarray  # (S, R) test accuracy per set and draw
    balanced_accuracy: np.ndarray  # (S, R) mean per-class recall on the test images
    val_accuracy: np.ndarray  # (S, R) validation accuracy at the chosen C
    chosen_C: np.ndarray  # (S, R)
    protocol: Protocol
    C_grid: tuple
    test_counts: np.ndarray  # (K,) test images per class
    unconverged: int  # LinearSVC fits (of all C tried) that hit max_iter

    @property
    def mean(self) -> np.ndarray:
        return self.accuracy.mean(1)

    @property
    def ci95(self) -> np.ndarray:
        """1.96 std over the draws (0 with one draw), as the paper's code reports."""
        return CI_Z * self.accuracy.std(1)

    @property
    def balanced_mean(self) -> np.ndarray:
        return self.balanced_accuracy.mean(1)

    @property
    def balanced_ci95(self) -> np.ndarray:
        return CI_Z * self.balanced_accuracy.std(1)

    @property
    def chance(self) -> float:
        """Accuracy of always answering the most frequent test class."""
        return float(self.test_counts.max() / self.test_counts.sum())

    @property
    def balanced_chance(self) -> float:
        """Balanced accuracy of any constant answer: 1 / (classes present in the test images)."""
        return float(1 / max(1, (self.test_counts > 0).sum()))


def balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean over the classes present in ``y`` of the share of that class predicted right."""
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def compute_classify(features: Mapping[str, np.ndarray], labels: np.ndarray, protocol: Protocol,
                     test_features: Mapping[str, np.ndarray], test_labels: np.ndarray,
                     C_grid: Sequence[float] = C_GRID) -> ClassifyResult:
    """Fit and score the SVM for every feature set and draw.

    Args:
        features: set name -> (N, F) training-split features. labels: (N,) in 0..K-1.
        protocol: from :func:`split_protocol`. test_features: set name -> (M, F). test_labels: (M,).
    Returns:
        :class:`ClassifyResult`.
    """
    names = tuple(features)
    R = len(protocol.draws)
    acc, bacc, vacc, Cs = (np.zeros((len(names), R)) for _ in range(4))
    unconverged = 0
    bar = tqdm(total=len(names) * R * len(C_grid), desc="L2-SVM (one fit per C)", unit="fit", leave=False)
    for s, name in enumerate(names):
        X, Xt = features[name], test_features[name]
        for r, draw in enumerate(protocol.draws):
            predict, C, va, bad = fit_svm(X[draw], labels[draw], X[protocol.val], labels[protocol.val], C_grid,
                                          done=lambda: bar.update(1))
            pred = predict(Xt)
            acc[s, r], vacc[s, r], Cs[s, r] = float((pred == test_labels).mean()), va, C
            bacc[s, r] = balanced_accuracy(pred, test_labels)
            unconverged += bad
    bar.close()
    k = max(int(labels.max()), int(test_labels.max())) + 1
    return ClassifyResult(names, tuple(features[n].shape[1] for n in names), acc, bacc, vacc, Cs, protocol,
                          tuple(C_grid), np.bincount(test_labels, minlength=k), unconverged)


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
    return {"accuracy": r.accuracy, "balanced_accuracy": r.balanced_accuracy, "val_accuracy": r.val_accuracy,
            "chosen_C": r.chosen_C,
            "val_positions": r.protocol.val, "draw_positions": r.protocol.draws, "C_grid": np.array(r.C_grid),
            "feature_sets": np.array(r.feature_sets), "dims": np.array(r.dims), "test_counts": r.test_counts}


def plot_classify(r: ClassifyResult, title: str = "", ax=None):
    """Bars per feature set: test accuracy (solid) and balanced accuracy (hatched), 1.96-std
    error bars, and the chance level of each (majority class; 1 / classes)."""
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 3.4))
    colors = (["#3b6fb6", "#a0a0a0", "#d98c3a"] + ["#777777"] * 8)[: len(r.feature_sets)]
    x = np.arange(len(r.feature_sets))
    for off, mean, ci, hatch in ((-0.2, r.mean, r.ci95, None), (0.2, r.balanced_mean, r.balanced_ci95, "//")):
        ax.bar(x + off, 100 * mean, 0.38, yerr=100 * ci, color=colors, capsize=3, hatch=hatch,
               edgecolor="white" if hatch else None)
        for i, (m, c) in enumerate(zip(mean, ci)):
            ax.text(i + off, 100 * (m + c) + 1, f"{100 * m:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(100 * r.chance, color="k", ls=":", lw=1, label="accuracy (solid): chance = majority class")
    ax.axhline(100 * r.balanced_chance, color="k", ls="--", lw=0.8,
               label="balanced accuracy (hatched): chance = 1 / classes")
    ax.set_xticks(x, [f"{n}\n({d} dims)" for n, d in zip(r.feature_sets, r.dims)], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 115)
    n, R = r.protocol.draws.shape[1], len(r.protocol.draws)
    ax.set_title(title or f"linear L2-SVM, {n} labels" + (f", {R} draws (mean +- 1.96 std)" if R > 1 else ""),
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=1, framealpha=0.9)
    return fig


# --- the analysis -------------------------------------------------------------------------

def _c_grid(C_grid: str | Sequence[float]) -> list[float]:
    try:
        grid = [float(c) for c in (C_grid.split(",") if isinstance(C_grid, str) else C_grid)]
    except (TypeError, ValueError):
        raise UserError(f"--C-grid {C_grid!r} is not a comma-separated list of numbers") from None
    if not grid or any(not c > 0 for c in grid):
        raise UserError("--C-grid values must be positive")
    return grid


def _check(draws: int, n_train: int, n_test: int, batch_size: int, labels, val) -> None:
    for name, v in (("draws", draws), ("n-train", n_train), ("n-test", n_test), ("batch-size", batch_size)):
        if v < 1:
            raise UserError(f"--{name} must be at least 1")
    if labels is not None and labels < 1:
        raise UserError("--labels must be at least 1")
    if val is not None and val < 1:
        raise UserError("--val must be at least 1")


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


@register("classify", needs=("D",), title="Table 1: D as a feature extractor", caption=caption)
def run(ctx: "Context", *, attribute: str | None = None, labels: int | None = None, draws: int = 10,
        n_train: int = 2000, n_test: int = 2000, val: int | None = None,
        C_grid: str | Sequence[float] = C_GRID, layers: str | Sequence[str] | None = None,
        batch_size: int = 256) -> dict:
    """Table 1 on ``ctx``'s subject and labelled real data (``ctx.data``): D features of every
    conv block vs the same D freshly initialised vs raw pixels, a linear L2-SVM on each.

    Writes classify.png/.pdf, summary.json and arrays.npz into ``ctx.out``; returns the summary.
    Options are the ``gan-viz classify`` options (argparse dest names).
    """
    from gan_viz.io import save_figure, write_json, write_npz

    _check(draws, n_train, n_test, batch_size, labels, val)
    grid = _c_grid(C_grid)
    S = ctx.subject
    _memory.require("--n-train", n_train, 6 * _memory.image_bytes(S.image_shape), "the labelled images and their D features",
                    fixed=6 * n_test * _memory.image_bytes(S.image_shape))
    D = S.require("D")
    names = check_layers(D, layers)
    name, train, test, k = labelled_pair(S, ctx.data, ctx.data_root, n_train, n_test, ctx.seed, attribute)
    n_val = val if val is not None else min(10000, max(k, len(train.labels) // 5))
    if n_val >= len(train.labels):
        raise UserError(f"--val {n_val} leaves no training images out of {len(train.labels)}; lower it")
    protocol = split_protocol(train.labels, n_val, labels, draws, ctx.seed, k)
    feats, test_feats = {}, {}
    for set_name, net in (("trained_D", D), ("random_D", S.random_copy("D", ctx.seed))):
        feats[set_name] = d_features(net, train.images, names, batch_size=batch_size, device=ctx.device)
        test_feats[set_name] = d_features(net, test.images, names, batch_size=batch_size, device=ctx.device)
    feats["pixels"], test_feats["pixels"] = train.images.flatten(1).numpy(), test.images.flatten(1).numpy()
    result = compute_classify(feats, train.labels, protocol, test_feats, test.labels, grid)
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = [p.name for p in save_figure(plot_classify(result), ctx.out, "classify")]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, attribute=attribute if name == "rooms" else None,
                   classes=list(train.classes), layers=names, pool=POOL, random_D_seed=ctx.seed,
                   heldout="test split" if name not in NO_HELDOUT_SPLIT else "a part of the folder disjoint "
                   "from the training images", feature_standardisation="per draw, mean/std of the labelled images",
                   seed=ctx.seed, figures=figures, notes=used_notes(name, train, test, n_train, n_test))
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", train_indices=train.indices, train_labels=train.labels,
              test_indices=test.indices, test_labels=test.labels, layers=np.array(names),
              seed=np.array(ctx.seed), **arrays_of(result))
    return summary
