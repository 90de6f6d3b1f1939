"""gan-viz latent-walk: walking in the latent space (paper Fig. 4), measured.

A walk visits a series of anchor points of z (9 random ones, as the paper) and puts
``steps`` frames on each segment between two anchors, so a walk through P anchors has
``(P - 1) * steps + 1`` frames and frame ``k * steps`` is anchor ``k`` exactly. Every
frame is ``G(z)`` in eval mode through :func:`gan_viz.subject.generate_images`, so
it equals what ``gan-viz generate --z`` gives for the same z.

Measured along the walk (``compute.py``):
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

Interpolation (``interpolate.py``): ``linear`` (straight line) or ``slerp`` (great circle on
the direction, the norm interpolated linearly between the anchors' norms, so a walk between
normal samples keeps a typical norm instead of shrinking through the middle).

Public API: :func:`compute_latent_walk` (a generator and anchors in, :class:`WalkResult` out),
:func:`lerp`, :func:`slerp`, :func:`walk_z`, :func:`class_events`, :func:`presence_changes`,
:func:`plot_walk_grid`, :func:`plot_walk_measures`, :func:`summarize`, :func:`caption`,
:func:`lines`, the video writers; the registered runner (``gan-viz latent-walk``, any subject
with a generator: a module, or a callable z -> images) is in ``run.py``.

Example:
    >>> r = compute_latent_walk(G, anchors, steps=8, interp="slerp")
    >>> r.frames.shape[0] == (len(anchors) - 1) * 8 + 1
    True
"""

from .compute import (APPEAR, EVENT, PRESENT, VANISH, WalkResult, class_events, compute_latent_walk,
                      presence_changes, rms)
from .interpolate import INTERPS, lerp, slerp, walk_z
from .plot import plot_walk_grid, plot_walk_measures, walk_rows
from .summary import caption, lines, summarize
from .video import video_frames, write_gif, write_mp4

__all__ = ["APPEAR", "EVENT", "PRESENT", "VANISH", "WalkResult", "class_events", "compute_latent_walk",
           "presence_changes", "rms", "INTERPS", "lerp", "slerp", "walk_z", "plot_walk_grid", "plot_walk_measures",
           "walk_rows", "caption", "lines", "summarize", "video_frames", "write_gif", "write_mp4"]
