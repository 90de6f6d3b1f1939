"""Walking in the latent space (paper Fig. 4), measured.

A walk visits a series of anchor points of z (9 random ones, as the paper) and puts
``steps`` frames on each segment between two anchors, so a walk through P anchors has
``(P - 1) * steps + 1`` frames and frame ``k * steps`` is anchor ``k`` exactly. Every
frame is ``G(z)`` in eval mode through :func:`gan_viz.subject.generate_images`, so
it equals what ``gan-viz generate --z`` gives for the same z.

Measured along the walk:
- the image change per step: per-pixel RMS distance between consecutive frames (in the
  [-1, 1] units of the images), and per segment the path length against the direct
  distance of its two anchor images;
- sharp transitions, the paper's memorisation signal: a step whose change exceeds
  ``sharp_factor`` times the median step of the whole walk;
- with a concept instrument (:mod:`gan_viz.instruments`: the rooms scene parser for a
  rooms model, or the user's ``--segmenter``), its class fractions per frame, the steps
  where a class changes abruptly (and what replaces it) and the frames where a class
  appears or disappears (a window slowly becoming a door, say). Without one the walk
  still runs; the events are absent and the summary says why.

Interpolation: ``linear`` (straight line) or ``slerp`` (great circle on the direction,
the norm interpolated linearly between the anchors' norms, so a walk between normal
samples keeps a typical norm instead of shrinking through the middle).

The registered runner :func:`run` (``gan-viz latent-walk``) takes any subject with a
generator (a module, or a callable z -> images).

Example:
    >>> r = compute_latent_walk(G, anchors, steps=8, interp="slerp")
    >>> r.frames.shape[0] == (len(anchors) - 1) * 8 + 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan_viz.analyses.registry import register
from gan_viz import memory as _memory
from gan_viz.errors import UserError
from gan_viz.images import to_uint8
from gan_viz.subject import Subject, generate_images

INTERPS = ("linear", "slerp")
PRESENT = 0.01  # a class is "present" in an image from 1% of its pixels
APPEAR, VANISH = 0.02, 0.005  # hysteresis: appears from 2% of the pixels, disappears below 0.5%
EVENT = 0.05  # a class changes "abruptly" when its fraction moves by 5% of the image in one step


# --- interpolation --------------------------------------------------------------------

def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: (nz,), (nz,), (T,) -> (T, nz)."""
    t = t.to(torch.float64)[:, None]
    return (1 - t) * a.double() + t * b.double()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the direction, linear interpolation of the norm.

    Args:
        a, b: (nz,) endpoints. t: (T,) positions in [0, 1].
    Returns:
        (T, nz) float64 with ``|z(t)| = (1 - t)|a| + t|b|`` exactly; falls back to
        :func:`lerp` when an endpoint is zero or the two directions (anti)coincide.
    """
    a, b, t = a.double(), b.double(), t.to(torch.float64)[:, None]
    na, nb = a.norm(), b.norm()
    if na < 1e-12 or nb < 1e-12:
        return lerp(a, b, t[:, 0])
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.clamp(ua @ ub, -1.0, 1.0))
    if torch.sin(omega) < 1e-6:  # parallel or opposite: no unique great circle
        return lerp(a, b, t[:, 0])
    u = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    u = u / u.norm(dim=1, keepdim=True)
    return u * ((1 - t) * na + t * nb)


def walk_z(anchors: torch.Tensor, steps: int, interp: str) -> torch.Tensor:
    """The latent codes of a walk through ``anchors``.

    Args:
        anchors: (P, nz), P >= 2. steps: frames per segment (>= 1). interp: linear/slerp.
    Returns:
        (F, nz) float32, F = (P - 1) * steps + 1; row ``k * steps`` equals anchor k exactly.
    """
    if anchors.ndim != 2 or len(anchors) < 2:
        raise UserError(f"a walk needs at least 2 anchor points; got {tuple(anchors.shape)}")
    if steps < 1:
        raise UserError(f"--steps {steps}: each segment needs at least 1 step")
    if interp not in INTERPS:
        raise UserError(f"unknown interpolation {interp!r}; choose one of {', '.join(INTERPS)}")
    fn = slerp if interp == "slerp" else lerp
    t = torch.arange(steps, dtype=torch.float64) / steps  # (steps,), 0 included, 1 excluded
    rows = [fn(anchors[k], anchors[k + 1], t) for k in range(len(anchors) - 1)]
    z = torch.cat(rows + [anchors[-1:].double()]).float()  # (F, nz)
    z[::steps] = anchors.float()  # anchors bit-exact
    return z


# --- measuring ----------------------------------------------------------------------

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


def summarize(r: WalkResult) -> dict:
    """The smoothness figures of merit (JSON-able)."""
    med = float(np.median(r.step_rms))
    sharp = [{"step": int(i), "from_frame": int(i), "segment": int(i // r.steps),
              "t": round((i % r.steps) / r.steps, 4), "rms": float(f"{r.step_rms[i]:.4g}"),
              "over_median": round(float(r.step_rms[i] / max(med, 1e-12)), 2)} for i in np.nonzero(r.sharp)[0]]
    out = {"anchors": len(r.anchors), "steps_per_segment": r.steps, "frames": len(r.frames), "interp": r.interp,
           "distance": "per-pixel RMS in [-1, 1] image units",
           "step_rms": {"mean": float(r.step_rms.mean()), "median": med, "p95": float(np.percentile(r.step_rms, 95)),
                        "max": float(r.step_rms.max())},
           "max_over_median": float(r.step_rms.max() / max(med, 1e-12)),
           "sharp_factor": r.sharp_factor, "n_sharp": len(sharp), "sharp_steps": sharp,
           "largest_step_share": {"mean": float(r.largest_step_share.mean()),
                                  "max": float(r.largest_step_share.max()), "even": 1.0 / r.steps},
           "path_over_endpoint": {"mean": float((r.path_rms / np.maximum(r.segment_rms, 1e-12)).mean())},
           "segments": [{"segment": k, "endpoint_rms": float(f"{r.segment_rms[k]:.4g}"),
                         "path_rms": float(f"{r.path_rms[k]:.4g}"),
                         "largest_step_share": round(float(r.largest_step_share[k]), 4)}
                        for k in range(len(r.segment_rms))],
           "z_step": {"mean": float(r.z_step.mean()), "max": float(r.z_step.max())}}
    if r.fractions is not None:
        out["classes"] = {n: {"min": round(float(r.fractions[:, c].min()), 4),
                              "max": round(float(r.fractions[:, c].max()), 4),
                              "frames_present": int((r.fractions[:, c] >= PRESENT).sum())}
                          for c, n in enumerate(r.class_names)}
        out["class_events"] = list(r.events)
        out["presence_changes"] = list(r.presence)
        out["thresholds"] = {"present": PRESENT, "appears": APPEAR, "disappears": VANISH,
                             "event": r.event_threshold}
    return out


# --- videos -------------------------------------------------------------------------

def video_frames(frames: np.ndarray, scale: int) -> np.ndarray:
    """(F, C, H, W) in [-1, 1] -> (F, H*scale, W*scale, 3) uint8 RGB, nearest-neighbour enlarged."""
    pics = to_uint8(frames)
    return pics.repeat(scale, axis=1).repeat(scale, axis=2)


def write_gif(path: str | Path, pics: np.ndarray, fps: float) -> Path:
    """An endlessly looping GIF of (F, H, W, 3) uint8 frames (Pillow)."""
    from PIL import Image

    from gan_viz.io import atomic_path

    images = [Image.fromarray(p) for p in pics]
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0, optimize=False)
    return Path(path)


def write_mp4(path: str | Path, pics: np.ndarray, fps: float, fourcc: str = "mp4v") -> Path:
    """An MP4 of (F, H, W, 3) uint8 RGB frames through OpenCV's VideoWriter (MPEG-4 part 2)."""
    import cv2

    from gan_viz.io import atomic_path

    h, w = pics.shape[1:3]
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
        if not writer.isOpened():
            raise UserError(f"OpenCV cannot write {fourcc} video here; use the GIF (or --no-video)")
        try:
            for p in pics:
                writer.write(np.ascontiguousarray(p[:, :, ::-1]))  # RGB -> BGR
        finally:
            writer.release()
    return Path(path)


# --- figures --------------------------------------------------------------------------

SURFACES = ("wall", "floor", "ceiling")  # left out of the class plot: they are every room's background


def walk_rows(r: WalkResult) -> np.ndarray:
    """(P-1, S+1) frame indices: one row per segment, both of its anchors included."""
    return np.arange(len(r.anchors) - 1)[:, None] * r.steps + np.arange(r.steps + 1)[None, :]


def plot_walk_grid(r: WalkResult, pad: int = 2):
    """The paper's Fig. 4 layout: one row per segment, from anchor k to anchor k+1.

    Frames after a sharp step are outlined in red.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from gan_viz.images import grid

    rows = walk_rows(r)
    pics = to_uint8(r.frames[rows.ravel()])  # ((P-1)*(S+1), H, W, 3)
    h, w = pics.shape[1:3]
    sheet = grid(pics, nrow=r.steps + 1, pad=pad)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * (r.steps + 1)), max(2.0, 0.75 * len(rows)) + 0.6))
    ax.imshow(sheet, interpolation="nearest")
    for i in np.nonzero(r.sharp)[0]:
        row, col = divmod(int(i), r.steps)
        ax.add_patch(Rectangle((pad + (col + 1) * (w + pad) - 1.5, pad + row * (h + pad) - 1.5), w + 2, h + 2,
                               fill=False, edgecolor="red", linewidth=1.5))
    ax.set_yticks([pad + k * (h + pad) + h / 2 for k in range(len(rows))],
                  [f"z{k}\u2192z{k + 1}" for k in range(len(rows))], fontsize=7)
    ax.set_xticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.set_title(f"latent walk through {len(r.anchors)} points, {r.steps} steps/segment ({r.interp}); "
                 f"{int(r.sharp.sum())} sharp steps (red)", fontsize=8)
    return fig


def plot_walk_measures(r: WalkResult, tag: str = ""):
    """Image change per step (sharp steps marked) and, with an instrument, class fractions per frame
    (``tag``: the instrument, as :func:`gan_viz.instruments.figure_tag` names it, in the panel's title)."""
    import matplotlib.pyplot as plt

    n = 2 if r.fractions is not None else 1
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), sharex=True, squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(r.step_rms)) + 0.5  # step i sits between frames i and i+1
    ax.plot(x, r.step_rms, ".-", lw=1, color="0.2", label="change per step")
    ax.axhline(r.sharp_factor * np.median(r.step_rms), ls="--", color="red", lw=0.8,
               label=f"sharp: > {r.sharp_factor:g} x median")
    ax.plot(x[r.sharp], r.step_rms[r.sharp], "o", color="red", mfc="none")
    ax.set_ylabel("pixel RMS per step")
    ax.legend(fontsize=7, loc="upper right")
    for k in r.anchor_frames:
        for a in axes[:, 0]:
            a.axvline(k, color="0.8", lw=0.6, zorder=0)
    if r.fractions is not None:
        _plot_fractions(axes[1, 0], r, tag)
    axes[-1, 0].set_xlabel("frame (grey lines: anchors)")
    fig.tight_layout()
    return fig


def _plot_fractions(ax, r: WalkResult, tag: str = "") -> None:
    from gan_viz.data.rooms import CLASSES, PALETTE

    frames = np.arange(len(r.fractions))
    shown = [n for c, n in enumerate(r.class_names) if n not in SURFACES and r.fractions[:, c].max() >= PRESENT]
    for c, name in enumerate(r.class_names):
        if name in shown:
            colour = PALETTE[CLASSES.index(name)] / 255 if name in CLASSES else None
            ax.plot(frames, r.fractions[:, c], lw=1.2, color=colour, label=name)
    for ev in r.events:
        if ev["class"] in shown:
            ax.plot(ev["frame"], ev["after"], "x", color="red", ms=5)
    ax.set_ylabel("pixel fraction (instrument)")
    ax.set_title(f"{tag + ' ' if tag else ''}x: a class moves by >= {r.event_threshold:.0%} of the image in one step",
                 fontsize=7, color="darkred" if "FORCED" in tag else "black")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=4, loc="upper right")


# --- the registered runner -----------------------------------------------------------------

NAME = "latent-walk"


def resolve_interp(choice: str, z_dist: str) -> str:
    """``auto`` -> slerp for normal z, linear for uniform z (the paper's cube)."""
    if choice != "auto":
        return choice
    return "slerp" if z_dist == "normal" else "linear"


def _check(points, z, steps, interp, sharp_factor, event_threshold, fps, scale, batch_size) -> int:
    if points is not None and z is not None:
        raise UserError("--points and --z are alternatives: give one")
    n = 9 if points is None else points
    for opt, v, low in (("--points", n, 2), ("--steps", steps, 1), ("--batch-size", batch_size, 1)):
        if v < low:
            raise UserError(f"{opt} {v}: must be at least {low}" + (" (a walk joins two or more points)"
                                                                   if opt == "--points" else ""))
    if interp not in ("auto",) + INTERPS:
        raise UserError(f"--interp {interp!r}: choose auto, {', '.join(INTERPS)}")
    if not fps > 0:
        raise UserError(f"--fps {fps}: must be > 0")
    if scale is not None and not 1 <= scale <= 64:
        raise UserError(f"--scale {scale}: use 1 to 64")
    if not sharp_factor > 0:
        raise UserError(f"--sharp-factor {sharp_factor}: must be > 0")
    if not 0 < event_threshold <= 1:
        raise UserError(f"--event-threshold {event_threshold}: must be in (0, 1] (a fraction of the image)")
    return n


def _arrays(r: WalkResult, seed: int) -> dict:
    a = {"anchors": r.anchors, "z": r.z, "frames": r.frames, "anchor_frames": r.anchor_frames,
         "step_rms": r.step_rms, "z_step": r.z_step, "segment_rms": r.segment_rms, "sharp": r.sharp,
         "steps": r.steps, "interp": r.interp, "sharp_factor": r.sharp_factor, "seed": seed}
    if r.fractions is not None:
        a["class_fractions"], a["class_names"] = r.fractions, list(r.class_names)
    return a


def caption(s: dict) -> str:
    """The report's caption of a walk summary (events only where an instrument measured them)."""
    from gan_viz.instruments import caption_note

    f = lambda x, fmt=".4f": "n/a" if x is None else format(x, fmt)  # noqa: E731
    rms_ = s.get("step_rms") or {}
    share = s.get("largest_step_share") or {}
    text = (f"Interpolation between a series of {s.get('anchors')} random points in Z ({s.get('interp')}, "
            f"{s.get('steps_per_segment')} steps per segment, {s.get('frames')} frames). The image change per "
            f"step has median {f(rms_.get('median'))} RMS and maximum {f(rms_.get('max'))} "
            f"({f(s.get('max_over_median'), '.1f')} x the median); {s.get('n_sharp')} steps exceed "
            f"{s.get('sharp_factor')} x the median (a sharp transition would suggest memorisation). The largest "
            f"step of a segment carries {f(share.get('mean'), '.3f')} of its path on average (even spacing: "
            f"{f(share.get('even'), '.3f')}). ")
    if "presence_changes" in s:
        text += f"{len(s['presence_changes'])} objects appear or disappear along the walk. "
    return text + caption_note(s.get("instrument") or {})


@register(NAME, needs=("G",), title="Fig. 4: walking in the latent space", caption=caption)
def run(ctx, *, points: int | None = None, z: str | None = None, steps: int = 8, interp: str = "auto",
        sharp_factor: float = 3.0, event_threshold: float = EVENT, fps: float = 8.0, scale: int | None = None,
        no_video: bool = False, parser: str | None = None, batch_size: int = 256) -> dict:
    """Fig. 4 on ``ctx.subject``: a walk through ``points`` random points of z (or the rows of the
    ``z`` file), measured, and with the instrument of ``ctx`` its class events; writes
    ``latent_walk`` and ``walk_measures`` (PNG + PDF), the GIF and MP4 (unless ``no_video``),
    ``summary.json`` and ``arrays.npz`` into ``ctx.out``; returns the summary.

    Without an instrument the walk runs and the summary's ``instrument.absent`` says why the
    events are missing.
    """
    from gan_viz.instruments import absent_reason, figure_tag, instrument_record, resolve_instrument
    from gan_viz.io import save_figure, write_json, write_npz
    from gan_viz.subject import load_z

    n = _check(points, z, steps, interp, sharp_factor, event_threshold, fps, scale, batch_size)
    S = ctx.subject
    _memory.require("--points", n, 4 * (steps + 1) * _memory.image_bytes(S.image_shape), "the walk's frames")
    if not S.has_G:
        S.require("G")
    if z is not None:
        anchors, source = load_z(z, S.nz), f"rows of {z}"
        if len(anchors) < 2:
            raise UserError(f"--z {z} holds 1 point; a walk needs at least 2")
    else:
        anchors = S.sample_z(n, torch.Generator().manual_seed(ctx.seed))
        source = f"sample_z({S.z_dist}, {n}, seed {ctx.seed})"
    how = resolve_interp(interp, S.z_dist)
    inst = resolve_instrument(S, ctx.segmenter, parser=parser, device=ctx.device)
    reason = None if inst is not None else absent_reason(S, ctx.segmenter, parser=parser) or "the rooms parser could not be loaded"
    note = f"measured by {inst.name}" if inst is not None else f"no instrument measurements: {reason}"
    r = compute_latent_walk(S, anchors, steps, how, sharp_factor, inst, batch_size, ctx.device, event_threshold)
    out = ctx.out
    save_figure(plot_walk_grid(r), out, "latent_walk")
    save_figure(plot_walk_measures(r, figure_tag(instrument_record(inst, reason))), out, "walk_measures")
    files = ["latent_walk.png", "latent_walk.pdf", "walk_measures.png", "walk_measures.pdf"]
    if not no_video:
        pics = video_frames(r.frames, scale or max(1, 256 // int(S.image_shape[-1])))
        write_gif(out / "latent_walk.gif", pics, fps)
        write_mp4(out / "latent_walk.mp4", pics, fps)
        files += ["latent_walk.gif", "latent_walk.mp4"]
    summary = {"checkpoint": S.where, "seed": ctx.seed, "anchors_from": source, "interp_choice": interp,
               "measurements": note, "instrument": instrument_record(inst, reason), **summarize(r), "files": files}
    write_json(out / "summary.json", summary)
    write_npz(out / "arrays.npz", **_arrays(r, ctx.seed))
    return summary
