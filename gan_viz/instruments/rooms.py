"""The shipped rooms scene parsers as instruments: :class:`RoomsParser` (``parser.pt``, and the
held-out second parser ``parser_b.pt``), their cards (:func:`card_iou`), whether a subject's images
fit them (:func:`rooms_check`, the applicability check) and their loading."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .. import applicability
from .base import Instrument

if TYPE_CHECKING:
    from ..subject import Subject

ROOMS = "rooms"  # the domain the rooms parsers apply to


class RoomsParser(Instrument):
    """The shipped rooms scene parser (:mod:`gan_viz.parser`) as an instrument.

    ``which`` "a" is the parser every analysis measures with (``parser.pt``); "b" is the
    second, independently trained one (``parser_b.pt``: another seed, other widths, its own
    card), the held-out judge of what forget's filter selection removed.
    """

    kind = "parser"

    def __init__(self, parser, weights: str | None = None, forced: bool = False, note: str = "", which: str = "a"):
        super().__init__("rooms-parser" if which == "a" else "rooms-parser-b", parser.classes, forced, note)
        self.parser = parser
        self.weights = weights
        self.which = which

    def segment(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return self.parser.segment(images, batch_size)

    def class_fractions(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return self.parser.class_fractions(images, batch_size)

    @property
    def differentiable(self) -> bool:
        return hasattr(self.parser, "net")

    def concept_prob(self, class_id: int):
        """The parser's mean softmax probability of ``class_id`` per image (differentiable)."""
        from ..parser import chunk_size, prepare

        parser = self.parser

        def prob(images: torch.Tensor) -> torch.Tensor:
            x, (h, w) = prepare(images)
            step = chunk_size(*x.shape[-2:], parser.device)  # as the parser's verbs run (CPU: in cache-sized chunks)
            return torch.cat([parser.net(x[i:i + step].to(parser.device))[..., :h, :w].softmax(1)[:, class_id]
                              .mean((1, 2)) for i in range(0, len(x), step)])  # (N,)

        return prob

    def describe(self) -> dict:
        d = super().describe()
        stem = "parser" if self.which == "a" else "parser_b"
        d["weights"] = self.weights or f"shipped (gan_viz/assets/{stem}.pt)"
        if self.weights is None:
            d["held_out_mean_iou"] = card_iou(ASSETS / f"{stem}.md")
            d["card"] = f"gan_viz/assets/{stem}.md"
        return d


ASSETS = Path(__file__).parent.parent / "assets"
PARSER_B = ASSETS / "parser_b.pt"  # the second rooms parser (seed 1, widths 12/24/48/80): forget's held-out judge


def card_iou(path: Path | None = None) -> dict:
    """The shipped parser card's held-out mean IoU per image size, e.g. ``{"32": 0.922, "64": 0.969}``."""
    path = path or ASSETS / "parser.md"
    try:
        text = path.read_text()
    except OSError:
        return {}
    head = re.search(r"^\|\s*class\s*\|(.*)\|\s*$", text, re.M)
    mean = re.search(r"^\|\s*\*\*mean\*\*\s*\|(.*)\|\s*$", text, re.M)
    if not head or not mean:
        return {}
    sizes = [re.search(r"(\d+)x\d+", c) for c in head.group(1).split("|")]
    values = [re.search(r"([\d.]+)", c) for c in mean.group(1).split("|")]
    return {s.group(1): float(v.group(1)) for s, v in zip(sizes, values) if s and v}


def _rooms_misfit(subject: "Subject") -> str | None:
    """Why the rooms parser cannot read this subject's images (channels, size), or None."""
    from ..data.rooms import MAX_SIZE, MIN_SIZE

    c, h, w = subject.image_shape
    if c != 3:
        return f"the rooms parser reads RGB (3-channel) images and this model draws {c}-channel ones"
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        return f"the rooms parser reads {MIN_SIZE}-{MAX_SIZE} pixel images and this model makes {h}x{w}"
    return None


def _domain_phrase(subject: "Subject") -> str:
    return "unknown" if subject.domain is None else repr(subject.domain)


def _load_rooms(subject: "Subject", weights: str | None, device, forced: bool, which: str = "a") -> RoomsParser:
    from .. import parser as P

    p = P.load_parser(weights if weights is not None or which == "a" else PARSER_B, device)
    note = (f"--segmenter rooms on a model whose domain is {_domain_phrase(subject)}" if forced
            else "the model's domain is rooms")
    if which == "b":
        note += "; the second rooms parser, trained independently (seed 1, widths 12/24/48/80)"
    inst = RoomsParser(p, None if weights is None else str(weights), forced, note, which)
    # the check is about the model's images: the second parser (a judge) takes the first one's reading
    inst.applicability = rooms_check(subject, p, which, weights) if which == "a" else rooms_check(subject)
    if inst.out_of_domain:
        inst.forced = True
        inst.note += f"; OUTSIDE ITS DOMAIN ({applicability.phrase(inst.applicability)})"
    return inst


def rooms_check(subject: "Subject", parser=None, which: str = "a", weights: str | None = None) -> dict | None:
    """The rooms parser's applicability to ``subject``'s own samples (:mod:`gan_viz.applicability`),
    computed once per subject and parser (``weights``: other parser weights than the shipped ones);
    None where it cannot be checked (no generator, non-square images)."""
    c, h, w = subject.image_shape
    if not subject.has_G or h != w or _rooms_misfit(subject):
        return None
    cache = subject.__dict__.setdefault("_rooms_applicability", {})
    key = (which, None if weights is None else str(weights))
    if key not in cache:
        if parser is None:
            from .. import parser as P

            parser = P.load_parser(weights if weights is not None or which == "a" else PARSER_B)
        if not hasattr(parser, "features"):  # a stand-in without the parser's feature space: cannot be checked
            return None
        z = subject.sample_z(applicability.N_CHECK, torch.Generator().manual_seed(0))
        with torch.no_grad():
            cache[key] = applicability.rooms_applicability(parser, subject.images(z))
    return cache[key]
