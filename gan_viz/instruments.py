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
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from . import applicability
from .errors import UserError

if TYPE_CHECKING:
    from .subject import Subject

ROOMS = "rooms"
PROBE = 2  # images of the probe batch a user segmenter is checked on
SEGMENTER_KEYS = {"segment", "classes", "class_names", "probs"}
FORCE_HINT = "pass --segmenter FILE.py:FUNC (your segmenter), --boxes/--masks, or --segmenter rooms to force it"


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
        seg = self.segment(images, batch_size)  # (N, H, W)
        counts = torch.nn.functional.one_hot(seg.flatten(1), len(self.class_names)).sum(1).float()  # (N, K)
        return counts / seg[0].numel() if len(seg) else counts

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


# --- the rooms scene parser ---------------------------------------------------------------

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
        from .parser import prepare

        parser = self.parser

        def prob(images: torch.Tensor) -> torch.Tensor:
            x, (h, w) = prepare(images)
            logits = parser.net(x.to(parser.device))[..., :h, :w]  # (N, K, H, W)
            return logits.softmax(1)[:, class_id].mean((1, 2))  # (N,)

        return prob

    def describe(self) -> dict:
        d = super().describe()
        stem = "parser" if self.which == "a" else "parser_b"
        d["weights"] = self.weights or f"shipped (gan_viz/assets/{stem}.pt)"
        if self.weights is None:
            d["held_out_mean_iou"] = card_iou(ASSETS / f"{stem}.md")
            d["card"] = f"gan_viz/assets/{stem}.md"
        return d


ASSETS = Path(__file__).parent / "assets"
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
    from .data.rooms import MAX_SIZE, MIN_SIZE

    c, h, w = subject.image_shape
    if c != 3:
        return f"the rooms parser reads RGB (3-channel) images and this model draws {c}-channel ones"
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        return f"the rooms parser reads {MIN_SIZE}-{MAX_SIZE} pixel images and this model makes {h}x{w}"
    return None


def _domain_phrase(subject: "Subject") -> str:
    return "unknown" if subject.domain is None else repr(subject.domain)


def _load_rooms(subject: "Subject", weights: str | None, device, forced: bool, which: str = "a") -> RoomsParser:
    from . import parser as P

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
            from . import parser as P

            parser = P.load_parser(weights if weights is not None or which == "a" else PARSER_B)
        if not hasattr(parser, "features"):  # a stand-in without the parser's feature space: cannot be checked
            return None
        z = subject.sample_z(applicability.N_CHECK, torch.Generator().manual_seed(0))
        with torch.no_grad():
            cache[key] = applicability.rooms_applicability(parser, subject.images(z))
    return cache[key]


# --- the user's segmenter -----------------------------------------------------------------

class UserSegmenter(Instrument):
    """``--segmenter FILE.py:FUNC``: the user's callable images -> class ids (see the module docstring)."""

    def __init__(self, spec: str, fn: Callable, class_names: Sequence[str], probs: Callable | None = None):
        super().__init__(f"segmenter {spec}", class_names, False, f"your segmenter {spec}")
        self.spec, self.fn, self.probs = spec, fn, probs

    def _call(self, fn: Callable, x: torch.Tensor):
        try:
            return fn(x)
        except UserError:
            raise
        except Exception as e:  # the user's code: one line naming what failed
            msg = str(e).strip().splitlines()[0][:150] if str(e).strip() else ""
            raise UserError(f"--segmenter {self.spec} raised {type(e).__name__} on images of shape "
                            f"{tuple(x.shape)}: {msg}") from None

    def segment(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = images[i:i + batch_size].float().cpu()
                out.append(self._check(self._call(self.fn, x), x))
        if not out:
            return torch.zeros(0, *images.shape[2:], dtype=torch.long)
        return torch.cat(out)

    def _check(self, ids: Any, x: torch.Tensor) -> torch.Tensor:
        """The segmenter's output as (N, H, W) int64, or a one-line error naming what is wrong."""
        want = (x.shape[0], *x.shape[2:])
        if isinstance(ids, np.ndarray):
            ids = torch.from_numpy(np.ascontiguousarray(ids))
        if not isinstance(ids, torch.Tensor):
            raise UserError(f"--segmenter {self.spec} returned a {type(ids).__name__}; it must return class ids "
                            f"(N, H, W) as a tensor or NumPy array")
        if tuple(ids.shape) != want:
            raise UserError(f"--segmenter {self.spec} returned shape {tuple(ids.shape)} for images of shape "
                            f"{tuple(x.shape)}; it must return class ids of shape {want} (N, H, W)")
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise UserError(f"--segmenter {self.spec} returned {str(ids.dtype).replace('torch.', '')} values; "
                            "it must return integer class ids (e.g. .long() of an argmax)")
        ids = ids.detach().cpu().long()
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= len(self.class_names):
                bad = lo if lo < 0 else hi
                raise UserError(f"--segmenter {self.spec} returned class id {bad}, outside its "
                                f"{len(self.class_names)} class names (ids 0-{len(self.class_names) - 1}: "
                                f"{', '.join(self.class_names)})")
        return ids

    @property
    def differentiable(self) -> bool:
        return self.probs is not None

    def concept_prob(self, class_id: int):
        if self.probs is None:
            return None
        return lambda images: self.probs(images)[:, class_id].mean((1, 2))  # (N,)

    def describe(self) -> dict:
        return {**super().describe(), "spec": self.spec}


def _unpack(obj: Any, spec: str) -> tuple[Callable, tuple, Callable | None]:
    """(segment fn, class names, probs fn or None) from what FUNC returned."""
    shape = ("a dict {'segment': fn, 'classes': [...]}, a tuple (fn, classes) or an object with "
             ".segment() and .class_names")
    if isinstance(obj, Mapping):
        unknown = sorted(set(map(str, obj)) - SEGMENTER_KEYS)
        if unknown:
            raise UserError(f"--segmenter {spec} returned unknown keys {unknown}; allowed: {sorted(SEGMENTER_KEYS)}")
        fn, names, probs = obj.get("segment"), obj.get("classes", obj.get("class_names")), obj.get("probs")
    elif isinstance(obj, tuple) and len(obj) == 2:
        (fn, names), probs = obj, None
    elif callable(getattr(obj, "segment", None)):
        fn, probs = obj.segment, getattr(obj, "probs", None)
        names = getattr(obj, "class_names", getattr(obj, "classes", None))
    else:
        raise UserError(f"--segmenter {spec} returned a {type(obj).__name__}; it must return {shape}")
    if not callable(fn):
        raise UserError(f"--segmenter {spec}: its segment is a {type(fn).__name__}, not a function; return {shape}")
    if probs is not None and not callable(probs):
        raise UserError(f"--segmenter {spec}: 'probs' is a {type(probs).__name__}, not a function")
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) < 2 \
            or not all(isinstance(n, str) and n for n in names):
        raise UserError(f"--segmenter {spec}: class names {names!r} must be a list of at least two "
                        "non-empty strings (class id i is names[i])")
    if len(set(names)) != len(names):
        raise UserError(f"--segmenter {spec}: class names {list(names)} repeat a name")
    return fn, tuple(names), probs


def _probe_images(subject: "Subject") -> torch.Tensor:
    """A probe batch of the model's own images (zeros where it has no generator): (PROBE, C, H, W)."""
    if subject.has_G:
        return subject.images(subject.sample_z(PROBE, torch.Generator().manual_seed(0)))
    return torch.zeros(PROBE, *subject.image_shape)


def load_segmenter(spec: str, subject: "Subject") -> UserSegmenter:
    """The user's segmenter of ``FILE.py:FUNC``, checked on a probe batch of ``subject``'s images."""
    from .model_def import load_function

    fn = load_function(spec, what="--segmenter")
    try:
        obj = fn()
    except UserError:
        raise
    except Exception as e:
        msg = str(e).strip().splitlines()[0][:150] if str(e).strip() else ""
        raise UserError(f"--segmenter {spec} raised {type(e).__name__}: {msg}") from None
    seg = UserSegmenter(spec, *_unpack(obj, spec))
    probe = _probe_images(subject)
    seg.segment(probe)
    if seg.probs is not None:
        with torch.no_grad():
            p = seg._call(seg.probs, probe)
        k = len(seg.class_names)
        if not isinstance(p, torch.Tensor) or tuple(p.shape) != (len(probe), k, *probe.shape[2:]):
            got = tuple(p.shape) if hasattr(p, "shape") else type(p).__name__
            raise UserError(f"--segmenter {spec}: probs returned {got}; it must return class probabilities "
                            f"(N, {k}, H, W) as a tensor")
    return seg


# --- user masks and boxes -------------------------------------------------------------------

class Masks(Instrument):
    """User class masks of fixed real images: ``maps(indices) -> (B, H, W)`` class ids."""

    kind = "masks"

    def __init__(self, path: str, masks: np.ndarray, class_names: Sequence[str]):
        super().__init__(f"masks {path}", class_names, False, f"your masks {path}")
        self.masks = masks  # (N, H, W) int64

    def maps(self, indices) -> np.ndarray:
        return self.masks[np.asarray(indices, dtype=np.int64)]

    @classmethod
    def from_npz(cls, path: str, n: int, size: Sequence[int]) -> "Masks":
        """Read an .npz with ``masks`` (M >= n, H, W) integer ids and ``class_names`` (K,)."""
        h, w = int(size[0]), int(size[1])
        try:
            with np.load(path, allow_pickle=False) as z:
                masks, names = z["masks"], tuple(str(c) for c in z["class_names"])
        except FileNotFoundError:
            raise UserError(f"--masks file {path} does not exist") from None
        except (KeyError, ValueError, OSError) as e:
            raise UserError(f"--masks {path} must be an .npz with 'masks' (N, H, W) and 'class_names' ({e})") from None
        if masks.ndim != 3 or masks.shape[1:] != (h, w) or len(masks) < n:
            raise UserError(f"--masks has shape {masks.shape}; need ({n} or more, {h}, {w}) for "
                            f"--images {n} at the model's size")
        if not np.issubdtype(masks.dtype, np.integer) or masks.min() < 0 or masks.max() >= len(names):
            raise UserError(f"--masks must hold integer class ids in 0..{len(names) - 1}")
        return cls(str(path), masks[:n].astype(np.int64), names)


class Boxes(Instrument):
    """User boxes of one concept on annotated samples: ``boxes[i] = [(x0, y0, x1, y1), ...]``."""

    kind = "boxes"

    def __init__(self, path: str, concept: str, boxes: dict):
        super().__init__(f"boxes {path}", ("(rest)", concept), False, f"your boxes {path}")
        self.boxes = boxes


# --- resolution ---------------------------------------------------------------------------

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
        from . import parser as P

        P.load_parser(parser, device)  # raises the loader's own one-line error
        reason = "no instrument could be loaded"
    raise UserError(f"{analysis_name} needs a concept instrument, and {reason}; {alternatives}")


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
