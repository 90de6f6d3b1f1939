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

The features themselves are :func:`gan_viz.features.d_features` (core); this module is the
SVM protocol: features in, a :class:`ClassifyResult` out.

Example:
    >>> p = split_protocol(y, n_val=200, n_labels=100, draws=5, seed=0)
    >>> r = compute_classify({"trained_D": Xd, "random_D": Xr, "pixels": Xp}, y, p,
    ...                      {"trained_D": Xd_t, "random_D": Xr_t, "pixels": Xp_t}, y_t)
    >>> r.accuracy.mean(1)  # (3,) mean test accuracy per feature set
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from gan_viz.errors import UserError

FEATURE_SETS = ("trained_D", "random_D", "pixels")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
PARALLEL_MIN_SIZE = 2_000_000  # feature values below which the C grid is fitted in-process
CI_Z = 1.96


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


def row_space(Xs: np.ndarray) -> np.ndarray | None:
    """(F, n) orthonormal basis of the rows of ``Xs`` (n, F) when n < F, else None.

    liblinear's dual solver sees the data only through inner products (x_i . x_j + 1, the 1 being
    its intercept feature), and the weights it builds are a combination of the training rows; so
    fitting the rows' coordinates in their own span, and scoring any image by its projection onto
    that span, is the same SVM: the same coordinate steps (same seed, same iterations), the same
    decisions up to rounding. With 100 labels and ~8,000 D features that is ~80x less arithmetic
    per pass.
    """
    n, F = Xs.shape
    if n >= F:
        return None
    return np.linalg.svd(Xs, full_matrices=False)[2].T


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
    Xs = scaler.transform(X)
    basis = row_space(Xs)
    Xs = Xs if basis is None else Xs @ basis

    def prepare(Z: np.ndarray) -> np.ndarray:
        Z = scaler.transform(Z)
        return Z if basis is None else Z @ basis

    Xvs = prepare(Xv)
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
    return (lambda Z: clf.predict(prepare(Z))), C, acc, unconverged


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
