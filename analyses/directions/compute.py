"""``gan-viz directions``: find directions four ways, judge them all on fresh z: tensors in, a frozen result out.

:func:`compute_directions` finds (``find.py``) exemplar-mean and InterFaceGAN directions for every
concept the selecting instrument scores, GANSpace components at a G layer and SeFa eigenvectors of
G's first linear map from z; then walks every direction and ``n_random`` random ones of the same
norm on fresh z and reads the held-out judge along them (``judge.py``). Unsupervised directions are
named after the class the judge says they move most and oriented to raise it.

Example:
    >>> r = compute_directions(S, find_z, scores, ("wall", "window"), ("window",), judge, eval_z, Settings())
    >>> r.keys[:2]
    ('window/exemplar', 'window/interfacegan')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gan_viz.errors import UserError
from gan_viz.latent_directions import random_directions

from . import find, judge as J

METHODS = ("exemplar", "interfacegan", "ganspace", "sefa")
SUPERVISED = ("exemplar", "interfacegan")


@dataclass(frozen=True)
class Settings:
    """How directions are found and judged (the command's options, checked by the runner)."""

    methods: tuple = METHODS
    share: float = 0.2  # top / bottom share of the finding samples per concept
    val_share: float = 0.2  # of each group, held out to validate the SVM
    exemplars: int | None = None  # exemplar means over the k most extreme of each group (None: all of them)
    C: float = 0.1  # the SVM's regularisation
    components: int = 6  # GANSpace / SeFa directions
    layer: str | None = None  # GANSpace's layer (None: G's first layer)
    t: float = 1.0  # the walk's half-length in z units (directions have unit norm)
    steps: int = 5  # alphas from -t to t (odd: 0 is one of them)
    n_random: int = 10
    grid_rows: int = 4
    seed: int = 0
    batch_size: int = 256
    device: str = "cpu"

    @property
    def alphas(self) -> np.ndarray:
        return np.linspace(-self.t, self.t, self.steps)


@dataclass(frozen=True)
class DirectionsResult:
    """D directions (unit norm) and R random ones, judged at A alphas by a judge of K classes."""

    keys: tuple  # (D,) "window/interfacegan", "ganspace/0", ...
    methods: tuple  # (D,) the method of each
    concepts: tuple  # (D,) target concept (supervised) or the judge's name (unsupervised; None unjudged)
    vectors: np.ndarray  # (D, nz) unit norm, oriented to raise the concept
    info: tuple  # (D,) dict per direction: validation accuracy, explained variance, eigenvalue, ...
    random_vectors: np.ndarray  # (R, nz) unit norm
    alphas: np.ndarray  # (A,) symmetric about 0
    eval_z: np.ndarray  # (N, nz) fresh z, never used for finding
    grid: np.ndarray  # (D + R, rows, A, C, H, W) G(eval_z[:rows] + alpha v)
    settings: Settings
    layer: str | None = None  # GANSpace's layer where it ran
    sefa_layer: str | None = None
    refused: dict = field(default_factory=dict)  # method -> why it did not run
    class_names: tuple = ()  # the judge's classes (empty: no judge)
    curves: np.ndarray | None = None  # (D, A, K) judged mean fractions
    random_curves: np.ndarray | None = None  # (R, A, K)
    slopes: np.ndarray | None = None  # (D, K)
    random_slopes: np.ndarray | None = None  # (2R, K): the randoms and their negatives
    band: np.ndarray | None = None  # (K,)
    band_comparisons: int | None = None  # (direction, class) slopes held against the band
    band_sd: float | None = None  # the band's multiple of the random slopes' sd (judge.band_multiple)


def _supervised(find_z, scores, classes, concepts, s: Settings) -> list:
    """(key, method, concept, unit vector, info) of exemplar means and InterFaceGAN per concept."""
    out = []
    z64 = find_z.double().numpy()
    for c in concepts:
        g = find.concept_groups(scores[:, classes.index(c)], s.share, s.val_share, s.seed)
        groups = {"plus_train": len(g["plus"][0]), "minus_train": len(g["minus"][0]),
                  "plus_val": len(g["plus"][1]), "minus_val": len(g["minus"][1])}
        if "exemplar" in s.methods:
            v = find.exemplar_direction(find_z, g["plus"][0], g["minus"][0], s.exemplars)
            out.append((f"{c}/exemplar", "exemplar", c, v, {**groups, "exemplars": s.exemplars}))
        if "interfacegan" in s.methods:
            v, tr, va = find.svm_direction(z64, g, s.C, s.seed)
            out.append((f"{c}/interfacegan", "interfacegan", c, v,
                        {**groups, "train_accuracy": tr, "val_accuracy": va, "C": s.C}))
    return out


def _activations(S, z: torch.Tensor, layer: str, s: Settings) -> torch.Tensor:
    from gan_viz.hooks import capture

    G = S.require("G")
    parts = []
    with torch.no_grad():
        for i in range(0, len(z), s.batch_size):
            with capture(G, [layer], prefix="G") as acts:
                G(S.as_input(z[i:i + s.batch_size]).to(s.device))
            parts.append(acts[layer].flatten(1).double().cpu())
    return torch.cat(parts)


def _unsupervised(S, find_z, layer, s: Settings, refused: dict) -> tuple[list, str | None]:
    """GANSpace components at ``layer`` and SeFa eigenvectors (where G has a first linear map from z)."""
    out, sefa_layer = [], None  # (directions, SeFa's layer); GANSpace's layer goes in its directions' info
    if "ganspace" in s.methods:
        from gan_viz.layers import probe_input
        from gan_viz.sources import evaluating

        if layer is None:
            first = find.first_weighted_call(*probe_input(S, "G"))
            if first is None:
                raise UserError("G has no layer with weights for GANSpace to read; name one (see gan-viz layers)")
            layer = first.address
        with evaluating(S.require("G")):
            acts = _activations(S, find_z, layer, s)
        dirs, ratio = find.ganspace_directions(acts, find_z, s.components)
        out += [(f"ganspace/{i}", "ganspace", None, v, {"explained_variance": float(r), "layer": layer})
                for i, (v, r) in enumerate(zip(dirs, ratio))]
    if "sefa" in s.methods:
        try:
            sefa_layer, A = find.first_linear_map(S)
        except UserError as e:
            refused["sefa"] = str(e)
        else:
            dirs, lam = find.sefa_directions(A, s.components)
            out += [(f"sefa/{i}", "sefa", None, v, {"eigenvalue": float(x), "layer": sefa_layer})
                    for i, (v, x) in enumerate(zip(dirs, lam))]
    return out, sefa_layer


def compute_directions(S, find_z: torch.Tensor, scores: np.ndarray | None, classes: tuple, concepts: tuple,
                       judge, eval_z: torch.Tensor, s: Settings, layer: str | None = None) -> DirectionsResult:
    """Find directions on ``find_z`` (N, nz) and judge them on ``eval_z`` (M, nz).

    Args:
        S: the Subject. scores: (N, K') the selecting instrument's class fractions of G(find_z), with
            its ``classes``; None without an instrument (the supervised methods are then refused).
        concepts: the classes the supervised methods find directions for.
        judge: the held-out Instrument reading the walks, or None (nothing judged or named).
        s: :class:`Settings`. layer: GANSpace's G layer (checked by the caller; None: G's first layer).
    """
    refused = {}
    found = _supervised(find_z, scores, classes, concepts, s) if scores is not None else []
    if scores is None:
        refused.update({m: "no instrument to score the finding samples" for m in SUPERVISED if m in s.methods})
    more, sefa_layer = _unsupervised(S, find_z, layer, s, refused)
    found += more
    if not found:
        raise UserError("no direction to judge: " + "; ".join(f"{m}: {w}" for m, w in refused.items()))
    nz = find_z.shape[1]
    rand = random_directions(s.n_random, nz, 1.0, s.seed + 1).double().numpy()
    vecs = np.stack([f[3] for f in found])
    gen = lambda z: S.images(z, s.batch_size, s.device)  # noqa: E731
    curves, grid = J.effect_curves(gen, eval_z, np.concatenate([vecs, rand]), s.alphas, judge, s.grid_rows,
                                   s.batch_size)
    keys, methods, names, info = ([f[i] for f in found] for i in (0, 1, 2, 4))
    res = dict(keys=tuple(keys), methods=tuple(methods), info=tuple(info), random_vectors=rand,
               alphas=s.alphas, eval_z=eval_z.float().numpy(), settings=s,
               layer=next((i["layer"] for i in info if "explained_variance" in i), None), sefa_layer=sefa_layer,
               refused=refused)
    if judge is None:
        return DirectionsResult(concepts=tuple(names), vectors=vecs, grid=grid, **res)
    return _judged(res, names, vecs, grid, curves, judge.class_names, len(found))


def _judged(res: dict, names: list, vecs: np.ndarray, grid: np.ndarray, curves: np.ndarray, classes,
            n: int) -> DirectionsResult:
    """Slopes, the random band, and naming + orientation of the unsupervised directions."""
    alphas = res["alphas"]
    sl = J.slopes(curves, alphas)  # (D + R, K)
    m = n * len(classes)  # every direction on every class
    both, band = J.random_band(sl[n:], comparisons=m)
    curves, sl, grid, vecs = curves.copy(), sl.copy(), grid.copy(), vecs.copy()
    for i in range(n):
        if names[i] is None:  # unsupervised: the judge names it and it is turned to raise that class
            k, _ = J.name_of(sl[i], band)
            names[i] = classes[k]
            if sl[i, k] < 0:  # alphas are symmetric: -v walks the same images in reverse
                vecs[i], sl[i], curves[i], grid[i] = -vecs[i], -sl[i], curves[i, ::-1], grid[i, :, ::-1]
    return DirectionsResult(concepts=tuple(names), vectors=vecs, grid=grid, class_names=tuple(classes),
                            curves=curves[:n], random_curves=curves[n:], slopes=sl[:n], random_slopes=both,
                            band=band, band_comparisons=m, band_sd=J.band_multiple(len(sl) - n, m), **res)
