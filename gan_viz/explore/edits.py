"""The explorer's edit: what one is (:class:`Edit`) and the validation of an edit request into one.

An edit is GANPaint's: a G layer, units ablated everywhere (``ablate``), and brush
strokes per pinned sample that remove or insert the brush's ``units`` inside a mask
painted at image resolution. :func:`parse_edit` checks every field of a request body
against the session's state (the layer's units, the pinned samples, the image size, the
instrument's classes) and raises :class:`~gan_viz.explore.errors.BadRequest` naming the
first problem; it changes nothing. The session (:mod:`.session`) holds the current edit
and regenerates the pinned samples under it.

Example:
    >>> parse_edit({"ablate": [7, 3, 7]}, "relu3", 256, {0, 1}, (64, 64), "window", None).ablate
    (3, 7)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import BadRequest


@dataclass(frozen=True)
class Edit:
    """The current edit (layer without ``G.``; unit indices; masks (H, W) float32 in [0, 1] by pin id)."""

    layer: str | None = None
    ablate: tuple = ()
    units: tuple = ()
    remove: dict = field(default_factory=dict)
    insert: dict = field(default_factory=dict)
    concept: str | None = None

    @property
    def active(self) -> bool:
        painted = any(m.any() for m in (*self.remove.values(), *self.insert.values()))
        return self.layer is not None and (bool(self.ablate) or (bool(self.units) and painted))

    def summary(self) -> dict:
        """The edit without its masks: layer, ablated units, brush units, concept, painted pins."""
        return {"layer": None if self.layer is None else f"G.{self.layer}", "ablate": list(self.ablate),
                "units": list(self.units), "concept": self.concept,
                "painted": sorted(k for k, v in (*self.remove.items(), *self.insert.items()) if v.any())}

    def to_json(self) -> dict:
        mask = lambda d: {str(k): np.round(v, 3).ravel().tolist() for k, v in d.items() if v.any()}  # noqa: E731
        return {"layer": None if self.layer is None else f"G.{self.layer}", "ablate": list(self.ablate),
                "units": list(self.units), "concept": self.concept,
                "strokes": {k: {"remove": mask(self.remove).get(k), "insert": mask(self.insert).get(k)}
                            for k in sorted({*mask(self.remove), *mask(self.insert)}, key=int)}}


def parse_edit(body: dict, layer: str, channels: int, pin_ids: set, image_hw: tuple, concept: str | None,
               instrument) -> Edit:
    """The :class:`Edit` of a request body (ablate, units, strokes {pin id: {remove, insert}}, concept).

    Args:
        body: the request's fields (its ``layer`` already resolved by the caller).
        layer: the edited G layer's short name (without ``G.``). channels: its units.
        pin_ids: the ids of the pinned samples. image_hw: the images' (H, W).
        concept: the current concept, kept when the body names none.
        instrument: the concept instrument (None: any concept name is kept).

    Returns:
        The edit; raises :class:`BadRequest` on the first field that does not fit.
    """
    ablate = _units(body.get("ablate") or [], channels, "ablate", layer)
    units = _units(body.get("units") or [], channels, "units", layer)
    remove, insert = {}, {}
    for key, stroke in (body.get("strokes") or {}).items():
        try:
            pid = int(key)
        except ValueError:
            raise BadRequest(f"strokes: {key!r} is not a pinned sample id") from None
        if pid not in pin_ids:
            raise BadRequest(f"strokes: no pinned sample has id {pid}; pinned: {sorted(pin_ids) or 'none'}")
        for kind, target in (("remove", remove), ("insert", insert)):
            if stroke.get(kind) is not None:
                target[pid] = _mask(stroke[kind], pid, kind, image_hw)
    concept = body.get("concept") or concept
    if concept is not None and instrument is not None and concept not in instrument.class_names:
        raise BadRequest(f"concept {concept!r} is not a class of {instrument.name}; choose one of "
                         f"{', '.join(instrument.class_names)}")
    return Edit(layer, ablate, units, remove, insert, concept)


def _units(values, channels: int, what: str, layer: str) -> tuple:
    if len(values) > channels:
        raise BadRequest(f"{what}: {len(values)} units given, G.{layer} has only {channels}")
    bad = [u for u in values if not 0 <= u < channels]
    if bad:
        raise BadRequest(f"{what}: unit {bad[0]} is out of range: G.{layer} has {channels} units (0-{channels - 1})")
    return tuple(sorted(set(int(u) for u in values)))


def _mask(values, pin_id: int, kind: str, image_hw: tuple) -> np.ndarray:
    h, w = image_hw
    try:
        m = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadRequest(f"the {kind} mask of pinned sample {pin_id} must be numbers in [0, 1]") from None
    if m.size != h * w or m.ndim not in (1, 2) or (m.ndim == 2 and m.shape != (h, w)):
        raise BadRequest(f"the {kind} mask of pinned sample {pin_id} has shape {list(m.shape)}; the images are "
                         f"{h}x{w}: give {h * w} values (row by row) or {h} rows of {w}")
    if not np.isfinite(m).all() or m.min(initial=0) < 0 or m.max(initial=0) > 1:
        raise BadRequest(f"the {kind} mask of pinned sample {pin_id} must hold values in [0, 1]")
    return m.reshape(h, w)
