"""The inputs of the arithmetic: expressions, sample sheets, exemplar indices and instrument picks.

Exemplars are addressed by index in a *sample sheet*: the z that ``gan-viz generate
--n N --seed S`` draws (:func:`sample_sheet`), or the rows of a z file. A concept can
also be picked by the instrument (``window``: the sheet samples with the most window
pixels; ``no-window``: samples with none; ``window+no-bed``: both at once):
:func:`parse_concepts` reads such a spec, :func:`pick_matching` picks the samples.
Nothing here is evaluated: an expression is parsed term by term (:func:`parse_expr`).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import sample_z

NAMES = "ABCDEFGH"  # concept names an expression may use (one option --A ... --H each)
ABSENT = 0.005  # a class is absent below 0.5% of the pixels (5 at 32x32: parser specks on real rooms without one)
PRESENT = 0.01  # ... and present from 1%
_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z]\w*)\s*")


def sample_sheet(subject, n: int, seed: int) -> torch.Tensor:
    """The z of sample sheet (n, seed): row i is sample i of ``gan-viz generate --n n --seed seed``.
    ``subject``: a Subject or a gan-viz ModelConfig."""
    if n < 1:
        raise UserError(f"--samples-n {n}: the sample sheet needs at least 1 sample")
    gen = torch.Generator().manual_seed(seed)
    return sample_z(subject, n, gen) if isinstance(subject, ModelConfig) else subject.sample_z(n, gen)


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
