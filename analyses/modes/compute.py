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
    >>> clf = train_classifier(train.images, train.labels, 10, seed=0)
    >>> r = compute_modes(clf, fake_images, test.images, test.labels)
    >>> r.covered_corrected.sum(), r.collapsed
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .classifier import predict_proba

MIN_SHARE = 0.2
PSEUDO_COUNT = 0.5
MIN_RECALL = 0.3  # below this held-out recall of a class, its corrected share is not trusted
MAX_CONDITION = 30.0  # condition number of the confusion matrix beyond which the correction is unstable


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
