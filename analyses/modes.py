"""Mode coverage: which classes does G draw, judged by a classifier trained on the real data?

A small CNN (two 3x3 conv + max-pool blocks, one hidden linear layer) is trained here, in
seconds, on the labelled training split; its accuracy on the held-out split says how far
its verdicts can be trusted. It labels the generated samples; the result is the class
histogram of the samples beside that of held-out real images *as the same classifier
labels them* (so its own biases cancel), and beside their true labels.

- Uncorrected: a class is *covered* when its share of the samples is at least
  ``min_share`` (0.2) of its share of the real images (an absent mode drops to the rate
  at which the classifier's errors land on it).
- KL(real || generated) and KL(generated || real) of the two histograms, with 0.5 added
  to every count so that a missing class gives a large but finite number.
- Corrected for the classifier's confusion: the confusion matrix C (C[t, p] = share of
  held-out images of true class t labelled p) maps a true class distribution q to the
  predicted one, C^T q. The samples' true class distribution is estimated by solving
  C^T q = (predicted shares) for q >= 0, sum q = 1 (non-negative least squares), and
  coverage and KL are taken on q against the real images' true shares. Without it a
  classifier's errors leak into every class: at ~80% accuracy with errors spread over 9
  classes, a missing class still receives ~2% of the samples and reads as covered.
  ``coverage_warning`` says when held-out accuracy is too low for the call: when the
  uncorrected rule would call a class covered from errors alone, or the correction is
  unstable (a class with recall below ``MIN_RECALL``, or C badly conditioned).
- ``collapsed`` when any class is not covered after the correction (the seeds saw a DCGAN
  on MNIST end up drawing only '3', '5' and '8').
- Classifier-based quality: the mean top-class probability of the samples, and the
  classifier score exp(E_x KL(p(y|x) || p(y))) (the Inception-score formula with this
  classifier; at most the number of classes).

Example:
    >>> clf, acc = train_classifier(train.images, train.labels, 10, seed=0)
    >>> r = compute_modes(clf, fake_images, test.images, test.labels, test_accuracy=acc)
    >>> r.covered.sum(), r.collapsed
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gan_viz.analyses.labelled import labelled_pair, notes_lead, used_notes
from gan_viz.analyses.registry import register
from gan_viz import memory as _memory
from gan_viz.errors import UserError
from gan_viz.sources import evaluating

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

MIN_SHARE = 0.2
PSEUDO_COUNT = 0.5
MIN_RECALL = 0.3  # below this held-out recall of a class, its corrected share is not trusted
MAX_CONDITION = 30.0  # condition number of the confusion matrix beyond which the correction is unstable


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


def confusion_matrix(true: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) row-normalised: [t, p] = share of true class t predicted p (a class without images: identity row)."""
    m = np.zeros((k, k))
    np.add.at(m, (true, pred), 1)
    rows = m.sum(1, keepdims=True)
    return np.where(rows > 0, m / np.maximum(rows, 1), np.eye(k))


def correct_shares(pred_share: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """The true class distribution q >= 0, sum 1, whose predicted distribution C^T q is nearest
    ``pred_share`` (least squares; the sum constraint as a heavily weighted extra row)."""
    from scipy.optimize import nnls

    k = len(pred_share)
    A = np.vstack([confusion.T, 100.0 * np.ones((1, k))])
    b = np.concatenate([pred_share, [100.0]])
    q, _ = nnls(A, b)
    return q / max(q.sum(), 1e-12)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * np.log(p / q)))


def _smoothed(counts: np.ndarray) -> np.ndarray:
    c = counts.astype(np.float64) + PSEUDO_COUNT
    return c / c.sum()


@dataclass(frozen=True)
class ModesResult:
    """Classes of generated samples vs real images, as the classifier sees them."""

    classes: tuple  # K class names
    probs: np.ndarray  # (N, K) classifier probabilities of each sample
    gen_counts: np.ndarray  # (K,) samples per predicted class
    real_counts: np.ndarray  # (K,) held-out real images per predicted class
    real_true_counts: np.ndarray  # (K,) held-out real images per true label
    test_accuracy: float  # classifier accuracy on the held-out real images
    min_share: float
    confusion: np.ndarray | None = None  # (K, K) held-out confusion, rows = true class

    @property
    def gen_share(self) -> np.ndarray:
        return self.gen_counts / max(1, self.gen_counts.sum())

    @property
    def real_share(self) -> np.ndarray:
        return self.real_counts / max(1, self.real_counts.sum())

    @property
    def covered(self) -> np.ndarray:
        """(K,) bool: the class's sample share is at least min_share of its real share."""
        return self.gen_share >= self.min_share * self.real_share

    @property
    def real_true_share(self) -> np.ndarray:
        return self.real_true_counts / max(1, self.real_true_counts.sum())

    @property
    def corrected_share(self) -> np.ndarray:
        """(K,) the samples' true class distribution estimated through the confusion matrix."""
        return self.gen_share if self.confusion is None else correct_shares(self.gen_share, self.confusion)

    @property
    def recall(self) -> np.ndarray:
        return np.ones(len(self.classes)) if self.confusion is None else np.diag(self.confusion)

    @property
    def covered_corrected(self) -> np.ndarray:
        """(K,) bool: the corrected share is at least min_share of the class's true real share."""
        return self.corrected_share >= self.min_share * self.real_true_share

    @property
    def leak_covers(self) -> np.ndarray:
        """(K,) bool: errors alone could make the class look covered under the uncorrected rule (a G
        drawing the other classes in their real proportions puts at least min_share x its share on it)."""
        if self.confusion is None:
            return np.zeros(len(self.classes), bool)
        k = len(self.classes)
        leak = np.zeros(k)
        for j in range(k):
            q = self.real_true_share.copy()
            q[j] = 0
            leak[j] = (q / max(q.sum(), 1e-12)) @ self.confusion[:, j]
        return leak >= self.min_share * self.real_share

    @property
    def condition(self) -> float:
        return 1.0 if self.confusion is None else float(np.linalg.cond(self.confusion))

    @property
    def warnings(self) -> list:
        """Why the coverage call may not hold (empty: it holds)."""
        out = []
        if self.leak_covers.any():
            out.append(f"held-out accuracy {100 * self.test_accuracy:.1f}% is too low for the uncorrected call: "
                       f"errors alone would make classes {[c for c, x in zip(self.classes, self.leak_covers) if x]} "
                       "look covered (use the corrected coverage)")
        low = [c for c, r in zip(self.classes, self.recall) if r < MIN_RECALL]
        if low or self.condition > MAX_CONDITION:
            out.append(f"held-out accuracy {100 * self.test_accuracy:.1f}% is too low for the corrected call too: "
                       f"classes {low} have recall below {MIN_RECALL}, confusion condition number "
                       f"{self.condition:.1f} (limit {MAX_CONDITION:g}); train the classifier longer")
        return out

    @property
    def collapsed(self) -> bool:
        return not bool(self.covered_corrected.all())

    @property
    def kl_real_gen_corrected(self) -> float:
        n = max(1, int(self.gen_counts.sum()))
        return _kl(_smoothed(self.real_true_counts), _smoothed(self.corrected_share * n))

    @property
    def kl_real_gen(self) -> float:
        return _kl(_smoothed(self.real_counts), _smoothed(self.gen_counts))

    @property
    def kl_gen_real(self) -> float:
        return _kl(_smoothed(self.gen_counts), _smoothed(self.real_counts))

    @property
    def confidence(self) -> float:
        return float(self.probs.max(1).mean())

    @property
    def classifier_score(self) -> float:
        """exp(E_x KL(p(y|x) || p(y))) over the samples (1 = uninformative, K = ideal)."""
        p = np.clip(self.probs.astype(np.float64), 1e-12, 1)
        marginal = p.mean(0, keepdims=True)
        return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), 1))))


def compute_modes(clf: nn.Module, generated: torch.Tensor, real: torch.Tensor, real_labels: np.ndarray,
                  classes: tuple | None = None, min_share: float = MIN_SHARE, batch_size: int = 512) -> ModesResult:
    """Label samples and held-out real images with ``clf`` and compare the histograms.

    Args:
        clf: a trained classifier (N, C, H, W) -> (N, K) logits. generated: (N, C, H, W) samples.
        real: (M, C, H, W) held-out real images with true labels ``real_labels`` (M,).
        classes: K names (default "0".."K-1"). min_share: coverage threshold (see module doc).
    Returns:
        :class:`ModesResult`.
    """
    probs = predict_proba(clf, generated, batch_size)
    real_probs = predict_proba(clf, real, batch_size)
    k = probs.shape[1]
    real_pred = real_probs.argmax(1)
    return ModesResult(tuple(classes) if classes else tuple(str(i) for i in range(k)), probs,
                       np.bincount(probs.argmax(1), minlength=k), np.bincount(real_pred, minlength=k),
                       np.bincount(real_labels, minlength=k)[:k], float((real_pred == real_labels).mean()),
                       float(min_share), confusion_matrix(np.asarray(real_labels), real_pred, k))


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
    return {"probs": r.probs, "predicted": r.probs.argmax(1), "gen_counts": r.gen_counts,
            "real_counts": r.real_counts, "real_true_counts": r.real_true_counts, "covered": r.covered,
            "covered_corrected": r.covered_corrected, "corrected_share": r.corrected_share,
            "confusion": r.confusion if r.confusion is not None else np.zeros((0, 0)),
            "classes": np.array(r.classes)}


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


# --- the analysis -------------------------------------------------------------------------

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


@register("modes", needs=("G",), title="Mode coverage", caption=caption)
def run(ctx: "Context", *, attribute: str | None = None, n: int = 1000, n_train: int = 5000, n_test: int = 2000,
        epochs: int = 8, min_share: float = MIN_SHARE, per_class: int = 8, batch_size: int = 256) -> dict:
    """Mode coverage of ``ctx``'s subject on the labelled real data ``ctx.data``: a small CNN trained
    here labels ``n`` samples; histograms, coverage, KL, collapse.

    Writes modes.png/.pdf, samples_by_class.png/.pdf, summary.json and arrays.npz into ``ctx.out``;
    returns the summary. Options are the ``gan-viz modes`` options (argparse dest names).
    """
    from gan_viz.images import to_uint8
    from gan_viz.io import save_figure, write_json, write_npz

    for name, v in (("n", n), ("n-train", n_train), ("n-test", n_test), ("epochs", epochs),
                    ("per-class", per_class), ("batch-size", batch_size)):
        if v < 1:
            raise UserError(f"--{name} must be at least 1")
    if not 0 < min_share <= 1:
        raise UserError(f"--min-share {min_share} must lie in (0, 1]")
    S = ctx.subject
    _memory.require("--n-train", n_train, 4 * _memory.image_bytes(S.image_shape), "the labelled real images",
                    fixed=4 * (n + n_test) * _memory.image_bytes(S.image_shape))
    if not S.has_G:
        S.require("G")  # says what is missing
    name, train, test, k = labelled_pair(S, ctx.data, ctx.data_root, n_train, n_test, ctx.seed, attribute)
    clf = train_classifier(train.images, train.labels, k, epochs, ctx.seed)
    z = S.sample_z(n, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, batch_size, ctx.device)
    classes = train.classes if len(train.classes) == k else tuple(str(i) for i in range(k))
    result = compute_modes(clf, fake, test.images, test.labels, classes, min_share)
    ctx.out.mkdir(parents=True, exist_ok=True)
    figures = [p.name for p in save_figure(plot_histogram(result), ctx.out, "modes")]
    figures += [p.name for p in save_figure(plot_by_class(result, to_uint8(fake), per_class), ctx.out,
                                            "samples_by_class")]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=name, attribute=attribute if name == "rooms" else None,
                   classifier=f"SmallCNN, {epochs} epochs on {len(train.labels)} real training images",
                   seed=ctx.seed, figures=figures, notes=used_notes(name, train, test, n_train, n_test))
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", z=z.numpy(), images=fake.numpy(), train_indices=train.indices,
              test_indices=test.indices, test_labels=test.labels, seed=np.array(ctx.seed), **arrays_of(result))
    return summary
