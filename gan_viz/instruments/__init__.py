"""Concept instruments: what maps images to a class map with class names.

An analysis that counts objects (forget, arithmetic concepts, walk events, filter
dissection) measures with an :class:`Instrument`:

- ``rooms-parser``: the shipped rooms scene parser. It applies by default to a subject
  whose domain is ``rooms`` (3-channel images of 32-128 pixels); ``--segmenter rooms``
  forces it on a model of another or unknown domain, and then every summary says so
  (``instrument.forced`` is true).
- ``segmenter FILE.py:FUNC``: the user's own segmenter (the contract is below).
- ``masks FILE`` / ``boxes FILE``: user masks of real images or boxes on annotated
  samples; they label fixed images only (they cannot segment new ones) and are used by
  the commands that read them (filter-audit ``--masks``, forget ``--boxes``).

No instrument is ever assumed: for a model whose domain is unknown (or not rooms),
:func:`resolve_instrument` gives None and :func:`absent_reason` says why;
:func:`require_instrument` raises that reason as a one-line error.

The user segmenter contract (``--segmenter FILE.py:FUNC``): ``FUNC()`` is called with
no arguments and returns one of

- a dict ``{"segment": fn, "classes": ["background", "sky", ...]}``, optionally with
  ``"probs": fn2``;
- a tuple ``(fn, classes)``;
- an object with a ``segment(images)`` method and a ``class_names`` (or ``classes``)
  attribute, optionally a ``probs(images)`` method;

where ``fn(images)`` takes a float tensor (N, C, H, W) in [-1, 1] (the model's
images, on the CPU) and returns integer class ids (N, H, W), a tensor or a NumPy
array, each id indexing ``classes`` (at least two names). The optional ``probs(images)``
returns differentiable class probabilities (N, K, H, W); with it forget can optimise
an ablation (``--select optimized-K``), without it forget selects ``causal-K``. The
segmenter is checked on a probe batch of the model's own images: wrong shapes or ids
outside the names are refused with one line.

Example::

    # seg.py
    import torch
    def build():
        def segment(x):                      # (N, 3, H, W) in [-1, 1]
            return (x[:, 0] > 0.3).long()    # (N, H, W): 1 where red
        return {"segment": segment, "classes": ["rest", "red"]}

    >>> inst = resolve_instrument(subject, "seg.py:build")
    >>> inst.segment(images)                 # (N, H, W) int64

The package: :mod:`~gan_viz.instruments.base` (the :class:`Instrument` class and its summary
records), :mod:`~gan_viz.instruments.rooms` (the rooms scene parsers and their applicability
check), :mod:`~gan_viz.instruments.user` (``--segmenter FILE.py:FUNC``),
:mod:`~gan_viz.instruments.masks` (hand masks and boxes) and :mod:`~gan_viz.instruments.resolve`
(choosing the instrument for a subject, and the held-out judge).
"""

from .base import Instrument, caption_note, figure_tag, instrument_record, record_line
from .masks import Boxes, Masks
from .resolve import FORCE_HINT, absent_reason, held_out_instrument, require_instrument, resolve_instrument
from .rooms import ASSETS, PARSER_B, ROOMS, RoomsParser, card_iou, rooms_check
from .user import PROBE, SEGMENTER_KEYS, UserSegmenter, load_segmenter

__all__ = [
    "ASSETS", "FORCE_HINT", "PARSER_B", "PROBE", "ROOMS", "SEGMENTER_KEYS",
    "Boxes", "Instrument", "Masks", "RoomsParser", "UserSegmenter",
    "absent_reason", "caption_note", "card_iou", "figure_tag", "held_out_instrument", "instrument_record",
    "load_segmenter", "record_line", "require_instrument", "resolve_instrument", "rooms_check",
]
