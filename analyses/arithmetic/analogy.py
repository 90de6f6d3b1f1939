"""Does vector arithmetic work? The share of exemplar draws whose Y carries its target attributes.

An analogy such as ``A - B + C`` with ``A=door+picture``, ``B=no-door+picture``,
``C=no-door+no-picture`` predicts, attribute by attribute, what Y should show: the
expression applied to each concept's 1 (present) / 0 (absent) gives door 1 - 0 + 0 = 1
and picture 1 - 1 + 0 = 0, so Y should show a door and no picture. Neither A alone (it
has a picture) nor C alone (no door) passes: only the arithmetic can.

Fig. 7 shows one such Y. Here the analogy is repeated over many independent draws of
exemplars from each concept's *pool* (the samples of one sample sheet that match the
concept, as the instrument reads them; the sheet is generated and parsed once):

- ``z_k``: Y = sum_i c_i mean(z of k exemplars of concept i), for k = 1 and 3 (the
  paper: single samples were unstable, three were stable);
- ``pixel``: the same arithmetic on the exemplar *images* (k = 3), clipped to [-1, 1];
- ``random``: the control. Y = m_base + r, where the base is the expression's last
  concept with a positive coefficient (C in ``A - B + C``) and r a random direction of
  the norm of Y - m_base (the analogy's offset, here mean(A) - mean(B)): the same step
  away from C, in a random orientation (k = 3, the same exemplars as ``z_3``).

A draw succeeds when G(Y) (the image itself for ``pixel``) carries *every* target:
present classes cover at least ``min_fraction`` of the pixels, absent ones less than
``absent_fraction``. The success shares are the figures of merit ``analogy_success_1``,
``analogy_success_3``, ``analogy_success_pixel`` and ``analogy_success_random``
(:func:`gan_viz.analyses.arithmetic.summary.analogy_summary`).

Example:
    >>> targets = analogy_targets(terms, {"A": (("door", True), ("picture", True)), ...})
    >>> pools = concept_pools(fractions, classes, concepts)            # name -> sheet indices
    >>> r = compute_analogy(G, terms, sheet_z, sheet_images, pools, instrument, targets)
    >>> analogy_summary(r)["analogy_success_3"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_viz.errors import UserError
from gan_viz.latent_directions import random_directions

from .compute import _images

Spec = tuple  # ((class name, present: bool), ...): one concept's attributes
KS = (1, 3)  # exemplars per concept of the z-space draws (the paper's claim: 3 is stable, 1 is not)
CONTROL_K = 3  # exemplars per concept of the pixel-space and random-direction draws
DRAWS = 100


def matches(fractions: np.ndarray, class_ids: dict, spec: Spec, min_fraction: float,
            absent_fraction: float) -> np.ndarray:
    """(N,) bool: the rows of ``fractions`` (N, K) that carry every attribute of ``spec``."""
    ok = np.ones(len(fractions), bool)
    for cls, present in spec:
        f = fractions[:, class_ids[cls]]
        ok &= (f >= min_fraction) if present else (f < absent_fraction)
    return ok


def analogy_targets(terms, concepts: dict) -> dict:
    """class -> True (Y should show it) / False (it should not), by the expression applied to the
    concepts' 1 / 0 per class (>= 0.5: present). A class some concept of the expression leaves
    unspecified has no target.

    Args:
        terms: ``parse_expr`` output ((name, coef), ...). concepts: name -> Spec.
    """
    if any(n not in concepts for n, _ in terms):
        return {}
    classes = list(dict.fromkeys(c for n, _ in terms for c, _ in concepts[n]))
    out = {}
    for cls in classes:
        specs = [dict(concepts[n]) for n, _ in terms]
        if all(cls in s for s in specs):
            out[cls] = sum(coef * float(s[cls]) for (_, coef), s in zip(terms, specs)) >= 0.5
    return out


def concept_pools(fractions: np.ndarray, class_names, concepts: dict, min_fraction: float,
                  absent_fraction: float) -> dict:
    """name -> (P,) sheet indices of the samples matching that concept's spec."""
    ids = {c: i for i, c in enumerate(class_names)}
    return {n: np.flatnonzero(matches(fractions, ids, s, min_fraction, absent_fraction)) for n, s in concepts.items()}


def base_term(terms) -> int:
    """Index of the random control's base: the last concept with a positive coefficient (C in A - B + C)."""
    pos = [i for i, (_, c) in enumerate(terms) if c > 0]
    return pos[-1] if pos else len(terms) - 1


@dataclass(frozen=True)
class AnalogyResult:
    """D draws of an analogy (T concepts, K instrument classes)."""

    targets: dict  # class -> present
    terms: tuple  # ((name, coef), ...)
    pool_sizes: dict  # name -> P
    exemplars: dict  # "z_1", "z_3", ... -> (D, T, k) sheet indices
    y: dict  # "z_1", "z_3", "random" -> (D, nz)
    fractions: dict  # "z_1", "z_3", "pixel", "random" -> (D, K) instrument fractions of G(Y) (or the image)
    success: dict  # same keys -> (D,) bool
    class_names: tuple
    min_fraction: float
    absent_fraction: float
    seed: int


def _draw(rng: np.random.Generator, pools: list, k: int, label: list) -> list:
    """One draw: k distinct sheet indices per concept, never one index for two concepts."""
    used: set = set()
    out = []
    for pool, name in zip(pools, label):
        free = np.array([i for i in pool if i not in used], dtype=np.int64)
        if len(free) < k:
            raise UserError(f"concept {name}: {len(pool)} sheet samples match it ({len(free)} not used by the other "
                            f"concepts), {k} needed per draw; raise --samples-n or loosen --min-fraction / "
                            "--absent-fraction")
        pick = rng.choice(free, k, replace=False)
        used.update(int(i) for i in pick)
        out.append(np.sort(pick))
    return out


def compute_analogy(G, terms, sheet_z: torch.Tensor, sheet_images: torch.Tensor, pools: dict, instrument,
                    targets: dict, draws: int = DRAWS, ks=KS, control_k: int = CONTROL_K, seed: int = 0,
                    min_fraction: float = 0.01, absent_fraction: float = 0.005, batch_size: int = 256,
                    device: torch.device | str = "cpu") -> AnalogyResult:
    """Repeat the analogy over ``draws`` independent exemplar draws per k, in pixel space and
    against a same-norm random direction; measure every Y with ``instrument``.

    Args:
        G: a generator module or a Subject. terms: ((name, coef), ...). sheet_z: (N, nz) the sheet.
        sheet_images: (N, C, H, W) its images (for the pixel-space arithmetic).
        pools: name -> sheet indices matching each concept. targets: class -> present (non-empty).
        draws: draws per setting. ks: exemplars per concept of the z-space draws.
        control_k: exemplars of the pixel and random settings (they reuse the z_{control_k} draws
            where control_k is in ks). seed: the draws and the random directions.
    Returns:
        An :class:`AnalogyResult`.
    """
    if not targets:
        raise UserError("the analogy has no target attribute: every concept of the expression must name the classes")
    if draws < 1:
        raise UserError(f"--draws {draws}: must be at least 1")
    names, coefs = [n for n, _ in terms], torch.tensor([c for _, c in terms], dtype=torch.float64)
    rng = np.random.default_rng([seed, 17])
    ex, y = {}, {}
    for k in sorted(set(ks) | {control_k}):
        ex[f"z_{k}"] = np.stack([np.stack(_draw(rng, [pools[n] for n in names], k, names)) for _ in range(draws)])
        means = sheet_z.double()[torch.from_numpy(ex[f"z_{k}"])].mean(2)  # (D, T, nz)
        y[f"z_{k}"] = (coefs[None, :, None] * means).sum(1)  # (D, nz)
    ctrl = ex[f"z_{control_k}"]
    means = sheet_z.double()[torch.from_numpy(ctrl)].mean(2)  # (D, T, nz)
    b = base_term(terms)
    offset = y[f"z_{control_k}"] - means[:, b]  # (D, nz)
    r = random_directions(draws, sheet_z.shape[1], 1.0, seed + 1).double()  # (D, nz) unit
    y["random"] = means[:, b] + r * offset.norm(dim=1, keepdim=True)
    # one draw at a time: a (draws, T, k, C, H, W) float64 tensor would not fit for large --draws
    pix = torch.stack([(coefs[:, None, None, None] * sheet_images[torch.from_numpy(c)].double().mean(1)).sum(0)
                       for c in ctrl])  # (D, C, H, W)
    keys = [f"z_{k}" for k in ks] + ["random"]
    flat = torch.cat([y[key] for key in keys]).float()
    fr_all = instrument.class_fractions(_images(G, flat, batch_size, device)).numpy().astype(np.float64)
    fractions = {key: fr_all[i * draws:(i + 1) * draws] for i, key in enumerate(keys)}
    fractions["pixel"] = instrument.class_fractions(pix.clamp(-1, 1).float()).numpy().astype(np.float64)
    ids = {c: i for i, c in enumerate(instrument.class_names)}
    spec = tuple(targets.items())
    success = {key: matches(f, ids, spec, min_fraction, absent_fraction) for key, f in fractions.items()}
    return AnalogyResult(dict(targets), tuple(terms), {n: int(len(pools[n])) for n in names},
                         {key: ex[key] for key in ex}, {key: v.float().numpy() for key, v in y.items()
                                                        if key in keys}, fractions, success,
                         tuple(instrument.class_names), float(min_fraction), float(absent_fraction), int(seed))


def analogy_arrays(r: AnalogyResult) -> dict:
    """What recomputes the figures of merit: exemplar indices, Y, fractions and successes per setting."""
    out = {f"analogy_exemplars_{k}": v for k, v in r.exemplars.items()}
    out.update({f"analogy_y_{k}": v for k, v in r.y.items()})
    out.update({f"analogy_fractions_{k}": v.astype(np.float32) for k, v in r.fractions.items()})
    out.update({f"analogy_success_{k}": v for k, v in r.success.items()})
    return out
