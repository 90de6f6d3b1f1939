"""Choosing the instrument for a subject: :func:`resolve_instrument` (the one of its domain, forced,
none, or the user's), :func:`absent_reason` (why there is none), :func:`require_instrument` (one or a
one-line error) and :func:`held_out_instrument` (an independent judge, e.g. the second rooms parser)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .. import applicability
from ..errors import UserError
from .base import Instrument
from .rooms import ROOMS, _domain_phrase, _load_rooms, _rooms_misfit, rooms_check
from .user import load_segmenter

if TYPE_CHECKING:
    from ..subject import Subject

FORCE_HINT = "pass --segmenter FILE.py:FUNC (your segmenter), --boxes/--masks, or --segmenter rooms to force it"


def _check_spec(spec: str | None) -> None:
    if spec is None or spec in (ROOMS, "none") or ":" in str(spec):
        return
    raise UserError(f"--segmenter {spec!r}: give rooms (force the rooms parser), none, or FILE.py:FUNC "
                    "(your segmenter)")


def absent_reason(subject: "Subject", spec: str | None = None, parser: str | None = None) -> str | None:
    """Why :func:`resolve_instrument` gives no instrument for ``subject`` (None when it gives one);
    ``parser``: rooms parser weights other than the shipped ones (their own applicability check)."""
    _check_spec(spec)
    if spec == "none":
        return "no instrument (--segmenter none)"
    if spec is not None:
        return None
    if subject.domain != ROOMS:
        return f"the model's domain is {_domain_phrase(subject)}, so the rooms parser does not apply"
    misfit = _rooms_misfit(subject)
    if misfit:
        return misfit
    try:
        rec = rooms_check(subject, weights=parser)
    except UserError:
        return None  # no parser weights: require_instrument reports the loader's own error
    if rec is not None and not rec["in_domain"]:
        return (f"the rooms parser does not fit this model's images ({applicability.phrase(rec)}); "
                "--segmenter rooms measures anyway and marks every figure as out of the parser's domain")
    return None


def resolve_instrument(subject: "Subject", spec: str | None = None, *, parser: str | None = None,
                       device: torch.device | str = "cpu", which: str = "a") -> Instrument | None:
    """The instrument for ``subject``: ``spec`` None (the one of its domain: the rooms parser for
    rooms, else None), ``"rooms"`` (the rooms parser, forced unless the domain is rooms),
    ``"none"``, or ``"FILE.py:FUNC"`` (the user's segmenter, checked on a probe batch).

    Args:
        parser: rooms parser weights (default: the shipped ones).
        which: "a" (the rooms parser) or "b" (the second, independently trained rooms parser,
            ``parser_b.pt``, where the rooms parser applies; the user's segmenter has no "b").
    Raises:
        UserError: a bad spec, a segmenter that fails its probe, ``rooms`` forced on images the
            parser cannot read (1 channel, a size outside 32-128), unreadable ``parser`` weights.
    """
    _check_spec(spec)
    if which not in ("a", "b"):
        raise ValueError(f"which={which!r}: 'a' or 'b'")
    if spec == "none":
        return None
    if spec is not None and spec != ROOMS:
        return load_segmenter(spec, subject) if which == "a" else None
    if spec == ROOMS:
        misfit = _rooms_misfit(subject)
        if misfit:
            raise UserError(f"--segmenter rooms: {misfit}; pass --segmenter FILE.py:FUNC (your segmenter)")
        return _load_rooms(subject, parser, device, forced=subject.domain != ROOMS, which=which)
    if absent_reason(subject, parser=parser) is not None:
        return None
    try:
        return _load_rooms(subject, parser, device, forced=False, which=which)
    except UserError:
        if parser is not None:
            raise
        return None  # the package ships without parser weights: absent_reason cannot know


def held_out_instrument(subject: "Subject", spec: str | None = None, *, judge: str | None = None,
                        device: torch.device | str = "cpu") -> Instrument | None:
    """An instrument independent of the one ``spec`` resolves to, to judge what a selection made with
    that one did: ``judge`` "FILE.py:FUNC" (the user's second segmenter), ``"rooms-b"`` (the second
    rooms parser, forced like ``--segmenter rooms`` where the domain is not rooms), ``"none"``; by
    default the second rooms parser wherever the rooms parser is the instrument, else None (no
    independent instrument: the caller says so).

    Example:
        >>> held_out_instrument(subject).name        # a rooms model
        'rooms-parser-b'
    """
    if judge == "none":
        return None
    if judge == "rooms-b":
        return resolve_instrument(subject, ROOMS, device=device, which="b")
    if judge is not None:
        if ":" not in str(judge):
            raise UserError(f"--judge {judge!r}: give FILE.py:FUNC (your second segmenter), rooms-b (the second "
                            "rooms parser) or none")
        return load_segmenter(judge, subject)
    if spec is not None and spec != ROOMS:
        return None
    return resolve_instrument(subject, spec, device=device, which="b")


def require_instrument(subject: "Subject", spec: str | None, analysis_name: str, *, parser: str | None = None,
                       device: torch.device | str = "cpu", alternatives: str = FORCE_HINT) -> Instrument:
    """:func:`resolve_instrument`, or a one-line :class:`UserError` saying why there is none and what to pass."""
    inst = resolve_instrument(subject, spec, parser=parser, device=device)
    if inst is not None:
        return inst
    reason = absent_reason(subject, spec, parser=parser)
    if reason is None:  # the domain's parser applies but its weights are missing
        from .. import parser as P

        P.load_parser(parser, device)  # raises the loader's own one-line error
        reason = "no instrument could be loaded"
    raise UserError(f"{analysis_name} needs a concept instrument, and {reason}; {alternatives}")
