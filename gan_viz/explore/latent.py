"""Walks between two pinned samples and A - B + C arithmetic on pinned exemplars.

A walk is latent_walk's (linear or slerp, 8 steps, measured per frame by the instrument);
the slider asks for one frame at any t in [0, 1] on top of it. Arithmetic is the
arithmetic analysis's: each term is the mean z of its exemplars, Y = A - B + C is
generated with a few noisy neighbours (uniform noise of half-width 0.25, the paper's),
beside the same arithmetic on the exemplar images (pixel space).
"""

from __future__ import annotations

import numpy as np
import torch

from . import adapters
from .encode import image_urls
from .errors import BadRequest

INTERPS = ("linear", "slerp")
WALK_STEPS = 8
MAX_TERM = 8  # exemplars per arithmetic term
NOISY = 4


def _fractions(session, images: torch.Tensor) -> list | None:
    if session.inst is None:
        return None
    with torch.inference_mode():
        return session.inst.class_fractions(images).tolist()


def walk(session, a: int, b: int, t: float, interp: str = "slerp") -> dict:
    """The frame at ``t`` of the walk from pinned sample ``a`` to ``b``, and the whole walk's strip."""
    session._need_G()
    if interp not in INTERPS:
        raise BadRequest(f"interp {interp!r}: choose one of {', '.join(INTERPS)}")
    if not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 1.0:
        raise BadRequest(f"t={t}: the walk's position is a number from 0 to 1")
    with session.compute_lock:
        za, zb = session.pin(a).z, session.pin(b).z
        key = ("walk", a, b, interp)
        if key not in session._cache:
            w = adapters.walk(session.S, za, zb, WALK_STEPS, interp, session.inst)
            session._cache[key] = {
                "strip": image_urls(w["frames"]), "strip_t": (np.arange(WALK_STEPS + 1) / WALK_STEPS).tolist(),
                "strip_fractions": None if w["fractions"] is None else np.round(w["fractions"], 5).tolist(),
                "step_rms": np.round(w["step_rms"], 5).tolist(), "sharp": np.asarray(w["sharp"]).tolist(),
                "events": w["events"]}
        z = adapters.interpolate(za, zb, [float(t)], interp)
        with torch.inference_mode():
            frame = session.S.images(z)
        out = {"a": a, "b": b, "t": float(t), "interp": interp, "frame": image_urls(frame)[0],
               "z": z[0].tolist(), "fractions": _fractions(session, frame),
               "classes": None if session.inst is None else list(session.inst.class_names),
               **session._cache[key]}
    return out


def arithmetic(session, terms: dict) -> dict:
    """``terms``: {"a": [pin ids], "b": [...], "c": [...]} -> Y = mean(A) - mean(B) + mean(C), generated."""
    session._need_G()
    coefs = {"a": 1.0, "b": -1.0, "c": 1.0}
    groups, names = [], []
    for name, coef in coefs.items():
        ids = terms.get(name) or []
        if not 1 <= len(ids) <= MAX_TERM:
            raise BadRequest(f"term {name.upper()}: give 1 to {MAX_TERM} pinned samples (got {len(ids)})")
        names.append(name)
    with session.compute_lock:
        for name in names:
            groups.append(torch.stack([session.pin(int(i)).z for i in terms[name]]))
        r = adapters.arithmetic(session.S, groups, list(coefs.values()), NOISY, 0, session.inst)
    out = {"means": image_urls(r["mean_images"]), "result": image_urls(r["result_images"][:1])[0],
           "noisy": image_urls(r["result_images"][1:]), "pixel": image_urls(r["pixel_result"][None])[0],
           "y": [float(v) for v in r["y"]], "noisy_z": np.asarray(r["noisy_z"]).tolist()}
    if r["fractions"] is not None:
        out.update(classes=list(session.inst.class_names),
                   fractions={k: np.round(v, 5).tolist() for k, v in r["fractions"].items()})
    return out
