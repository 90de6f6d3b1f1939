"""The user's segmenter, ``--segmenter FILE.py:FUNC`` (the contract is in :mod:`gan_viz.instruments`):
:class:`UserSegmenter`, what ``FUNC()`` may return (:func:`_unpack`) and :func:`load_segmenter`, which
checks it on a probe batch of the model's own images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..errors import UserError
from .base import Instrument

if TYPE_CHECKING:
    from ..subject import Subject

PROBE = 2  # images of the probe batch a user segmenter is checked on
SEGMENTER_KEYS = {"segment", "classes", "class_names", "probs"}


class UserSegmenter(Instrument):
    """``--segmenter FILE.py:FUNC``: the user's callable images -> class ids (see :mod:`gan_viz.instruments`)."""

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
    from ..model_def import load_function

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
