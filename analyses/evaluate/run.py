"""The registered runner of ``gan-viz evaluate``: feature spaces, real data, writing.

Feature spaces (``--features``, comma-separated; default ``auto``):

- ``parser``: the rooms scene parser's features (:meth:`gan_viz.parser.SceneParser.features`,
  202 dimensions), only where the rooms parser applies to the model (its domain is rooms and
  its applicability check passes, :func:`gan_viz.instruments.absent_reason`);
- ``D``: the model's own discriminator, every rectifier block max-pooled to ``--d-pool``
  x ``--d-pool`` and concatenated (:func:`gan_viz.features.d_features`);
- ``FILE.py:FUNC``: your extractor: ``FUNC()`` returns a callable images (N, C, H, W) in
  [-1, 1] -> features (N, F) (a tensor or array), e.g. an ``nn.Module``;
- ``inception``: torchvision's ``inception_v3`` pool features (2048 dimensions) with the
  weights of ``--inception-weights FILE`` only (never downloaded, see
  :func:`gan_viz.features.load_inception`); without that file it is refused. Its values are
  not comparable with published FIDs (those use TF's FID Inception).

``auto`` is ``parser`` where it applies plus ``D`` where the model has one; what is left
out is recorded with the reason (``absent``).

Real data: ``2 N`` images of the test split of ``--dataset`` (default: the model's domain)
in two disjoint sets of N; where the split holds fewer than ``2 N``, N shrinks for the model
as well (said in ``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz.errors import UserError
from gan_viz.metrics import require_samples

from .compute import compute_evaluate
from .plot import FIGURES
from .summary import caption, lines, summary_of

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

INCEPTION_REFUSAL = ("--features inception needs --inception-weights FILE (a local torchvision inception_v3 state "
                     "dict): Inception weights are never downloaded and gan-viz ships none; or wrap your own "
                     "Inception as --features FILE.py:FUNC")


@dataclass(frozen=True)
class Space:
    name: str
    extract: Callable[[torch.Tensor], np.ndarray]  # images (N, C, H, W) in [-1, 1] -> (N, F)
    record: dict


def _parser_space(ctx: "Context") -> Space | str:
    """The rooms parser's feature space, or why it does not apply."""
    from gan_viz.instruments import absent_reason, resolve_instrument

    S = ctx.subject
    reason = absent_reason(S)
    if reason is not None:
        return reason
    inst = resolve_instrument(S, device=ctx.device)
    if inst is None or not hasattr(getattr(inst, "parser", None), "features"):
        return "the rooms parser could not be loaded"
    return Space("parser", lambda x: inst.parser.features(x).numpy(),
                 {"kind": "parser", "instrument": inst.describe()})


def _d_space(ctx: "Context", pool: int) -> Space | str:
    from gan_viz.features import d_features, feature_layers

    S = ctx.subject
    if S.D is None:
        return f"{S.where} holds no discriminator"
    layers = feature_layers(S.D)
    return Space("D", lambda x: d_features(S.D, x, layers, pool=pool, device=ctx.device),
                 {"kind": "D", "layers": [f"D.{n}" for n in layers], "pool": pool})


def _user_space(spec: str, probe: torch.Tensor) -> Space:
    from gan_viz.model_def import load_function

    build = load_function(spec, what="--features")
    try:
        fn = build()
    except UserError:
        raise
    except Exception as e:  # the user's code: one line
        raise UserError(f"--features {spec} raised {type(e).__name__}: {str(e).strip()[:150]}") from None
    if not callable(fn):
        raise UserError(f"--features {spec}: FUNC() returned a {type(fn).__name__}; it must return a callable "
                        "images (N, C, H, W) -> features (N, F)")

    def extract(x: torch.Tensor) -> np.ndarray:
        try:
            with torch.no_grad():
                f = fn(x)
        except Exception as e:
            raise UserError(f"--features {spec} raised {type(e).__name__} on images of shape {tuple(x.shape)}: "
                            f"{str(e).strip()[:150]}") from None
        f = f.detach().float().cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, dtype=np.float64)
        if f.ndim != 2 or len(f) != len(x):
            raise UserError(f"--features {spec} returned shape {f.shape} for {len(x)} images; it must return "
                            f"({len(x)}, F)")
        return f

    return Space(spec, extract, {"kind": "user", "spec": spec})


def _inception_space(ctx: "Context", weights: str | None) -> Space:
    from gan_viz.features import load_inception

    if weights is None:
        raise UserError(INCEPTION_REFUSAL)
    extract = load_inception(weights, ctx.device)
    return Space("inception", extract, {"kind": "inception", "weights": str(weights),
                                        "note": "torchvision inception_v3 pool features; not TF's FID Inception"})


def resolve_spaces(ctx: "Context", features: str, d_pool: int,
                   inception_weights: str | None = None) -> tuple[list[Space], dict]:
    """The feature spaces ``features`` names, and for ``auto`` the reasons of those left out."""
    names = [s.strip() for s in str(features).split(",") if s.strip()]
    if not names:
        raise UserError("--features is empty; give auto, parser, D, or FILE.py:FUNC")
    spaces, absent = [], {}
    S = ctx.subject
    probe = S.images(S.sample_z(2, torch.Generator().manual_seed(0)))  # (2, C, H, W): each space is tried on it
    for name in names:
        if name == "auto":
            for key, got in (("parser", _parser_space(ctx)), ("D", _d_space(ctx, d_pool))):
                (spaces.append(got) if isinstance(got, Space) else absent.__setitem__(key, got))
        elif name == "parser":
            got = _parser_space(ctx)
            if not isinstance(got, Space):
                raise UserError(f"--features parser: {got}")
            spaces.append(got)
        elif name == "D":
            got = _d_space(ctx, d_pool)
            if not isinstance(got, Space):
                raise UserError(f"--features D: {got}")
            spaces.append(got)
        elif name.lower() == "inception":
            spaces.append(_inception_space(ctx, inception_weights))
        elif ":" in name:
            spaces.append(_user_space(name, probe))
        else:
            raise UserError(f"--features {name!r}: give auto, parser, D, inception or FILE.py:FUNC")
    seen = [s.name for s in spaces]
    if len(set(seen)) != len(seen):
        raise UserError(f"--features names a space twice ({', '.join(seen)})")
    if not spaces:
        raise UserError("no feature space applies to this model (" + "; ".join(f"{k}: {v}" for k, v in absent.items())
                        + "); pass --features FILE.py:FUNC (your extractor)")
    for sp in spaces:  # the feature dimension from the probe, so N <= F is refused before the work
        sp.record["dim"] = int(np.asarray(sp.extract(probe)).reshape(len(probe), -1).shape[1])
    return spaces, absent


def real_sets(ctx: "Context", n: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, str, list]:
    """Two disjoint real sets of ``min(n, M // 2)`` test-split images each (M: the split's size)."""
    from gan_viz.data import build_dataset

    S, name = ctx.subject, ctx.data
    if name is None:
        raise UserError(f"{S.where} does not record its dataset; pass --dataset (and --data-root)")
    root = ctx.data_root or ((S.train_config or {}).get("data_root") if name == S.domain else None)
    C, H, W = S.image_shape
    if H != W:
        raise UserError(f"the model's images are {H}x{W}; real datasets load square images only")
    ds = build_dataset(name, H, C, "test", root, seed=0)
    m = min(n, len(ds) // 2)
    if m < 2:
        raise UserError(f"the {name} test split holds {len(ds)} images; two disjoint real sets need at least 4")
    perm = np.random.default_rng(ctx.seed).permutation(len(ds))
    ia, ib = np.sort(perm[:m]), np.sort(perm[m:2 * m])
    load = (lambda i: ds.get_batch(i)) if hasattr(ds, "get_batch") else \
        (lambda i: torch.stack([ds[int(j)][0] for j in i]))
    a, b = load(ia).float(), load(ib).float()
    if tuple(a.shape[1:]) != (C, H, W):
        raise UserError(f"{name} images have shape {tuple(a.shape[1:])} but the model makes {(C, H, W)}; "
                        "pass a matching --dataset")
    split = "folder" if name == "folder" else f"{name} test split"
    notes = [f"{m} images per set used of the {n} asked (the {split} holds {len(ds)}: two disjoint sets of "
             f"{m})"] if m < n else []
    return a, b, ia, ib, name, notes


@dataclass(frozen=True)
class Options:
    """``gan-viz evaluate``'s options (the command's option names), checked when made."""

    n: int = 1000
    features: str = "auto"
    bootstraps: int = 100
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    d_pool: int = 1
    batch_size: int = 256
    inception_weights: str | None = None

    def __post_init__(self):
        for opt, v, lo in (("--n", self.n, 2), ("--bootstraps", self.bootstraps, 0),
                           ("--kid-subsets", self.kid_subsets, 1), ("--kid-subset-size", self.kid_subset_size, 2),
                           ("--d-pool", self.d_pool, 1), ("--batch-size", self.batch_size, 1)):
            if v < lo:
                raise UserError(f"{opt} must be at least {lo}; got {v}")


@register("evaluate", needs=("G",), title="Quality: standard metrics with their controls", caption=caption,
          options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Frechet distance, KID, precision/recall and density/coverage of ``o.n`` samples against ``o.n`` real
    test images, beside two disjoint real sets of ``o.n`` (the control), in each feature space.

    Writes evaluate_metrics.png/.pdf, summary.json and arrays.npz into ``ctx.out``; returns the summary.
    """
    from gan_viz.io import save_figure, write_json, write_npz

    n, features, d_pool, inception_weights = o.n, o.features, o.d_pool, o.inception_weights
    S = ctx.subject
    S.require("G") if not S.has_G else None
    from gan_viz.memory import image_bytes, require

    require("--n", n, 6 * image_bytes(S.image_shape), "the generated and real images (three sets of --n)")
    if inception_weights is not None and "inception" not in str(features).lower().split(","):
        raise UserError("--inception-weights is given but --features does not name inception")
    spaces, absent = resolve_spaces(ctx, features, d_pool, inception_weights)
    for sp in spaces:
        require_samples(n, sp.record["dim"], sp.name)
    real_a, real_b, ia, ib, dataset, notes = real_sets(ctx, n)
    m = len(ia)
    for sp in spaces:
        require_samples(m, sp.record["dim"], sp.name)
    z = S.sample_z(m, torch.Generator().manual_seed(ctx.seed))
    fake = S.images(z, o.batch_size, ctx.device)
    feats = {sp.name: tuple(sp.extract(x) for x in (fake, real_a, real_b)) for sp in spaces}
    result = compute_evaluate(feats, bootstraps=o.bootstraps, kid_subsets=o.kid_subsets,
                              kid_subset_size=o.kid_subset_size, seed=ctx.seed)
    figures = []
    for fname, plot in FIGURES.items():
        figures += [p.name for p in save_figure(plot(result), ctx.out, fname)]
    summary = summary_of(result)
    summary.update(checkpoint=S.where, dataset=dataset, n_asked=n, seed=ctx.seed, figures=figures, absent=absent,
                   feature_spaces={sp.name: sp.record for sp in spaces}, notes=notes)
    write_json(ctx.out / "summary.json", summary)
    arrays = {"z": z.numpy(), "real_a_indices": ia, "real_b_indices": ib, "seed": np.array(ctx.seed)}
    for i, name in enumerate(result.spaces):
        for part, x in zip(("generated", "real_a", "real_b"), result.features[name]):
            arrays[f"space{i}_{part}"] = x
    arrays["spaces"] = np.array(result.spaces)
    write_npz(ctx.out / "arrays.npz", **arrays)
    return summary


__all__ = ["Options", "run", "resolve_spaces", "real_sets", "lines", "INCEPTION_REFUSAL"]
