"""The :class:`Instrument` base class and the summary records of an instrument: the JSON
``instrument`` entry (:func:`instrument_record`), its caption sentence (:func:`caption_note`),
console line (:func:`record_line`) and figure-title tag (:func:`figure_tag`)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .. import applicability
from ..errors import UserError


class Instrument:
    """Something that maps images to class maps with class names.

    Attributes:
        name: e.g. ``"rooms-parser"``, ``"segmenter seg.py:build"``, ``"masks m.npz"``.
        class_names: the K class names; a class id indexes them.
        forced: True when ``--segmenter rooms`` imposed the rooms parser on a model whose
            domain is not rooms (every summary and caption then says so).
        kind: ``"parser"``, ``"segmenter"``, ``"masks"`` or ``"boxes"``.
        note: why this instrument (one line).
    """

    kind = "segmenter"

    def __init__(self, name: str, class_names: Sequence[str], forced: bool = False, note: str = ""):
        self.name = name
        self.class_names = tuple(str(c) for c in class_names)
        self.forced = bool(forced)
        self.note = note
        self.applicability: dict | None = None  # the rooms parser's check on the model's images

    @property
    def out_of_domain(self) -> bool:
        """True when the instrument's applicability check failed on the model's images (a forced run)."""
        return bool(self.applicability) and not self.applicability["in_domain"]

    # the measuring verbs ------------------------------------------------------------

    def segment(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) float in [-1, 1] -> (N, H, W) int64 class ids on the CPU (batched, no grad)."""
        raise UserError(f"{self.name} labels fixed images only and cannot segment new ones; "
                        "pass --segmenter FILE.py:FUNC (or --segmenter rooms) for that")

    def class_fractions(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, C, H, W) -> (N, K) float: the share of each image's pixels in each class."""
        from ..images import class_fractions_of

        return class_fractions_of(self.segment(images, batch_size), len(self.class_names))

    def concept_prob(self, class_id: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """images -> (N,) differentiable mean probability of ``class_id``, or None (not differentiable)."""
        return None

    @property
    def differentiable(self) -> bool:
        return False

    # records ------------------------------------------------------------------------

    def describe(self) -> dict:
        """A JSON-able record for summaries: name, kind, forced, class names, why."""
        d = {"name": self.name, "kind": self.kind, "forced": self.forced, "class_names": list(self.class_names),
             "note": self.note, "differentiable": self.differentiable}
        if self.applicability is not None:
            d["applicability"] = dict(self.applicability)
            d["out_of_domain"] = self.out_of_domain
        return d

    @property
    def line(self) -> str:
        """One line for the console: which instrument, and loudly when it was forced."""
        return record_line(self.describe())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self.class_names)} classes, forced={self.forced})"


def instrument_record(inst: Instrument | None, reason: str | None = None) -> dict:
    """The summary's ``instrument`` entry: the instrument's record, or ``{"name": None, "absent": reason}``."""
    if inst is not None and hasattr(inst, "describe"):
        return inst.describe()
    if inst is not None:  # anything with class_fractions / class_names (a stand-in in a test, say)
        return {"name": getattr(inst, "name", type(inst).__name__), "forced": bool(getattr(inst, "forced", False)),
                "class_names": list(getattr(inst, "class_names", ()))}
    return {"name": None, "forced": False, "absent": reason or "no instrument"}


def caption_note(record: dict) -> str:
    """One sentence for a caption: which instrument measured (loudly when forced), or why none did."""
    if not record or record.get("name") is None:
        return f"No concept instrument: {record.get('absent', 'none applies') if record else 'none applies'}."
    if record.get("out_of_domain"):
        return (f"Measured by {record['name']} OUTSIDE ITS DOMAIN, FORCED "
                f"({applicability.phrase(record['applicability'])}): the numbers are its reading of images "
                "it does not recognise as its own kind.")
    if record.get("forced"):
        return (f"Measured by {record['name']}, FORCED ({record.get('note', '--segmenter rooms')}): the numbers "
                "are its reading of images it was not made for.")
    return f"Measured by {record['name']} ({record.get('note', '')})."


def record_line(record: dict) -> str:
    """The console line of a summary's ``instrument`` entry (FORCED in capitals where it was forced)."""
    if not record or record.get("name") is None:
        return f"instrument: none ({(record or {}).get('absent', 'none applies')})"
    forced = f" FORCED ({record.get('note')})" if record.get("forced") else ""
    if record.get("out_of_domain"):
        forced = f" FORCED, OUTSIDE ITS DOMAIN ({applicability.phrase(record['applicability'])})"
    return f"instrument: {record['name']}{forced}"


def figure_tag(record: dict | None) -> str:
    """A short tag for a figure's own title naming the instrument, loudly when forced or out of its domain
    (e.g. ``"[rooms-parser FORCED, out of its domain: room-like 0%]"``); empty without an instrument."""
    if not record or record.get("name") is None:
        return ""
    if record.get("out_of_domain"):
        return (f"[{record['name']} FORCED, out of its domain: room-like "
                f"{record['applicability']['room_like_share']:.0%}]")
    return f"[{record['name']} FORCED]" if record.get("forced") else f"[{record['name']}]"
