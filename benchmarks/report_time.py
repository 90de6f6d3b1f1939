"""Time `gan-viz report` on the bundled checkpoint in a fresh temporary folder (no cache).

Goal (issue 9): <= 60 s wall and <= 2 GB peak memory on a 2-core CPU.
Prints the per-section seconds, then one JSON line: seconds, peak_rss_mb, cpu_seconds (user +
system CPU time, which does not grow when other jobs share the cores), sections, each section's own
peak memory (Linux), load average.

    python benchmarks/report_time.py [--ckpt CKPT] [--dataset NAME --data-root DIR] [--only LIST]
                                     [--segmenter rooms]
                                     [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its children, MB (Linux reports KiB)."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024


def vm_hwm_mb() -> float | None:
    """This process's peak resident memory since the last :func:`reset_hwm`, MB (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset the peak to the current resident memory (Linux ``clear_refs`` 5); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def per_section_peaks(report_module) -> dict:
    """Wrap the report's ``run_section`` so that each section's own peak resident memory is recorded."""
    peaks, run_section = {}, report_module.run_section

    def measured(s, *args, **kwargs):
        ok = reset_hwm()
        try:
            return run_section(s, *args, **kwargs)
        finally:
            if ok and (mb := vm_hwm_mb()) is not None:
                peaks[s.key] = round(mb, 1)

    report_module.run_section = measured
    return peaks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=None, help="checkpoint (default: the bundled one)")
    ap.add_argument("--dataset", default=None, help="real data of every section (default: the model's)")
    ap.add_argument("--data-root", default=None, help="its folder")
    ap.add_argument("--only", default=None, help="sections (default: all)")
    ap.add_argument("--segmenter", default=None,
                    help="as gan-viz report --segmenter (e.g. rooms: force the parser on a model it does not fit, "
                         "to time Figs. 6-7 there)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the 2-core goal)")
    ap.add_argument("--keep", default=None, metavar="DIR", help="write the report here instead of a temp folder")
    args = ap.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch

    torch.set_num_threads(args.threads)
    from gan_viz.checkpoint import BUNDLED
    from gan_viz.reports import report as report_module
    from gan_viz.reports.report import build_report

    peaks = per_section_peaks(report_module)

    ckpt = Path(args.ckpt) if args.ckpt else BUNDLED
    with tempfile.TemporaryDirectory(prefix="report_time_") as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "report"
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        rec = build_report(ckpt, out, args.only, "cpu", 0, force=True, dataset=args.dataset,
                           data_root=args.data_root, segmenter=args.segmenter)
        seconds = time.perf_counter() - t0
    for key, s in rec["sections"].items():
        print(f"{key:<22} {s['status']:<7} {s['seconds']:6.1f} s wall {s['cpu_seconds']:6.1f} s CPU"
              f"{'' if key not in peaks else f'  peak {peaks[key]:7.1f} MB'}", file=sys.stderr)
    print(f"{'html + pdf + card + gallery':<30} {seconds - rec['seconds_sections']:6.1f} s", file=sys.stderr)
    use = resource.getrusage(resource.RUSAGE_SELF)
    peak = max([peak_rss_mb(), *peaks.values()])  # a reset also resets ru_maxrss: the sections' peaks count
    result = {"seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1),
              "cpu_seconds": round(use.ru_utime + use.ru_stime, 1),  # load-independent: CPU time of this process
              "seconds_sections": rec["seconds_sections"],
              "sections": {k: round(s["seconds"], 1) for k, s in rec["sections"].items()},
              "sections_cpu": {k: round(s["cpu_seconds"], 1) for k, s in rec["sections"].items()},
              "sections_peak_rss_mb": peaks,  # each section's own peak (Linux; empty where it cannot be reset)
              "absent": {k: s["reason"] for k, s in rec["sections"].items() if s["status"] == "absent"},
              "checkpoint": str(ckpt), "threads": args.threads, "cpus": os.cpu_count(),
              "loadavg_1min_after": round(os.getloadavg()[0], 2), "goal": {"seconds": 60, "peak_rss_mb": 2048}}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
