"""Measuring a latent walk: image change per step, sharp transitions, and the instrument's class events.

:func:`compute_latent_walk` generates the frames of a walk (:func:`~.interpolate.walk_z`) and
returns a :class:`WalkResult`: no files, no figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gan_viz.errors import UserError
from gan_viz.subject import Subject, generate_images

from .interpolate import walk_z

PRESENT = 0.01  # a class is "present" in an image from 1% of its pixels
APPEAR, VANISH = 0.02, 0.005  # hysteresis: appears from 2% of the pixels, disappears below 0.5%
EVENT = 0.05  # a class changes "abruptly" when its fraction moves by 5% of the image in one step


def rms(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-pixel RMS distance of image pairs: (N, C, H, W) x2 -> (N,) float64."""
    return (a.double() - b.double()).pow(2).flatten(1).mean(1).sqrt().numpy()


@dataclass(frozen=True)
class WalkResult:
    """A measured latent walk (F frames through P anchors, S = steps per segment)."""

    anchors: np.ndarray  # (P, nz) float32
    z: np.ndarray  # (F, nz) float32
    frames: np.ndarray  # (F, C, H, W) float32 in [-1, 1]
    steps: int
    interp: str
    sharp_factor: float
    step_rms: np.ndarray  # (F-1,) image change per step
    z_step: np.ndarray  # (F-1,) latent step length
    segment_rms: np.ndarray  # (P-1,) distance between the anchor images of each segment
    sharp: np.ndarray  # (F-1,) bool: step_rms > sharp_factor * median(step_rms)
    fractions: np.ndarray | None = None  # (F, K) the instrument's class fractions
    class_names: tuple = ()
    events: tuple = field(default_factory=tuple)  # abrupt class changes (dicts)
    presence: tuple = field(default_factory=tuple)  # class appears / disappears (dicts)
    event_threshold: float = EVENT

    @property
    def anchor_frames(self) -> np.ndarray:
        return np.arange(len(self.anchors)) * self.steps

    @property
    def path_rms(self) -> np.ndarray:
        """(P-1,) sum of the step changes within each segment."""
        return self.step_rms.reshape(-1, self.steps).sum(1)

    @property
    def largest_step_share(self) -> np.ndarray:
        """(P-1,) the share of a segment's path taken by its largest step (1/steps = even)."""
        per = self.step_rms.reshape(-1, self.steps)
        return per.max(1) / np.maximum(per.sum(1), 1e-12)


def class_events(fractions: np.ndarray, names, threshold: float = EVENT) -> list[dict]:
    """Steps where a class's pixel fraction moves by >= ``threshold`` of the image.

    A loss names the class that gained most in the same step (``into``): where a window
    turns into something else. fractions: (F, K). Returns dicts sorted by step.
    """
    delta = np.diff(fractions, axis=0)  # (F-1, K)
    out = []
    for step, c in zip(*np.nonzero(np.abs(delta) >= threshold)):
        ev = {"step": int(step), "frame": int(step + 1), "class": names[c],
              "before": round(float(fractions[step, c]), 4), "after": round(float(fractions[step + 1, c]), 4)}
        if delta[step, c] < 0:
            gain = int(np.argmax(delta[step]))
            ev["into"] = names[gain] if delta[step, gain] > 0 else None
        out.append(ev)
    return out


def presence_changes(fractions: np.ndarray, names, appear: float = APPEAR, vanish: float = VANISH) -> list[dict]:
    """Frames where a class appears (reaches ``appear``) or disappears (falls below ``vanish``).

    The gap between the two thresholds (hysteresis) keeps parser flicker around one
    threshold from counting as events. fractions: (F, K). Returns dicts sorted by frame.
    """
    on = fractions[0] >= PRESENT  # (K,) the state at the first frame
    out = []
    for f in range(1, len(fractions)):
        for c in range(fractions.shape[1]):
            if not on[c] and fractions[f, c] >= appear or on[c] and fractions[f, c] < vanish:
                on[c] = not on[c]
                out.append({"frame": f, "class": names[c], "change": "appears" if on[c] else "disappears"})
    return out


def compute_latent_walk(G, anchors: torch.Tensor, steps: int = 8, interp: str = "linear",
                        sharp_factor: float = 3.0, instrument=None, batch_size: int = 256,
                        device: torch.device | str = "cpu", event_threshold: float = EVENT) -> WalkResult:
    """Generate and measure a walk through ``anchors``.

    Args:
        G: the generator module (left in its mode) or a Subject. anchors: (P, nz).
        steps: frames per segment. interp: "linear" or "slerp".
        sharp_factor: a step is sharp above this many median steps.
        instrument: a :class:`gan_viz.instruments.Instrument` (anything with ``class_fractions``
            and ``class_names``) to follow the scene classes, or None.
        event_threshold: a class change in one step of at least this fraction of the image is an event.
    Returns:
        A :class:`WalkResult`.
    """
    if not sharp_factor > 0:
        raise UserError(f"--sharp-factor {sharp_factor}: must be > 0")
    z = walk_z(anchors, steps, interp)  # (F, nz)
    frames = G.images(z, batch_size, device) if isinstance(G, Subject) else generate_images(G, z, batch_size, device)
    step = rms(frames[1:], frames[:-1])
    ends = frames[::steps]
    kw = {}
    if instrument is not None:
        fr = instrument.class_fractions(frames).numpy().astype(np.float64)  # (F, K)
        names = tuple(instrument.class_names)
        kw = dict(fractions=fr, class_names=names, events=tuple(class_events(fr, names, event_threshold)),
                  presence=tuple(presence_changes(fr, names)))
    return WalkResult(anchors=anchors.float().numpy(), z=z.numpy(), frames=frames.numpy(), steps=steps,
                      interp=interp, sharp_factor=float(sharp_factor), step_rms=step,
                      z_step=(z[1:] - z[:-1]).double().norm(dim=1).numpy(), segment_rms=rms(ends[1:], ends[:-1]),
                      sharp=step > sharp_factor * np.median(step), event_threshold=float(event_threshold), **kw)
