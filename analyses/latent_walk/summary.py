"""WalkResult -> summary.json's smoothness figures of merit, the report's caption and the printed lines."""

from __future__ import annotations

import numpy as np

from .compute import APPEAR, PRESENT, VANISH, WalkResult


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


def lines(s: dict) -> list[str]:
    """What ``gan-viz latent-walk`` prints of a summary: the step changes, the instrument, the events."""
    from gan_viz.instruments import record_line

    out = [f"{s['frames']} frames through {s['anchors']} points ({s['interp']}): step RMS median "
           f"{s['step_rms']['median']:.4f}, max {s['step_rms']['max']:.4f} ({s['max_over_median']:.1f} x median), "
           f"{s['n_sharp']} sharp steps; largest-step share {s['largest_step_share']['mean']:.3f} "
           f"(even: {1 / s['steps_per_segment']:.3f})", "  " + record_line(s["instrument"])]
    if "class_events" in s:
        out.append(f"  {len(s['class_events'])} abrupt class changes, {len(s['presence_changes'])} appear/disappear "
                   "events")
    return out
