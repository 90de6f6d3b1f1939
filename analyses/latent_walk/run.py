"""The registered runner of ``gan-viz latent-walk``: options, anchors, the instrument, writing.

The anchors are ``points`` random points of z (``sample_z`` with the run's seed) or the rows
of a ``z`` file; the instrument is the one :func:`gan_viz.instruments.resolve_instrument`
gives for the context (none: the walk runs and the summary says why its events are absent).
Writes ``latent_walk`` and ``walk_measures`` (PNG + PDF), the GIF and MP4 (unless
``no_video``), ``summary.json`` and ``arrays.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from gan_viz import memory as _memory
from gan_viz.analyses.registry import register
from gan_viz.errors import UserError

from .compute import EVENT, WalkResult, compute_latent_walk
from .interpolate import INTERPS
from .plot import plot_walk_grid, plot_walk_measures
from .summary import caption, summarize
from .video import video_frames, write_gif, write_mp4

if TYPE_CHECKING:
    from gan_viz.analyses.registry import Context

NAME = "latent-walk"
DEFAULT_POINTS = 9  # as the paper


@dataclass(frozen=True)
class Options:
    """The walk's options, checked on creation (the command's flags by the same names)."""

    points: int | None = None  # random anchor points of z (None: DEFAULT_POINTS); or
    z: str | None = None  # FILE.npy of anchor points (P, nz)
    steps: int = 8  # frames per segment between two anchors
    interp: str = "auto"  # linear, slerp, or auto (slerp for normal z, linear for uniform z)
    sharp_factor: float = 3.0  # a step is sharp above this many median steps
    event_threshold: float = EVENT  # a class moving by this fraction of the image in one step is an event
    fps: float = 8.0  # of the GIF and MP4
    scale: int | None = None  # video frames enlarged this many times (None: to about 256 pixels)
    no_video: bool = False
    direction: str | None = None  # FILE.npz:KEY or FILE.npy: walk along this direction instead of through random points
    span: float = 2.0  # with a direction: from -span to +span standard deviations of z along it
    parser: str | None = None  # rooms scene parser weights (None: the shipped parser)
    batch_size: int = 256

    def __post_init__(self):
        if self.points is not None and self.z is not None:
            raise UserError("--points and --z are alternatives: give one")
        if self.direction is not None and (self.z is not None or self.interp not in ("auto", "linear")):
            raise UserError("--direction walks a straight line from one random point: it takes no --z and "
                            "interpolates linearly (leave --interp auto or linear)")
        if not self.span > 0:
            raise UserError(f"--span {self.span}: must be > 0")
        for opt, v, low in (("--points", self.n_points, 2), ("--steps", self.steps, 1),
                            ("--batch-size", self.batch_size, 1)):
            if v < low:
                raise UserError(f"{opt} {v}: must be at least {low}" + (" (a walk joins two or more points)"
                                                                       if opt == "--points" else ""))
        if self.interp not in ("auto",) + INTERPS:
            raise UserError(f"--interp {self.interp!r}: choose auto, {', '.join(INTERPS)}")
        if not self.fps > 0:
            raise UserError(f"--fps {self.fps}: must be > 0")
        if self.scale is not None and not 1 <= self.scale <= 64:
            raise UserError(f"--scale {self.scale}: use 1 to 64")
        if not self.sharp_factor > 0:
            raise UserError(f"--sharp-factor {self.sharp_factor}: must be > 0")
        if not 0 < self.event_threshold <= 1:
            raise UserError(f"--event-threshold {self.event_threshold}: must be in (0, 1] (a fraction of the image)")

    @property
    def n_points(self) -> int:
        """The random anchor points asked for (also what the memory check sizes with a ``z`` file)."""
        return DEFAULT_POINTS if self.points is None else self.points


def resolve_interp(choice: str, z_dist: str) -> str:
    """``auto`` -> slerp for normal z, linear for uniform z (the paper's cube)."""
    if choice != "auto":
        return choice
    return "slerp" if z_dist == "normal" else "linear"


def _anchors(S, o: Options, seed: int) -> tuple[torch.Tensor, str]:
    """(P, nz) anchor points and where they come from."""
    from gan_viz.subject import load_z

    if o.direction is not None:
        return _along(S, o, seed)
    if o.z is not None:
        anchors = load_z(o.z, S.nz)
        if len(anchors) < 2:
            raise UserError(f"--z {o.z} holds 1 point; a walk needs at least 2")
        return anchors, f"rows of {o.z}"
    n = o.n_points
    return S.sample_z(n, torch.Generator().manual_seed(seed)), f"sample_z({S.z_dist}, {n}, seed {seed})"


def _along(S, o: Options, seed: int) -> tuple[torch.Tensor, str]:
    """(P, nz) anchors evenly spaced on the line z0 + alpha d, alpha from -span to +span standard deviations
    of z along the unit direction d (z0: one random point of the run's seed)."""
    from gan_viz.latent_directions import load_direction

    d = load_direction(o.direction, S.nz)
    d = d / d.norm()
    sd = 1 / 3 ** 0.5 if S.z_dist == "uniform" else 1.0
    z0 = S.sample_z(1, torch.Generator().manual_seed(seed))
    alphas = torch.linspace(-o.span * sd, o.span * sd, o.n_points)
    return z0 + alphas[:, None] * d, f"{o.n_points} points along {o.direction} (unit), +-{o.span:g} sd of z, seed {seed}"


def _instrument(ctx: "Context", o: Options) -> tuple[object | None, str | None, str]:
    """(the instrument or None, why there is none, the summary's ``measurements`` line)."""
    from gan_viz.instruments import absent_reason, resolve_instrument

    S = ctx.subject
    inst = resolve_instrument(S, ctx.segmenter, parser=o.parser, device=ctx.device)
    reason = None if inst is not None else \
        absent_reason(S, ctx.segmenter, parser=o.parser) or "the rooms parser could not be loaded"
    note = f"measured by {inst.name}" if inst is not None else f"no instrument measurements: {reason}"
    return inst, reason, note


def _arrays(r: WalkResult, seed: int) -> dict:
    a = {"anchors": r.anchors, "z": r.z, "frames": r.frames, "anchor_frames": r.anchor_frames,
         "step_rms": r.step_rms, "z_step": r.z_step, "segment_rms": r.segment_rms, "sharp": r.sharp,
         "steps": r.steps, "interp": r.interp, "sharp_factor": r.sharp_factor, "seed": seed}
    if r.fractions is not None:
        a["class_fractions"], a["class_names"] = r.fractions, list(r.class_names)
    return a


def _write_media(ctx: "Context", r: WalkResult, record: dict, o: Options) -> list[str]:
    """The two figures (PNG + PDF) and, unless ``no_video``, the GIF and MP4; returns the file names."""
    from gan_viz.instruments import figure_tag
    from gan_viz.io import save_figure

    out = ctx.out
    save_figure(plot_walk_grid(r), out, "latent_walk")
    save_figure(plot_walk_measures(r, figure_tag(record)), out, "walk_measures")
    files = ["latent_walk.png", "latent_walk.pdf", "walk_measures.png", "walk_measures.pdf"]
    if not o.no_video:
        pics = video_frames(r.frames, o.scale or max(1, 256 // int(ctx.subject.image_shape[-1])))
        write_gif(out / "latent_walk.gif", pics, o.fps)
        write_mp4(out / "latent_walk.mp4", pics, o.fps)
        files += ["latent_walk.gif", "latent_walk.mp4"]
    return files


@register(NAME, needs=("G",), title="Fig. 4: walking in the latent space", caption=caption, options=Options)
def run(ctx: "Context", o: Options) -> dict:
    """Fig. 4 on ``ctx.subject``: a walk through ``o.points`` random points of z (or the rows of the
    ``o.z`` file), measured, and with the instrument of ``ctx`` its class events; writes
    ``latent_walk`` and ``walk_measures`` (PNG + PDF), the GIF and MP4 (unless ``o.no_video``),
    ``summary.json`` and ``arrays.npz`` into ``ctx.out``; returns the summary. Without an
    instrument the walk runs and the summary's ``instrument.absent`` says why the events are missing.
    """
    from gan_viz.instruments import instrument_record
    from gan_viz.io import write_json, write_npz

    S = ctx.subject
    _memory.require("--points", o.n_points, 4 * (o.steps + 1) * _memory.image_bytes(S.image_shape),
                    "the walk's frames")
    if not S.has_G:
        S.require("G")
    anchors, source = _anchors(S, o, ctx.seed)
    how = resolve_interp(o.interp, S.z_dist) if o.direction is None else "linear"
    inst, reason, note = _instrument(ctx, o)
    r = compute_latent_walk(S, anchors, o.steps, how, o.sharp_factor, inst, o.batch_size, ctx.device,
                            o.event_threshold)
    record = instrument_record(inst, reason)
    files = _write_media(ctx, r, record, o)
    summary = {"checkpoint": S.where, "seed": ctx.seed, "anchors_from": source, "interp_choice": o.interp,
               "measurements": note, "instrument": record, **summarize(r), "files": files}
    write_json(ctx.out / "summary.json", summary)
    write_npz(ctx.out / "arrays.npz", **_arrays(r, ctx.seed))
    return summary


__all__ = ["NAME", "Options", "resolve_interp", "run"]
