"""Directions in z on the pinned samples: ``gan-viz directions``' unit vectors, one slider each.

:func:`load_directions` reads a ``gan-viz directions`` run (its folder or its ``arrays.npz``; the
``summary.json`` beside it, where present, gives each direction's concept, method, judged slope and
whether it beats random, and the walk's end ``t``; without it ``t`` is 2 standard deviations of z
along a unit direction, :func:`gan_viz.latent_directions.default_walk_t`). :func:`move` renders the
pinned samples at ``z + alpha * v`` (alpha in [-t, t]) with the judge's class fractions of those
images: the held-out instrument (the second rooms parser for a rooms model), else the explorer's
instrument, else none and the reason.

Example:
    >>> d = load_directions("out/directions", nz=100, z_dist="normal")
    >>> move(session, "window/interfacegan", 1.5)["fractions"]   # (K,) mean class shares
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_viz.errors import UserError
from gan_viz.latent_directions import default_walk_t

from .encode import image_urls
from .errors import BadRequest

OPT = "--directions"


@dataclass(frozen=True)
class Directions:
    """The loaded directions: ``vectors`` key -> (nz,) float32 unit-norm, ``meta`` key -> its row,
    ``t`` the walk's end, ``judge`` the instrument judging the moved images (None: ``absent`` says why)."""

    vectors: dict
    meta: dict
    t: float
    source: str
    judge: object = None
    absent: str | None = None

    def public(self) -> dict:
        """What ``GET /api/directions`` answers."""
        j = self.judge
        return {"source": self.source, "t": self.t, "directions": [self.meta[k] for k in self.vectors],
                "judge": None if j is None else {"name": j.name, "classes": list(j.class_names)},
                "absent": self.absent}


def _npz_path(spec: str) -> Path:
    p = Path(spec)
    if p.is_dir():
        p = p / "arrays.npz"
    if not p.is_file():
        raise UserError(f"{OPT} {spec}: {p} does not exist; give a gan-viz directions run folder or its arrays.npz")
    return p


def _summary(path: Path, spec: str) -> dict:
    f = path.parent / "summary.json"
    if not f.is_file():
        return {}
    try:
        s = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{OPT} {spec}: {f} is not readable JSON ({e})") from None
    return s if isinstance(s, dict) else {}


def _row(key: str, s: dict) -> dict:
    """key, concept, method (summary.json's where present, else from the key), slope, above_random."""
    d = (s.get("directions") or {}).get(key) or {}
    head, _, tail = key.partition("/")
    method = d.get("method") or (tail if not tail.isdigit() else head)
    concept = d.get("concept", None if tail.isdigit() else head)
    return {"key": key, "concept": concept, "method": method, "slope": d.get("slope"),
            "above_random": d.get("above_random")}


def _keys(data, spec: str) -> list[str]:
    if "keys" in data.files:
        keys = [str(k) for k in np.asarray(data["keys"]).ravel()]
    else:
        keys = [k for k in data.files if "/" in k and not k.startswith("random/")]
    missing = [k for k in keys if k not in data.files]
    if not keys or missing:
        raise UserError(f"{OPT} {spec}: the file names no direction arrays" + (f" (missing: {', '.join(missing)})"
                        if missing else "") + "; give the arrays.npz that gan-viz directions wrote")
    return keys


def _vector(data, key: str, nz: int, spec: str) -> torch.Tensor:
    v = np.asarray(data[key])
    if v.shape != (nz,) or not np.issubdtype(v.dtype, np.floating) or not np.isfinite(v).all() or not np.any(v):
        raise UserError(f"{OPT} {spec}: direction {key} has shape {v.shape} ({v.dtype}); this model needs a finite, "
                        f"non-zero float vector of length nz={nz} (directions of another model?)")
    v = torch.from_numpy(v.astype(np.float64))
    return (v / v.norm()).float()


def load_directions(spec, nz: int, z_dist: str, judge=None, absent: str | None = None) -> Directions:
    """The directions of a ``gan-viz directions`` run (folder or ``arrays.npz``) for a model of ``nz``.

    Raises:
        UserError: a missing or unreadable file, no direction keys, a key the file lacks, a vector whose
        length is not ``nz``.
    """
    spec = str(spec)
    path = _npz_path(spec)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{OPT} {spec}: {path} is not a .npz file ({e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise UserError(f"{OPT} {spec}: {path} is not a .npz file; give the arrays.npz that gan-viz directions wrote")
    s = _summary(path, spec)
    vectors = {k: _vector(data, k, nz, spec) for k in _keys(data, spec)}
    t = s.get("t")
    if not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0:
        t = default_walk_t(z_dist)
    return Directions(vectors, {k: _row(k, s) for k in vectors}, float(t), str(path), judge,
                      None if judge is not None else (absent or "no concept instrument"))


def _judged(d: Directions, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return d.judge.class_fractions(images).double()  # (P, K)


def _mean(per: torch.Tensor, k: int) -> list:
    return per.mean(0).tolist() if len(per) else [0.0] * k


def _fractions(session, d: Directions, pins, images: torch.Tensor, concept) -> dict:
    """The judge's class fractions of the moved images (per pin and their mean), beside those at alpha 0
    (judged once per pinned set)."""
    if d.judge is None:
        return {"absent": d.absent}
    classes, per = list(d.judge.class_names), _judged(d, images)
    key = ("direction-base", tuple(p.id for p in pins))
    if key not in session._cache:
        session._cache = {k: v for k, v in session._cache.items() if k[0] != "direction-base"}
        base = _judged(d, session._before(pins)["images"]) if pins else torch.zeros(0, len(classes))
        session._cache[key] = _mean(base, len(classes))
    return {"judge": d.judge.name, "classes": classes, "per_pin": np.round(per.numpy(), 5).tolist(),
            "fractions": _mean(per, len(classes)), "fractions_base": session._cache[key],
            "concept_index": classes.index(concept) if concept in classes else None}


def move(session, key: str, alpha: float) -> dict:
    """The pinned samples at ``z + alpha * v`` of direction ``key``, with the judge's class fractions."""
    session._need_G()
    d = session.directions
    if d is None:
        raise BadRequest("no directions are loaded: start gan-viz explore --directions DIR (a gan-viz directions run)")
    if key not in d.vectors:
        raise BadRequest(f"no direction {key!r}; loaded: {', '.join(d.vectors)}", status=404)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not -d.t <= float(alpha) <= d.t:
        raise BadRequest(f"alpha={alpha}: the step along a direction is a number from {-d.t:g} to {d.t:g}")
    with session.compute_lock:
        pins = list(session.pins)
        z = session.pinned_z(pins) + float(alpha) * d.vectors[key]  # (P, nz)
        with torch.inference_mode():
            images = session.S.images(z) if pins else torch.zeros(0, *session.S.image_shape)  # (P, C, H, W)
        meta = d.meta[key]
        return {**meta, "alpha": float(alpha), "t": d.t, "pins": [p.id for p in pins],
                "images": image_urls(images), **_fractions(session, d, pins, images, meta["concept"])}
