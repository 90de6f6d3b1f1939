"""The four ways of finding directions in z: exemplar means, InterFaceGAN, GANSpace, SeFa (pure computation).

- :func:`concept_groups`: the samples the selecting instrument scores highest and lowest in a concept,
  each split into train and validation parts (seeded).
- :func:`exemplar_direction`: the paper's Figs. 7-8 direction, mean z of the high group minus the low
  group's (:func:`gan_viz.latent_directions.mean_difference`, the code ``gan-viz arithmetic`` walks).
- :func:`svm_direction`: InterFaceGAN (Shen et al. 2020): the normal of a linear SVM separating the two
  groups in z, with its validation accuracy.
- :func:`ganspace_directions`: GANSpace (Haerkonen et al. 2020) for a non-style GAN: PCA of a layer's
  activations on N samples, each component's coordinates regressed back to z by least squares.
- :func:`first_linear_map` and :func:`sefa_directions`: SeFa (Shen & Zhou 2021): the top eigenvectors
  of A^T A, A the weight of the first layer that maps z linearly (a Linear, or a convolution on a
  1x1 z such as a DCGAN's first ConvTranspose2d), read off the layer by applying it to basis vectors.

Every direction is returned with unit norm (nz,), float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gan_viz.errors import UserError
from gan_viz.latent_directions import mean_difference

LINEAR_MAPS = (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def concept_groups(scores: np.ndarray, share: float, val_share: float, seed: int) -> dict:
    """Indices of the top and bottom ``share`` of ``scores`` (N,), each shuffled (seed) and split into
    ``train`` / ``val`` parts (``val_share`` of each group): ``{"plus": (train, val), "minus": (train, val)}``
    with each part ordered from the most extreme score. Ties are broken by sample index."""
    n = len(scores)
    k = int(round(share * n))
    if k < 2:
        raise UserError(f"--share {share} of {n} samples leaves fewer than 2 per group; raise --n-find or --share")
    order = np.lexsort((np.arange(n), -np.asarray(scores)))  # high first, ties by index
    rng = np.random.default_rng(seed)
    n_val = int(round(val_share * k))
    out = {}
    for name, idx in (("plus", order[:k]), ("minus", order[::-1][:k])):
        is_val = np.zeros(k, dtype=bool)
        is_val[rng.permutation(k)[:n_val]] = True
        out[name] = (idx[~is_val].astype(np.int64), idx[is_val].astype(np.int64))
    return out


def exemplar_direction(z: torch.Tensor, plus: np.ndarray, minus: np.ndarray, k: int | None = None) -> np.ndarray:
    """(nz,) unit: mean z of ``plus`` minus mean z of ``minus`` (their ``k`` most extreme where given)."""
    p, m = (plus, minus) if k is None else (plus[:k], minus[:k])
    return _unit(mean_difference(z[torch.from_numpy(p)], z[torch.from_numpy(m)]).double().numpy())


def svm_direction(z: np.ndarray, groups: dict, C: float, seed: int) -> tuple[np.ndarray, float, float]:
    """InterFaceGAN: (unit normal of a linear SVM high vs low (nz,), train accuracy, validation accuracy;
    NaN without a validation split). z is not standardised: the normal is a direction of z itself."""
    from sklearn.svm import LinearSVC

    (pt, pv), (mt, mv) = groups["plus"], groups["minus"]
    X = np.concatenate([z[pt], z[mt]]).astype(np.float64)
    y = np.r_[np.ones(len(pt)), np.zeros(len(mt))]
    clf = LinearSVC(C=C, loss="squared_hinge", dual=False, max_iter=5000, random_state=seed).fit(X, y)
    train = float((clf.predict(X) == y).mean())
    if len(pv) and len(mv):
        Xv, yv = np.concatenate([z[pv], z[mv]]).astype(np.float64), np.r_[np.ones(len(pv)), np.zeros(len(mv))]
        val = float((clf.predict(Xv) == yv).mean())
    else:
        val = float("nan")
    return _unit(clf.coef_[0]), train, val


def ganspace_directions(acts: torch.Tensor, z: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace: PCA of ``acts`` (N, F), the top ``k`` components' coordinates c (N, k) regressed back to
    z (N, nz) by least squares (zc ~ c B); returns (unit rows of B (k, nz), explained variance ratios (k,)).
    The PCA runs on the N x N Gram matrix (F may be large), in float64."""
    X = acts.flatten(1).double()
    X = X - X.mean(0)
    zc = z.double() - z.double().mean(0)
    gram = X @ X.T  # (N, N)
    lam, U = torch.linalg.eigh(gram)
    lam, U = lam.flip(0)[:k].clamp_min(0), U.flip(1)[:, :k]  # descending
    if k > len(lam) or float(lam[-1]) <= 0:
        raise UserError(f"--components {k}: the activations have fewer than {k} directions of variance on "
                        f"{len(X)} samples; lower --components or raise --n-find")
    c = U * lam.sqrt()  # (N, k) PCA coordinates, orthogonal columns
    B = torch.linalg.lstsq(c, zc).solution  # (k, nz)
    ratio = lam / torch.trace(gram).clamp_min(1e-30)
    return np.stack([_unit(b) for b in B.numpy()]), ratio.numpy()


def _input_of(module: nn.Module, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    h = module.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()) if not seen else None)
    try:
        with torch.no_grad():
            net(x)
    finally:
        h.remove()
    return seen[0]


def first_weighted_call(G: nn.Module, x: torch.Tensor):
    """The first call of a leaf module with its own weights in one traced forward of ``G`` on ``x``
    (a :class:`gan_viz.layers.Call`), or None: G's first layer (GANSpace's default, SeFa's A)."""
    from gan_viz.layers import trace

    return next((c for c in trace(G, x) if next(c.module.children(), None) is None
                 and any(True for _ in c.module.parameters(recurse=False))), None)


def first_linear_map(subject) -> tuple[str, np.ndarray]:
    """(dotted name, A (out, nz) float64) of G's first layer when it maps z linearly (SeFa's A): the
    first module with weights that G's forward calls is a Linear or a convolution, and its input is z
    itself (as G takes it, e.g. (N, nz, 1, 1)). Raises UserError with the reason otherwise."""
    from gan_viz.sources import evaluating

    if subject.G is None:
        raise UserError("SeFa needs G's weights, and this model is a generate callable without a module")
    G = subject.G
    p = next(iter(G.parameters()), None)
    z = subject.as_input(subject.sample_z(2, torch.Generator().manual_seed(0)))
    z = z.to(p.device, p.dtype) if p is not None else z
    first = first_weighted_call(G, z)
    if first is None or not isinstance(first.module, LINEAR_MAPS):
        what = "no layer with weights" if first is None else f"{first.name} ({type(first.module).__name__})"
        raise UserError(f"G's first layer with weights is {what}, not a Linear or convolution on z; SeFa "
                        "needs a linear first layer from z")
    m = first.module
    with evaluating(G):
        inp = _input_of(m, G, z)
    if inp.numel() != z.numel() or not torch.allclose(inp.flatten(1), z.flatten(1)):
        raise UserError(f"G's first layer {first.name} does not take z itself (its input has shape "
                        f"{tuple(inp.shape[1:])}); SeFa needs a linear first layer from z")
    nz = subject.nz
    with torch.no_grad():
        basis = torch.eye(nz, dtype=inp.dtype, device=inp.device).reshape(nz, *inp.shape[1:])
        zero = m(torch.zeros_like(basis[:1]))
        A = (m(basis) - zero).flatten(1).T.double().cpu()  # (out, nz)
        check = (m(inp) - zero).flatten(1).double().cpu()
    if not torch.allclose(check, inp.flatten(1).double().cpu() @ A.T, atol=1e-4, rtol=1e-3):
        raise UserError(f"G's first layer {first.name} is not linear in z; SeFa needs a linear first layer")
    return first.name, A.numpy()


def sefa_directions(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """SeFa: the top ``k`` eigenvectors of A^T A (k, nz) and their eigenvalues (k,), descending."""
    if not 1 <= k <= A.shape[1]:
        raise UserError(f"--components {k}: SeFa has {A.shape[1]} eigenvectors (nz); choose 1 to {A.shape[1]}")
    lam, V = np.linalg.eigh(A.T @ A)
    order = np.argsort(-lam, kind="stable")[:k]
    return np.stack([_unit(V[:, i]) for i in order]), lam[order]
