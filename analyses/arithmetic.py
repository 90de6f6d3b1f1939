"""Vector arithmetic on z (paper Figs. 7 and 8), measured with a concept instrument.

Fig. 7: each concept of an expression such as ``A - B + C`` is the mean z of a few
exemplars (three in the paper: single samples were unstable); the arithmetic on the
means gives Y, generated together with 8 samples of Y plus uniform noise in
[-0.25, 0.25]. The same arithmetic on the exemplar *images* (pixel space) is shown
beside it: the paper's contrast (pixel arithmetic gives noisy overlaps).

Fig. 8: a direction is the mean z of one group minus the mean z of another (rooms with
vs without a window); walking along it changes that attribute. Measured here (with an
instrument, :mod:`gan_viz.instruments`: the rooms parser for a rooms model, or the
user's ``--segmenter``): the pixel fraction of the concept on fresh samples before
(alpha 0) and after adding the direction (alpha 1), beside control directions of the
same norm in random orientations. Without an instrument the arithmetic and the walk
run unmeasured (the summary says why).

Exemplars are addressed by index in a *sample sheet*: the z that ``gan-viz generate
--n N --seed S`` draws (:func:`sample_sheet`), or the rows of a z file. A concept can
also be picked by the instrument (``window``: the sheet samples with the most window
pixels; ``no-window``: samples with none; ``window+no-bed``: both at once); that needs
one, and is refused without.

Does the arithmetic work? With concepts picked by the instrument, the analogy is repeated
over many independent exemplar draws from the sheet, for 1 and 3 exemplars per concept,
in pixel space and with a random direction of the same norm
(:mod:`gan_viz.analyses.arithmetic_analogy`: ``analogy_success_*``). The default (no
expression given) is a two-attribute analogy, ``DEFAULT_CONCEPTS``.

The registered runner :func:`run` (``gan-viz arithmetic``) takes any subject with a generator.

Example:
    >>> terms = parse_expr("A - B + C")            # (("A", 1.0), ("B", -1.0), ("C", 1.0))
    >>> r = compute_arithmetic(G, terms, [zA, zB, zC], noise=0.25, n_noisy=8, seed=0)
    >>> r.result_images.shape[0]                   # Y and its 8 noisy neighbours
    9
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from gan_viz.analyses import arithmetic_analogy as AN
from gan_viz.analyses.registry import register
from gan_viz.config import ModelConfig
from gan_viz.subject import Subject, generate_images
from gan_viz.errors import UserError
from gan_viz.models import sample_z

NAMES = "ABCDEFGH"  # concept names an expression may use (one option --A ... --H each)
ABSENT = 0.005  # a class is absent below 0.5% of the pixels (5 at 32x32: parser specks on real rooms without one)
PRESENT = 0.01  # ... and present from 1%
_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z]\w*)\s*")


# --- inputs ---------------------------------------------------------------------------

def sample_sheet(subject, n: int, seed: int) -> torch.Tensor:
    """The z of sample sheet (n, seed): row i is sample i of ``gan-viz generate --n n --seed seed``.
    ``subject``: a Subject or a gan-viz ModelConfig."""
    if n < 1:
        raise UserError(f"--samples-n {n}: the sample sheet needs at least 1 sample")
    gen = torch.Generator().manual_seed(seed)
    return sample_z(subject, n, gen) if isinstance(subject, ModelConfig) else subject.sample_z(n, gen)


def _images(G, z: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """G(z), batched, in eval mode: a Subject's images, or a module's."""
    if isinstance(G, Subject):
        return G.images(z, batch_size, device)
    return generate_images(G, z, batch_size, device)


def parse_expr(text: str) -> tuple[tuple[str, float], ...]:
    """``"A - B + C"`` -> ``(("A", 1.0), ("B", -1.0), ("C", 1.0))``; ``"2*A - 0.5B"`` has coefficients.

    Concept names are single capital letters A-H, each used once. Nothing is evaluated.
    """
    terms, pos, text = [], 0, text or ""
    while pos < len(text) and text[pos:].strip():
        m = _TERM.match(text, pos)
        if not m or m.end() == pos or (terms and not m.group(1)):
            raise UserError(f"cannot read expression {text!r} near {text[pos:].strip()[:10]!r}; "
                            "write terms like 'A - B + C' (names A-H, optional coefficients '0.5*A')")
        sign, coef, name = m.groups()
        if name not in NAMES:
            raise UserError(f"unknown concept {name!r} in {text!r}; use the names {', '.join(NAMES)}")
        if name in dict(terms):
            raise UserError(f"concept {name} appears twice in {text!r}; combine its coefficients")
        terms.append((name, (-1.0 if sign == "-" else 1.0) * float(coef or 1.0)))
        pos = m.end()
    if not terms:
        raise UserError("the expression is empty; write terms like 'A - B + C'")
    return tuple(terms)


def parse_indices(text: str, name: str, n: int) -> list[int]:
    """``"12,40,77"`` or ``"3-5"`` -> indices into a sheet of ``n`` samples, checked."""
    out = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise UserError(f"--{name} {text!r} is not a list of sheet indices like 12,40,77 or 3-5") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise UserError(f"--{name}: index {bad[0]} is beyond the sample sheet of {n} (valid 0-{n - 1}); "
                        "pick another or raise --samples-n")
    if len(set(out)) != len(out):
        raise UserError(f"--{name} {text!r} repeats an index; list each exemplar once")
    return out


def parse_concepts(text: str, classes) -> dict[str, tuple]:
    """``"A=window+bed,B=no-window+bed"`` -> ``{"A": (("window", True), ("bed", True)),
    "B": (("window", False), ("bed", True))}``: each concept a combination of classes present
    (``CLASS``) or absent (``no-CLASS``), joined by ``+``."""
    out: dict[str, tuple] = {}
    for item in (text or "").split(","):
        name, eq, spec = (s.strip() for s in item.partition("="))
        if not eq or name not in NAMES or not spec:
            raise UserError(f"--concepts item {item.strip()!r} is not NAME=CLASS, NAME=no-CLASS or a combination "
                            f"like NAME=CLASS+no-CLASS (names {', '.join(NAMES)}), e.g. A=window+bed,B=no-window+bed")
        attrs = []
        for part in (s.strip() for s in spec.split("+")):
            present = not part.startswith("no-")
            cls = part if present else part[3:]
            if cls not in classes:
                raise UserError(f"--concepts {name}={spec}: unknown class {cls!r}; the instrument knows "
                                f"{', '.join(classes)}")
            if cls in dict(attrs):
                raise UserError(f"--concepts {name}={spec} names {cls} twice")
            attrs.append((cls, present))
        if name in out:
            raise UserError(f"--concepts defines {name} twice")
        out[name] = tuple(attrs)
    return out


def spec_label(spec) -> str:
    """``(("window", True), ("bed", False))`` -> ``"window+no-bed"``."""
    return "+".join(f"{'' if p else 'no-'}{c}" for c, p in spec)


def pick_exemplars(fractions: np.ndarray, class_id: int, present: bool, k: int, exclude=(),
                   min_fraction: float = PRESENT, label: str = "", absent_fraction: float = ABSENT) -> list[int]:
    """Sheet indices of ``k`` samples with a class (most of its pixels first) or without it.

    Args:
        fractions: (N, K) parser class fractions of the sheet. class_id: the class.
        present: True = has the class (>= min_fraction), most first; False = lacks it
            (< absent_fraction), fewest first.
        k: how many. exclude: indices already used by other concepts.
    Returns:
        ``k`` indices; raises :class:`UserError` when fewer samples qualify.
    """
    return pick_matching(fractions, ((class_id, present),), k, exclude, min_fraction, label, absent_fraction)


def pick_matching(fractions: np.ndarray, spec, k: int, exclude=(), min_fraction: float = PRESENT,
                  label: str = "", absent_fraction: float = ABSENT) -> list[int]:
    """Sheet indices of ``k`` samples carrying every attribute of ``spec`` ((class id, present), ...):
    present classes >= ``min_fraction`` of the pixels (the largest smallest share first), absent
    ones < ``absent_fraction`` (then the fewest of their pixels first). Raises :class:`UserError`
    when fewer than ``k`` unused samples qualify."""
    ok = np.ones(len(fractions), bool)
    for c, present in spec:
        ok &= (fractions[:, c] >= min_fraction) if present else (fractions[:, c] < absent_fraction)
    ok[list(exclude)] = False
    cand = np.nonzero(ok)[0]
    pres = [c for c, p in spec if p]
    key = (-fractions[np.ix_(cand, pres)].min(1) if pres else
           fractions[np.ix_(cand, [c for c, _ in spec])].sum(1))
    order = cand[np.argsort(key, kind="stable")]
    if len(order) < k:
        rules = "; ".join(f"{'>=' if p else '<'} {min_fraction if p else absent_fraction:.2%} of the pixels "
                          f"(the sheet ranges {fractions[:, c].min():.2%}-{fractions[:, c].max():.2%})"
                          for c, p in spec)
        opts = " / ".join(dict.fromkeys("--min-fraction" if p else "--absent-fraction" for _, p in spec))
        raise UserError(f"concept {label}: only {len(order)} unused sheet samples of {len(fractions)} qualify "
                        f"({rules}), {k} needed; raise --samples-n, lower --exemplars or loosen {opts}")
    return [int(i) for i in order[:k]]


# --- Fig. 7: arithmetic on concept means ---------------------------------------------

@dataclass(frozen=True)
class ArithmeticResult:
    """Vector arithmetic on T concepts with k_i exemplars each (E = sum k_i)."""

    names: tuple  # (T,) concept names in expression order
    coefs: np.ndarray  # (T,) coefficients
    exemplar_z: np.ndarray  # (E, nz)
    owner: np.ndarray  # (E,) index of the concept of each exemplar
    exemplar_images: np.ndarray  # (E, C, H, W)
    mean_z: np.ndarray  # (T, nz) per-concept mean z
    mean_images: np.ndarray  # (T, C, H, W) G(mean z)
    y: np.ndarray  # (nz,) sum_i coef_i * mean_z_i
    noisy_z: np.ndarray  # (n, nz) Y + U(-noise, noise)
    result_images: np.ndarray  # (1 + n, C, H, W): G(Y) first, then the noisy ones
    pixel_means: np.ndarray  # (T, C, H, W) mean exemplar image per concept
    pixel_result: np.ndarray  # (C, H, W) sum_i coef_i * pixel_means_i, clipped to [-1, 1]
    noise: float
    seed: int
    fractions: dict | None = None  # "exemplars"/"means"/"results"/"pixel" -> (M, K) parser fractions
    class_names: tuple = ()


def noisy_around(y: torch.Tensor, n: int, scale: float, seed: int) -> torch.Tensor:
    """(n, nz): ``y`` plus independent uniform noise in [-scale, scale] (the paper: 0.25)."""
    u = torch.rand(n, y.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (y.double()[None] + (2 * u - 1) * scale).float()


def compute_arithmetic(G, terms, exemplar_z: list, noise: float = 0.25, n_noisy: int = 8,
                       seed: int = 0, instrument=None, batch_size: int = 256,
                       device: torch.device | str = "cpu") -> ArithmeticResult:
    """Arithmetic on per-concept mean z, and the same arithmetic in pixel space.

    Args:
        G: the generator module or a Subject. terms: ``parse_expr`` output ((name, coef), ...).
        exemplar_z: one (k_i, nz) tensor per term, in term order (k_i >= 1).
        noise: half-width of the uniform noise added to Y. n_noisy: noisy samples.
        seed: seed of that noise. instrument: an Instrument (``class_fractions``, ``class_names``)
            for class fractions, or None.
    Returns:
        An :class:`ArithmeticResult`.
    """
    if len(exemplar_z) != len(terms) or any(len(z) == 0 for z in exemplar_z):
        raise UserError("every concept of the expression needs at least one exemplar")
    if noise < 0 or n_noisy < 0:
        raise UserError(f"--noise {noise} and --noisy {n_noisy} must not be negative")
    coefs = torch.tensor([c for _, c in terms], dtype=torch.float64)
    ex = torch.cat(exemplar_z).float()  # (E, nz)
    owner = torch.cat([torch.full((len(z),), i) for i, z in enumerate(exemplar_z)])
    means = torch.stack([z.double().mean(0) for z in exemplar_z])  # (T, nz)
    y = (coefs[:, None] * means).sum(0).float()  # (nz,) the z that G sees
    noisy = noisy_around(y, n_noisy, noise, seed)
    gen = lambda z: _images(G, z.float(), batch_size, device)  # noqa: E731
    ex_img, mean_img, res_img = gen(ex), gen(means), gen(torch.cat([y[None], noisy]))
    pix = torch.stack([ex_img[owner == i].double().mean(0) for i in range(len(terms))])  # (T, C, H, W)
    pixel_result = (coefs[:, None, None, None] * pix).sum(0).clamp(-1, 1).float()
    fr = None
    if instrument is not None:
        f = lambda x: instrument.class_fractions(x).numpy().astype(np.float64)  # noqa: E731
        fr = {"exemplars": f(ex_img), "means": f(mean_img), "results": f(res_img), "pixel": f(pixel_result[None])}
    return ArithmeticResult(
        names=tuple(n for n, _ in terms), coefs=coefs.numpy(), exemplar_z=ex.numpy(), owner=owner.numpy(),
        exemplar_images=ex_img.numpy(), mean_z=means.float().numpy(), mean_images=mean_img.numpy(),
        y=y.numpy(), noisy_z=noisy.numpy(), result_images=res_img.numpy(), pixel_means=pix.float().numpy(),
        pixel_result=pixel_result.numpy(), noise=float(noise), seed=int(seed), fractions=fr,
        class_names=tuple(instrument.class_names) if instrument is not None else ())


# --- Fig. 8: directions ---------------------------------------------------------------

@dataclass(frozen=True)
class DirectionResult:
    """A direction d = mean(plus) - mean(minus), walked and measured (A alphas, N eval samples)."""

    d: np.ndarray  # (nz,)
    plus_z: np.ndarray  # (m+, nz)
    minus_z: np.ndarray  # (m-, nz)
    alphas: np.ndarray  # (A,) multiples of d
    bases: np.ndarray  # (B, nz) rows of the walk figure
    walk_images: np.ndarray  # (B, A, C, H, W): G(base + alpha d)
    eval_z: np.ndarray  # (N, nz) fresh samples for the measurement
    controls: np.ndarray  # (R, nz) random directions, |r| = |d|
    seed: int
    fractions: np.ndarray | None = None  # (A, N, K) along d
    control_fractions: np.ndarray | None = None  # (R, A, N, K) along the controls
    class_names: tuple = ()


def random_directions(n: int, nz: int, norm: float, seed: int) -> torch.Tensor:
    """(n, nz) directions uniform on the sphere of radius ``norm`` (normalised Gaussians)."""
    g = torch.randn(n, nz, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (g / g.norm(dim=1, keepdim=True) * norm).float()


def compute_direction(G, plus_z: torch.Tensor, minus_z: torch.Tensor, alphas, bases: torch.Tensor,
                      eval_z: torch.Tensor, instrument=None, n_controls: int = 3, seed: int = 0,
                      batch_size: int = 256, device: torch.device | str = "cpu") -> DirectionResult:
    """Walk along d = mean(plus_z) - mean(minus_z) and measure it against random directions.

    Args:
        G: the generator module or a Subject. plus_z, minus_z: (m, nz) the two groups.
        alphas: multiples of d. bases: (B, nz) starting points of the walk figure.
        eval_z: (N, nz) samples measured at every alpha (with an instrument).
        instrument: an Instrument, or None. n_controls: random directions of the same norm, in
            opposite pairs (r, -r) (an odd count ends with a lone r).
        seed: seed of the control directions.
    Returns:
        A :class:`DirectionResult`; ``fractions`` only with an instrument.
    """
    if len(plus_z) == 0 or len(minus_z) == 0:
        raise UserError("a direction needs at least one exemplar on each side")
    d = (plus_z.double().mean(0) - minus_z.double().mean(0)).float()  # (nz,)
    a = torch.tensor([float(x) for x in alphas])
    walk_z = bases[:, None, :] + a[None, :, None] * d  # (B, A, nz)
    walk = _images(G, walk_z.flatten(0, 1), batch_size, device)
    walk = walk.reshape(len(bases), len(a), *walk.shape[1:])
    # antithetic controls, r and -r: their mean effect on a smooth attribute cancels to first order, so it
    # estimates "no direction" better than independent draws; their spread is the noise floor
    half = random_directions((n_controls + 1) // 2, d.numel(), float(d.norm()), seed)
    ctrl = torch.stack([s * v for v in half for s in (1, -1)])[:n_controls]
    fr = cfr = None
    if instrument is not None:
        dirs = torch.cat([d[None], ctrl])  # (1 + R, nz)
        out = np.zeros((len(dirs), len(a), len(eval_z), len(instrument.class_names)))
        with tqdm(total=len(dirs) * len(a), desc="direction", unit="alpha", leave=False) as bar:
            for i, v in enumerate(dirs):
                for j, alpha in enumerate(a):
                    img = _images(G, eval_z + alpha * v, batch_size, device)
                    out[i, j] = instrument.class_fractions(img).numpy()
                    bar.update()
        fr, cfr = out[0], out[1:]
    return DirectionResult(d=d.numpy(), plus_z=plus_z.float().numpy(), minus_z=minus_z.float().numpy(),
                           alphas=a.numpy(), bases=bases.float().numpy(), walk_images=walk.numpy(),
                           eval_z=eval_z.float().numpy(), controls=ctrl.numpy(), seed=int(seed), fractions=fr,
                           control_fractions=cfr,
                           class_names=tuple(instrument.class_names) if instrument is not None else ())


def direction_summary(r: DirectionResult, target: str) -> dict:
    """Before (alpha 0) / after (alpha 1) for the target class, the controls, the other classes."""
    if r.fractions is None:
        return {"measured": False}
    c = r.class_names.index(target)
    i0, i1 = int(np.argmin(np.abs(r.alphas))), int(np.argmin(np.abs(r.alphas - 1)))
    mean = lambda f: float(f.mean())  # noqa: E731
    ctrl_after = [mean(f[i1, :, c]) for f in r.control_fractions]
    share = lambda f: float((f >= PRESENT).mean())  # noqa: E731
    before, after = mean(r.fractions[i0, :, c]), mean(r.fractions[i1, :, c])
    ctrl_effect = [a - before for a in ctrl_after]
    return {
        "measured": True, "class": target, "n_samples": int(r.fractions.shape[1]), "alpha_before": float(r.alphas[i0]),
        "alpha_after": float(r.alphas[i1]), "direction_norm": float(np.linalg.norm(r.d)),
        "fraction_before": mean(r.fractions[i0, :, c]), "fraction_after": mean(r.fractions[i1, :, c]),
        "control_after": float(np.mean(ctrl_after)) if ctrl_after else None,
        "control_after_each": ctrl_after,
        # the figure of merit: the class's gain along d, beside the mean gain along random directions of the
        # same norm (zero on average for any attribute; their largest gain shows their spread)
        "effect": after - before, "control_effect": float(np.mean(ctrl_effect)) if ctrl_effect else None,
        "effect_over_controls": after - before - float(np.mean(ctrl_effect)) if ctrl_effect else None,
        "control_effect_max": float(max(ctrl_effect)) if ctrl_effect else None,
        "effect_beats_controls": bool(after - before > max(ctrl_effect)) if ctrl_effect else None,
        "share_with_class_before": share(r.fractions[i0, :, c]), "share_with_class_after": share(r.fractions[i1, :, c]),
        "control_share_after": float(np.mean([share(f[i1, :, c]) for f in r.control_fractions]))
        if len(r.control_fractions) else None,
        "curve": {"alphas": r.alphas.tolist(), "direction": r.fractions[:, :, c].mean(1).tolist(),
                  "controls_mean": r.control_fractions[:, :, :, c].mean((0, 2)).tolist()
                  if len(r.control_fractions) else []},
        "other_classes": {n: {"before": mean(r.fractions[i0, :, k]), "after": mean(r.fractions[i1, :, k]),
                              "control_after": float(r.control_fractions[:, i1, :, k].mean())
                              if len(r.control_fractions) else None}
                          for k, n in enumerate(r.class_names) if k != c},
    }


# --- the registered runner -----------------------------------------------------------------

NAME = "arithmetic"
EVAL_SEED = 1_000_000  # fresh evaluation samples: seed EVAL_SEED + seed (apart from the sheet)
DEFAULT_ALPHAS = "-1,-0.5,0,0.5,1,1.5,2"
SHEET_N, SHEET_N_CONCEPTS = 150, 1000
# The default (no --expr / --direction / --concepts / --A ...): a two-attribute analogy measured on
# both attributes. On the bundled rooms model windows and beds are in 96-97% of the samples (4 of
# 1000 lack both), doors and pictures are the two objects with the largest pools for all three
# concepts (618 / 98 / 34 of a sheet of 1000): Y should show a door and no picture.
DEFAULT_EXPR, DEFAULT_DIRECTION = "A - B + C", "A - B"
DEFAULT_CONCEPTS = "A=door+picture,B=no-door+picture,C=no-door+no-picture"
HINT = ("pass --segmenter FILE.py:FUNC (your segmenter), pick the exemplars by index (--A 12,40,77 ...) "
        "instead of --concepts, or --segmenter rooms to force the rooms parser")


def _check(o: dict) -> tuple:
    """Numbers, expressions and alphas of the options ``o`` (nothing model-dependent)."""
    for opt, v, low in (("--exemplars", o["exemplars"], 1), ("--samples-n", o["samples_n"], 1),
                        ("--noisy", o["noisy"], 0), ("--walk-rows", o["walk_rows"], 1),
                        ("--eval-samples", o["eval_samples"], 1), ("--controls", o["controls"], 0),
                        ("--batch-size", o["batch_size"], 1), ("--draws", o["draws"], 1),
                        ("--direction-exemplars", o["direction_exemplars"] or 1, 1)):
        if v < low:
            raise UserError(f"{opt} {v}: must be at least {low}")
    if not 0 <= o["noise"] < 10 or not 0 < o["min_fraction"] < 1 or not 0 < o["absent_fraction"] < 1:
        raise UserError("--noise must be in [0, 10), --min-fraction and --absent-fraction in (0, 1)")
    if o["expr"] is None and o["direction"] is None:
        raise UserError('nothing to do: give --expr "A - B + C" and/or --direction "A - B"')
    if sum(o[k] is not None for k in ("z", "manifest")) + (o["samples_seed"] != 0) > 1:
        raise UserError("--samples-seed, --z and --manifest are alternatives: give one sample sheet")
    terms = parse_expr(o["expr"]) if o["expr"] is not None else ()
    dterms = parse_expr(o["direction"]) if o["direction"] is not None else ()
    if dterms and sorted(c for _, c in dterms) != [-1.0, 1.0]:
        raise UserError(f"--direction {o['direction']!r} must be one concept minus another, like 'A - B'")
    try:
        alphas = sorted({float(a) for a in str(o["alphas"]).split(",")} | {0.0, 1.0})
    except ValueError:
        raise UserError(f"--alphas {o['alphas']!r} is not a list of numbers like -1,0,0.5,1,2") from None
    return terms, dterms, alphas


def _sheet(o: dict, S) -> tuple[torch.Tensor, str]:
    """The sample sheet's z (N, nz), and where it came from."""
    from gan_viz.subject import load_z

    if o["z"] is not None:
        return load_z(o["z"], S.nz), f"rows of {o['z']}"
    if o["manifest"] is not None:
        from gan_viz.analyses.boxes import load_manifest

        z = load_manifest(o["manifest"]).z
        if z.shape[1] != S.nz:
            raise UserError(f"manifest {o['manifest']} holds z of size {z.shape[1]}, this model needs {S.nz}; "
                            "pass the manifest written for this model")
        return torch.from_numpy(z), f"z of manifest {o['manifest']}"
    return (sample_sheet(S, o["samples_n"], o["samples_seed"]),
            f"gan-viz samples / generate --n {o['samples_n']} --seed {o['samples_seed']}")


def _sources(o: dict, names: set, classes) -> tuple[dict, dict]:
    """Index lists and instrument-picked concepts per name, each name defined exactly once."""
    concepts = parse_concepts(o["concepts"], classes) if o["concepts"] else {}
    lists = {n: o[n] for n in NAMES if o[n] is not None}
    for n in sorted(set(lists) | set(concepts)):
        if n not in names:
            raise UserError(f"concept {n} is defined but not used by --expr or --direction")
        if n in lists and n in concepts:
            raise UserError(f"concept {n} is given both by --{n} and by --concepts; keep one")
    for n in sorted(names):
        if n not in lists and n not in concepts:
            raise UserError(f"concept {n} has no exemplars: give --{n} 12,40,77 (sheet indices) or --concepts {n}=CLASS")
    return lists, concepts


def _select(order, lists, concepts, k, sheet_n, fractions, classes, o) -> dict:
    """Sheet indices per concept name; instrument picks never reuse an index already taken."""
    chosen: dict[str, list[int]] = {}
    for n in order:
        if n in lists:
            chosen[n] = parse_indices(lists[n], n, sheet_n)
    for n in order:
        if n in concepts:
            spec = tuple((classes.index(c), p) for c, p in concepts[n])
            used = {i for v in chosen.values() for i in v}
            chosen[n] = pick_matching(fractions, spec, k, used, o["min_fraction"], f"{n}={spec_label(concepts[n])}",
                                      o["absent_fraction"])
    return chosen


def _targets(o: dict, concepts, dterms, classes) -> tuple[list, str | None]:
    """Classes annotated in Fig. 7, and the class the direction is measured on."""
    if o["measure"] is not None and o["measure"] not in classes:
        raise UserError(f"--measure {o['measure']!r} is not a class; the instrument knows {', '.join(classes)}")
    named = list(dict.fromkeys(c for spec in concepts.values() for c, _ in spec))
    default = o["measure"] or (named[0] if named else ("window" if "window" in classes else classes[0]))
    dir_named = []
    if dterms and all(n in concepts for n, _ in dterms):  # the class the two sides disagree on
        (pn, _), (mn, _) = sorted(dterms, key=lambda t: -t[1])
        plus, minus = dict(concepts[pn]), dict(concepts[mn])
        dir_named = [c for c in plus if c in minus and plus[c] != minus[c]] or list(plus)
    measure = list(dict.fromkeys(([o["measure"]] if o["measure"] else []) + named)) or [default]
    return measure, (o["measure"] or (dir_named[0] if dir_named else default))


def _instrument(ctx, o: dict):
    """(instrument or None, why none, one-line note); --concepts needs one (else refused)."""
    from gan_viz.instruments import absent_reason, require_instrument, resolve_instrument

    S = ctx.subject
    if o["concepts"]:
        inst = require_instrument(S, ctx.segmenter, "arithmetic --concepts", parser=o["parser"],
                                  device=ctx.device, alternatives=HINT)
    else:
        inst = resolve_instrument(S, ctx.segmenter, parser=o["parser"], device=ctx.device)
    if inst is not None:
        return inst, None, f"measured by {inst.name}"
    reason = absent_reason(S, ctx.segmenter) or "the rooms parser could not be loaded"
    return None, reason, f"no instrument measurements: {reason}"


def caption(s: dict) -> str:
    """The report's caption of an arithmetic summary (says which instrument picked and measured)."""
    from gan_viz.instruments import caption_note

    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    a = s.get("arithmetic") or {}
    text = ""
    if a:
        k = len(next(iter(a.get("exemplars", {}).values()), []))
        picked = (f", picked by the instrument from a sheet of {s.get('sheet_size')}" if s.get("concepts") else "")
        text = (f"Vector arithmetic {a.get('expr')} on the mean z of {k} exemplars per concept "
                f"({', '.join(f'{n}={v}' for n, v in (s.get('concepts') or {}).items())}{picked}); Y and "
                f"{a.get('noisy_samples')} samples with uniform noise +-{a.get('noise')}, and the same arithmetic "
                "in pixel space.")
        for cls, f in (a.get("fractions") or {}).items():
            text += (f" {cls} pixels: Y {pct(f.get('y'))}, noisy mean {pct(f.get('noisy_mean'))}, pixel space "
                     f"{pct(f.get('pixel_space'))}; concept means "
                     + ", ".join(f"{n} {pct(v)}" for n, v in f.get("mean_images", {}).items()) + ".")
    if s.get("analogy", {}).get("measured"):
        an = s["analogy"]
        tg = ", ".join(f"{'a' if v == 'present' else 'no'} {c}" for c, v in an["targets"].items())
        pools = ", ".join(f"{n} {v}" for n, v in an["pool_sizes"].items())
        text += (f" Over {an['draws']} independent exemplar draws (from the sheet samples matching each concept: "
                 f"{pools}), Y showed "
                 f"{tg} in {pct(s.get('analogy_success_1'))} of the draws with 1 exemplar per concept and "
                 f"{pct(s.get('analogy_success_3'))} with 3; pixel space {pct(s.get('analogy_success_pixel'))}; "
                 f"a random direction of the same norm from {an['control_base']}: "
                 f"{pct(s.get('analogy_success_random'))}. {an.get('finding', '')}.")
    d = s.get("direction") or {}
    if d.get("measured"):
        text += (f" Direction {d.get('expr')} (Fig. 8; norm {d.get('direction_norm', 0):.2f}) added to "
                 f"{d.get('n_samples')} new samples: {d.get('class')} pixels {pct(d.get('fraction_before'))} -> "
                 f"{pct(d.get('fraction_after'))}, vs {pct(d.get('control_after'))} for random directions of the "
                 "same norm.")
    elif d:
        text += f" Direction {d.get('expr')} (Fig. 8) walked, not measured."
    return (text + " " + caption_note(s.get("instrument") or {})).strip()


@register(NAME, needs=("G",), title="Figs. 7-8: vector arithmetic on z", caption=caption)
def run(ctx, *, expr: str | None = None, A: str | None = None, B: str | None = None, C: str | None = None,
        D: str | None = None, E: str | None = None, F: str | None = None, G: str | None = None,
        H: str | None = None, concepts: str | None = None, exemplars: int = 3, samples_seed: int = 0,
        z: str | None = None, manifest: str | None = None, samples_n: int | None = None, noise: float = 0.25,
        noisy: int = 8, direction: str | None = None, direction_exemplars: int | None = None,
        alphas: str = DEFAULT_ALPHAS, walk_rows: int = 4, eval_samples: int = 200, controls: int = 3,
        measure: str | None = None, min_fraction: float = PRESENT, absent_fraction: float = ABSENT,
        draws: int = AN.DRAWS, parser: str | None = None, batch_size: int = 256) -> dict:
    """Figs. 7-8 on ``ctx.subject``: arithmetic ``expr`` on exemplar means and/or the ``direction``
    walk, measured by the instrument of ``ctx`` where there is one; writes ``arithmetic``,
    ``direction_walk`` and ``direction_measure`` (PNG + PDF), ``summary.json`` and ``arrays.npz``
    into ``ctx.out``; returns the summary.

    Without ``expr``, ``direction``, ``concepts`` and A-H: the default analogy (``DEFAULT_EXPR`` on
    ``DEFAULT_CONCEPTS``, direction ``DEFAULT_DIRECTION``) where the instrument knows its classes.
    Where every concept is picked by the instrument, the analogy is also repeated over ``draws``
    exemplar draws (:mod:`gan_viz.analyses.arithmetic_analogy`): ``analogy_success_1`` / ``_3`` /
    ``_pixel`` / ``_random`` in the summary.

    Args (the command's option names): A-H: sheet indices of each concept's exemplars.
        concepts: "A=window+bed,B=no-window+bed": picked by the instrument (refused without one).
        The rest as ``gan-viz arithmetic --help`` says.
    """
    from gan_viz.instruments import instrument_record
    from gan_viz.io import write_json, write_npz

    o = dict(expr=expr, A=A, B=B, C=C, D=D, E=E, F=F, G=G, H=H, concepts=concepts, exemplars=exemplars,
             samples_seed=samples_seed, z=z, manifest=manifest, noise=noise, noisy=noisy, direction=direction,
             direction_exemplars=direction_exemplars, alphas=alphas, walk_rows=walk_rows,
             eval_samples=eval_samples, controls=controls, measure=measure, min_fraction=min_fraction,
             absent_fraction=absent_fraction, draws=draws, parser=parser, batch_size=batch_size)
    S = ctx.subject
    if not S.has_G:
        S.require("G")
    _size_request(o, S, samples_n)
    defaulted = _defaults(ctx, o)
    o["samples_n"] = samples_n if samples_n is not None else (SHEET_N_CONCEPTS if o["concepts"] else SHEET_N)
    terms, dterms, alph = _check(o)
    sheet, sheet_note = _sheet(o, S)
    inst, reason, note = _instrument(ctx, o)
    if measure is not None and inst is None:
        raise UserError(f"--measure {measure} needs a concept instrument, and {reason}; {HINT}")
    classes = inst.class_names if inst is not None else ()
    lists, picks = _sources(o, {n for n, _ in terms + dterms}, classes)
    sheet_images = S.images(sheet, batch_size, ctx.device) if picks else None
    fractions = inst.class_fractions(sheet_images).numpy() if picks else None
    pick = lambda tt, k: _select([n for n, _ in tt], lists, picks, k, len(sheet), fractions, classes, o)  # noqa: E731
    chosen = pick(terms, exemplars) if terms else {}
    dchosen = pick(dterms, direction_exemplars or exemplars) if dterms else {}
    measured, target = _targets(o, picks, dterms, classes) if inst is not None else ([], None)
    summary = {"checkpoint": S.where, "seed": ctx.seed, "measurements": note, "sheet": sheet_note,
               "sheet_size": len(sheet), "concepts": {n: spec_label(s) for n, s in picks.items()},
               "defaults": defaulted, "instrument": instrument_record(inst, reason)}
    arrays = {"sheet_z": sheet.numpy(), "seed": ctx.seed}
    if fractions is not None:
        arrays["sheet_fractions"], arrays["class_names"] = fractions, list(classes)
    if terms:
        _run_arithmetic(ctx, o, S, terms, sheet, chosen, inst, measured, summary, arrays)
        _run_analogy(ctx, o, S, terms, picks, sheet, sheet_images, fractions, inst, summary, arrays)
    if dterms:
        _run_direction(ctx, o, S, dterms, alph, sheet, dchosen, inst, target, summary, arrays)
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **arrays)
    return summary


def _size_request(o: dict, S, samples_n: int | None) -> None:
    """Refuse, before any work, counts whose images cannot be held in memory: the sample sheet
    (images, their float64 means, the instrument's maps), the analogy's draws (three settings of
    generated images and the pixel means) and the evaluation samples."""
    from gan_viz.memory import image_bytes, require

    img = image_bytes(S.image_shape)
    require("--samples-n", SHEET_N_CONCEPTS if samples_n is None else samples_n, 4 * img, "the sample sheet's images")
    require("--draws", o["draws"], 2 * (len(AN.KS) + 2) * img, "the analogy's images")
    require("--eval-samples", o["eval_samples"], 4 * img, "the evaluation images")


def _defaults(ctx, o: dict) -> bool:
    """Fill in the default analogy when nothing was asked for; True when it was."""
    from gan_viz.instruments import absent_reason, resolve_instrument

    if any(o[k] is not None for k in ("expr", "direction", "concepts", *NAMES)):
        return False
    inst = resolve_instrument(ctx.subject, ctx.segmenter, parser=o["parser"], device=ctx.device)
    need = [c for c in ("door", "picture") if inst is None or c not in inst.class_names]
    if need:
        why = (absent_reason(ctx.subject, ctx.segmenter) or "no instrument could be loaded") if inst is None else \
            f"{inst.name} has no class {' or '.join(need)}"
        raise UserError(f'nothing to do: give --expr "A - B + C" and/or --direction "A - B" (the default analogy '
                        f'{DEFAULT_CONCEPTS} needs an instrument with doors and pictures, and {why})')
    o.update(expr=DEFAULT_EXPR, concepts=DEFAULT_CONCEPTS, direction=DEFAULT_DIRECTION)
    return True


def _run_analogy(ctx, o, S, terms, picks, sheet, sheet_images, fractions, inst, summary, arrays) -> None:
    """The analogy over ``o["draws"]`` exemplar draws, where every concept is picked by the instrument."""
    missing = [n for n, _ in terms if n not in picks]
    targets = AN.analogy_targets(terms, picks) if not missing else {}
    if not targets:
        why = (f"concepts {', '.join(missing)} are given by sheet index, not by the instrument" if missing else
               "no class is named by every concept of the expression")
        summary.update({f"analogy_success_{k}": None for k in ("1", "3", "pixel", "random")})
        summary["analogy"] = {"measured": False, "why": why}
        return
    pools = AN.concept_pools(fractions, inst.class_names, {n: picks[n] for n, _ in terms}, o["min_fraction"],
                             o["absent_fraction"])
    r = AN.compute_analogy(S, terms, sheet, sheet_images, pools, inst, targets, o["draws"], seed=ctx.seed,
                           min_fraction=o["min_fraction"], absent_fraction=o["absent_fraction"],
                           batch_size=o["batch_size"], device=ctx.device)
    s = AN.analogy_summary(r)
    s["analogy"] = {"measured": True, "expr": o["expr"], **s["analogy"]}
    summary.update(s)
    arrays.update(AN.analogy_arrays(r))


def _run_arithmetic(ctx, o, S, terms, sheet, chosen, inst, measured, summary, arrays) -> None:
    from gan_viz.analyses import arithmetic_plots as AP
    from gan_viz.io import save_figure

    r = compute_arithmetic(S, terms, [sheet[chosen[n]] for n, _ in terms], o["noise"], o["noisy"], ctx.seed,
                           inst, o["batch_size"], ctx.device)
    save_figure(AP.plot_arithmetic(r, measured[:2]), ctx.out, "arithmetic")
    summary["arithmetic"] = _arith_summary(r, o["expr"], chosen, measured, sheet)
    arrays.update(_arith_arrays(r, chosen))


def _run_direction(ctx, o, S, dterms, alphas, sheet, dchosen, inst, target, summary, arrays) -> None:
    from gan_viz.analyses import arithmetic_plots as AP
    from gan_viz.io import save_figure

    (pn, _), (mn, _) = sorted(dterms, key=lambda t: -t[1])
    n_eval = max(o["walk_rows"], o["eval_samples"] if inst is not None else 0)
    ev = S.sample_z(n_eval, torch.Generator().manual_seed(EVAL_SEED + ctx.seed))
    d = compute_direction(S, sheet[dchosen[pn]], sheet[dchosen[mn]], alphas, ev[:o["walk_rows"]], ev, inst,
                          o["controls"], ctx.seed, o["batch_size"], ctx.device)
    save_figure(AP.plot_direction(d, f"{pn} - {mn}"), ctx.out, "direction_walk")
    if d.fractions is not None:
        from gan_viz.instruments import figure_tag, instrument_record

        save_figure(AP.plot_direction_measure(d, target, figure_tag(instrument_record(inst))), ctx.out,
                    "direction_measure")
    summary["direction"] = {"expr": f"{pn} - {mn}", "plus": dchosen[pn], "minus": dchosen[mn],
                            "eval_seed": EVAL_SEED + ctx.seed, "control_seed": ctx.seed,
                            **direction_summary(d, target)}
    if S.z_dist == "uniform":  # G was trained on the cube [-1, 1]^nz; d and the controls leave it alike
        summary["direction"]["z_outside_cube_at_alpha_1"] = float((np.abs(d.eval_z + d.d) > 1).mean())
    arrays.update(_dir_arrays(d, dchosen[pn], dchosen[mn]))


def _arith_summary(r: ArithmeticResult, expr: str, chosen: dict, measure: list, sheet: torch.Tensor) -> dict:
    s = {"expr": expr, "terms": {n: float(c) for n, c in zip(r.names, r.coefs)},
         "exemplars": {n: chosen[n] for n in r.names}, "noise": r.noise, "noisy_samples": len(r.noisy_z),
         "noise_seed": r.seed, "y_norm": float(np.linalg.norm(r.y)),
         "sheet_mean_norm": float(sheet.norm(dim=1).mean()),
         "mean_z_norms": {n: float(np.linalg.norm(m)) for n, m in zip(r.names, r.mean_z)}}
    if r.fractions is not None:
        f, ci = r.fractions, {m: r.class_names.index(m) for m in measure}
        s["fractions"] = {m: {
            "exemplars": {n: float(f["exemplars"][r.owner == i, c].mean()) for i, n in enumerate(r.names)},
            "mean_images": {n: float(f["means"][i, c]) for i, n in enumerate(r.names)},
            "y": float(f["results"][0, c]), "noisy_mean": float(f["results"][1:, c].mean()) if len(r.noisy_z) else None,
            "noisy_share_with_class": float((f["results"][1:, c] >= PRESENT).mean()) if len(r.noisy_z) else None,
            "pixel_space": float(f["pixel"][0, c])} for m, c in ci.items()}
    return s


def _arith_arrays(r: ArithmeticResult, chosen: dict) -> dict:
    return {"terms": np.array(r.names), "coefs": r.coefs, "exemplar_index": np.concatenate([chosen[n] for n in r.names]),
            "exemplar_owner": r.owner, "exemplar_z": r.exemplar_z, "exemplar_images": r.exemplar_images,
            "mean_z": r.mean_z, "mean_images": r.mean_images, "y": r.y, "noisy_z": r.noisy_z,
            "result_images": r.result_images, "pixel_means": r.pixel_means, "pixel_result": r.pixel_result,
            "noise": r.noise, **({f"fractions_{k}": v for k, v in r.fractions.items()} if r.fractions else {})}


def _dir_arrays(d: DirectionResult, plus: list, minus: list) -> dict:
    a = {"direction": d.d, "plus_index": np.array(plus), "minus_index": np.array(minus), "alphas": d.alphas,
         "walk_bases": d.bases, "walk_images": d.walk_images, "eval_z": d.eval_z, "control_directions": d.controls}
    if d.fractions is not None:
        a["direction_fractions"] = d.fractions.astype(np.float32)
        a["control_fractions"] = d.control_fractions.astype(np.float32)
    return a
