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
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.unit_scan import RECTIFIERS, evaluating
from gan_viz.errors import UserError
from gan_viz.hooks import capture

FEATURE_SETS = ("trained_D", "random_D", "pixels")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
PARALLEL_MIN_SIZE = 2_000_000  # feature values below which the C grid is fitted in-process
POOL = 4
CI_Z = 1.96
ROOMS_ATTRIBUTES = {  # attribute -> class names, in label order
    "n_windows": ("0", "1", "2", "3"), "time_of_day": ("day", "dusk", "night"), "lamp_on": ("off", "on"),
    "has_door": ("no", "yes"), "has_picture": ("no", "yes"), "has_bed": ("no", "yes"),
    "has_rug": ("no", "yes"), "has_nightstand": ("no", "yes"), "has_lamp": ("no", "yes")}


# --- labelled data ----------------------------------------------------------------------

@dataclass(frozen=True)
class Labelled:
    """Images of one split with integer labels."""

    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: np.ndarray  # (N,) int64, -1 where the dataset has none
    indices: np.ndarray  # (N,) item indices in the dataset
    classes: tuple  # class names, label k -> classes[k] (empty when unlabelled)


def _class_names(ds, name: str, attribute: str | None) -> tuple:
    if name == "rooms":
        return ROOMS_ATTRIBUTES[attribute or "n_windows"]
    if name in ("digits", "mnist"):
        return tuple(str(k) for k in range(10))
    base = getattr(ds, "base", ds)
    return tuple(getattr(base, "classes", ()) or ())


def _rooms_items(ds, idx: np.ndarray, attribute: str) -> tuple[torch.Tensor, np.ndarray]:
    from gan_viz.data.rooms import TIMES_OF_DAY, to_tensor

    samples = [ds.sample(int(i)) for i in idx]
    values = [s.attrs[attribute] for s in samples]
    labels = [TIMES_OF_DAY.index(v) if attribute == "time_of_day" else int(v) for v in values]
    return to_tensor(np.stack([s.image for s in samples]), ds.nc), np.asarray(labels, np.int64)


def load_split(name: str, image_size: int, nc: int, split: str, root=None, n: int | None = None,
               seed: int = 0, attribute: str | None = None, limit: int | None = None) -> Labelled:
    """Up to ``n`` random items (sorted by index) of a dataset split, with labels.

    Args:
        name, image_size, nc, split, root: as :func:`gan_viz.data.build_dataset`.
        n: how many items (None: all). seed: which ones. attribute: rooms only, the scene
            attribute used as label (default ``n_windows``). limit: draw only from the
            first ``limit`` items (a run trained on ``--dataset-size`` images).
    Returns:
        :class:`Labelled`; labels are -1 for an unlabelled dataset.
    """
    from gan_viz.data import build_dataset

    if attribute is not None and name != "rooms":
        raise UserError(f"--attribute applies to rooms only; {name} has its own labels")
    if attribute is not None and attribute not in ROOMS_ATTRIBUTES:
        raise UserError(f"unknown rooms attribute {attribute!r}; choose one of {', '.join(ROOMS_ATTRIBUTES)}")
    ds = build_dataset(name, image_size, nc, split, root, seed=0)
    total = len(ds) if limit is None else min(limit, len(ds))
    if total == 0:
        raise UserError(f"the {name} {split} split is empty; pass another --dataset")
    order = np.random.default_rng(seed).permutation(total)
    idx = np.sort(order[: total if n is None else min(n, total)])
    if name == "rooms":
        images, labels = _rooms_items(ds, idx, attribute or "n_windows")
    elif hasattr(ds, "get_batch") and isinstance(getattr(ds, "labels", None), torch.Tensor):
        images, labels = ds.get_batch(idx.tolist()), ds.labels[torch.as_tensor(idx)].numpy()
    else:
        items = [ds[int(i)] for i in tqdm(idx, desc=f"load {name} {split}", unit="img", leave=False)]
        images = torch.stack([x for x, _ in items])
        labels = np.array([y for _, y in items], np.int64)
    return Labelled(images.float(), labels.astype(np.int64), idx, _class_names(ds, name, attribute))


def require_labels(data: Labelled, name: str) -> int:
    """The number of classes; raises when the dataset carries no labels."""
    if (data.labels < 0).any():
        raise UserError(f"dataset {name} has no labels; use a labelled one (digits, rooms, mnist, "
                        "fashion-mnist, cifar10, or a folder with one sub-folder per class)")
    k = int(data.labels.max()) + 1
    return max(k, len(data.classes))


# --- features ---------------------------------------------------------------------------

def feature_layers(D: nn.Module) -> list[str]:
    """D's hidden block outputs: its rectifiers (``lrelu1``, ``lrelu2``, ... of a DCGAN or MLP)."""
    names = [n for n, m in D.named_children() if isinstance(m, RECTIFIERS)]
    if not names:
        raise UserError("this discriminator has no LeakyReLU/ReLU layers to read features from; "
                        "pass --layers with D layer names")
    return names


@torch.no_grad()
def d_features(D: nn.Module, images: torch.Tensor, layers: Sequence[str], pool: int = POOL,
               batch_size: int = 256, device: torch.device | str = "cpu") -> np.ndarray:
    """Concatenated D features: each layer max-pooled to ``pool`` x ``pool``, flattened.

    Args:
        D: a discriminator (run in eval mode, restored after). images: (N, C, H, W).
        layers: child names of D. pool: grid side (maps already this small are kept).
    Returns:
        (N, F) float32.
    """
    D.to(device)
    out = []
    with evaluating(D), capture(D, layers, prefix="D") as acts:
        for s in range(0, len(images), batch_size):
            D(images[s:s + batch_size].to(device))
            parts = []
            for name in layers:
                a = acts[name].float()
                if a.dim() == 4 and a.shape[-1] > pool:
                    a = F.adaptive_max_pool2d(a, pool)  # (B, C, pool, pool)
                parts.append(a.flatten(1).cpu())
            out.append(torch.cat(parts, 1))
    return torch.cat(out).numpy()


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
