"""Vector arithmetic on z (paper Figs. 7 and 8), measured with the scene parser.

Fig. 7: each concept of an expression such as ``A - B + C`` is the mean z of a few
exemplars (three in the paper: single samples were unstable); the arithmetic on the
means gives Y, generated together with 8 samples of Y plus uniform noise in
[-0.25, 0.25]. The same arithmetic on the exemplar *images* (pixel space) is shown
beside it: the paper's contrast (pixel arithmetic gives noisy overlaps).

Fig. 8: a direction is the mean z of one group minus the mean z of another (rooms with
vs without a window); walking along it changes that attribute. Measured here: the
parser's pixel fraction of the concept on fresh samples before (alpha 0) and after
adding the direction (alpha 1), beside control directions of the same norm in random
orientations.

Exemplars are addressed by index in a *sample sheet*: the z that ``gan-viz generate
--n N --seed S`` draws (:func:`sample_sheet`), or the rows of a z file. For rooms a
concept can also be picked by the parser (``window``: the sheet samples with the most
window pixels; ``no-window``: samples with none).

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

from gan_viz.subject import generate_images
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import sample_z

NAMES = "ABCDEFGH"  # concept names an expression may use (one option --A ... --H each)
ABSENT = 0.005  # a class is absent below 0.5% of the pixels (5 at 32x32: parser specks on real rooms without one)
PRESENT = 0.01  # ... and present from 1%
_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z]\w*)\s*")


# --- inputs ---------------------------------------------------------------------------

def sample_sheet(cfg: ModelConfig, n: int, seed: int) -> torch.Tensor:
    """The z of sample sheet (n, seed): row i is sample i of ``gan-viz generate --n n --seed seed``."""
    if n < 1:
        raise UserError(f"--samples-n {n}: the sample sheet needs at least 1 sample")
    return sample_z(cfg, n, torch.Generator().manual_seed(seed))


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


def parse_concepts(text: str, classes) -> dict[str, tuple[str, bool]]:
    """``"A=window,B=no-window"`` -> ``{"A": ("window", True), "B": ("window", False)}``."""
    out: dict[str, tuple[str, bool]] = {}
    for item in (text or "").split(","):
        name, eq, spec = (s.strip() for s in item.partition("="))
        if not eq or name not in NAMES or not spec:
            raise UserError(f"--concepts item {item.strip()!r} is not NAME=CLASS or NAME=no-CLASS "
                            f"(names {', '.join(NAMES)}), e.g. A=window,B=no-window")
        present = not spec.startswith("no-")
        cls = spec if present else spec[3:]
        if cls not in classes:
            raise UserError(f"--concepts {name}={spec}: unknown class {cls!r}; the parser knows {', '.join(classes)}")
        if name in out:
            raise UserError(f"--concepts defines {name} twice")
        out[name] = (cls, present)
    return out


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
    f = fractions[:, class_id]
    ok = (f >= min_fraction) if present else (f < absent_fraction)
    ok[list(exclude)] = False
    cand = np.nonzero(ok)[0]
    order = cand[np.argsort(-f[cand] if present else f[cand], kind="stable")]
    if len(order) < k:
        rule = f">= {min_fraction:.2%} of the pixels" if present else f"< {absent_fraction:.2%} of the pixels"
        opt = "--min-fraction" if present else "--absent-fraction"
        raise UserError(f"concept {label}: only {len(order)} unused sheet samples of {len(f)} qualify ({rule}; "
                        f"the sheet ranges {f.min():.2%}-{f.max():.2%}), {k} needed; raise --samples-n, "
                        f"lower --exemplars or loosen {opt}")
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


def compute_arithmetic(G: torch.nn.Module, terms, exemplar_z: list, noise: float = 0.25, n_noisy: int = 8,
                       seed: int = 0, parser=None, batch_size: int = 256,
                       device: torch.device | str = "cpu") -> ArithmeticResult:
    """Arithmetic on per-concept mean z, and the same arithmetic in pixel space.

    Args:
        G: the generator. terms: ``parse_expr`` output ((name, coef), ...).
        exemplar_z: one (k_i, nz) tensor per term, in term order (k_i >= 1).
        noise: half-width of the uniform noise added to Y. n_noisy: noisy samples.
        seed: seed of that noise. parser: scene parser for class fractions, or None.
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
    gen = lambda z: generate_images(G, z.float(), batch_size, device)  # noqa: E731
    ex_img, mean_img, res_img = gen(ex), gen(means), gen(torch.cat([y[None], noisy]))
    pix = torch.stack([ex_img[owner == i].double().mean(0) for i in range(len(terms))])  # (T, C, H, W)
    pixel_result = (coefs[:, None, None, None] * pix).sum(0).clamp(-1, 1).float()
    fr = None
    if parser is not None:
        f = lambda x: parser.class_fractions(x).numpy().astype(np.float64)  # noqa: E731
        fr = {"exemplars": f(ex_img), "means": f(mean_img), "results": f(res_img), "pixel": f(pixel_result[None])}
    return ArithmeticResult(
        names=tuple(n for n, _ in terms), coefs=coefs.numpy(), exemplar_z=ex.numpy(), owner=owner.numpy(),
        exemplar_images=ex_img.numpy(), mean_z=means.float().numpy(), mean_images=mean_img.numpy(),
        y=y.numpy(), noisy_z=noisy.numpy(), result_images=res_img.numpy(), pixel_means=pix.float().numpy(),
        pixel_result=pixel_result.numpy(), noise=float(noise), seed=int(seed), fractions=fr,
        class_names=tuple(parser.classes) if parser is not None else ())


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


def compute_direction(G: torch.nn.Module, plus_z: torch.Tensor, minus_z: torch.Tensor, alphas, bases: torch.Tensor,
                      eval_z: torch.Tensor, parser=None, n_controls: int = 3, seed: int = 0,
                      batch_size: int = 256, device: torch.device | str = "cpu") -> DirectionResult:
    """Walk along d = mean(plus_z) - mean(minus_z) and measure it against random directions.

    Args:
        G: the generator. plus_z, minus_z: (m, nz) the two groups. alphas: multiples of d.
        bases: (B, nz) starting points of the walk figure. eval_z: (N, nz) samples measured
            at every alpha (with a parser). n_controls: random directions of the same norm.
        seed: seed of the control directions.
    Returns:
        A :class:`DirectionResult`; ``fractions`` only with a parser.
    """
    if len(plus_z) == 0 or len(minus_z) == 0:
        raise UserError("a direction needs at least one exemplar on each side")
    d = (plus_z.double().mean(0) - minus_z.double().mean(0)).float()  # (nz,)
    a = torch.tensor([float(x) for x in alphas])
    walk_z = bases[:, None, :] + a[None, :, None] * d  # (B, A, nz)
    walk = generate_images(G, walk_z.flatten(0, 1), batch_size, device)
    walk = walk.reshape(len(bases), len(a), *walk.shape[1:])
    ctrl = random_directions(n_controls, d.numel(), float(d.norm()), seed)
    fr = cfr = None
    if parser is not None:
        dirs = torch.cat([d[None], ctrl])  # (1 + R, nz)
        out = np.zeros((len(dirs), len(a), len(eval_z), len(parser.classes)))
        with tqdm(total=len(dirs) * len(a), desc="direction", unit="alpha", leave=False) as bar:
            for i, v in enumerate(dirs):
                for j, alpha in enumerate(a):
                    img = generate_images(G, eval_z + alpha * v, batch_size, device)
                    out[i, j] = parser.class_fractions(img).numpy()
                    bar.update()
        fr, cfr = out[0], out[1:]
    return DirectionResult(d=d.numpy(), plus_z=plus_z.float().numpy(), minus_z=minus_z.float().numpy(),
                           alphas=a.numpy(), bases=bases.float().numpy(), walk_images=walk.numpy(),
                           eval_z=eval_z.float().numpy(), controls=ctrl.numpy(), seed=int(seed), fractions=fr,
                           control_fractions=cfr, class_names=tuple(parser.classes) if parser is not None else ())


def direction_summary(r: DirectionResult, target: str) -> dict:
    """Before (alpha 0) / after (alpha 1) for the target class, the controls, the other classes."""
    if r.fractions is None:
        return {"measured": False}
    c = r.class_names.index(target)
    i0, i1 = int(np.argmin(np.abs(r.alphas))), int(np.argmin(np.abs(r.alphas - 1)))
    mean = lambda f: float(f.mean())  # noqa: E731
    ctrl_after = [mean(f[i1, :, c]) for f in r.control_fractions]
    share = lambda f: float((f >= PRESENT).mean())  # noqa: E731
    return {
        "measured": True, "class": target, "n_samples": int(r.fractions.shape[1]), "alpha_before": float(r.alphas[i0]),
        "alpha_after": float(r.alphas[i1]), "direction_norm": float(np.linalg.norm(r.d)),
        "fraction_before": mean(r.fractions[i0, :, c]), "fraction_after": mean(r.fractions[i1, :, c]),
        "control_after": float(np.mean(ctrl_after)) if ctrl_after else None,
        "control_after_each": ctrl_after,
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
