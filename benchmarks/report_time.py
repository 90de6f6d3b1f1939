"""Time `gan-viz report` on the bundled checkpoint in a fresh temporary folder (no cache).

Goal (issue 9): <= 60 s wall and <= 2 GB peak memory on a 2-core CPU.
Prints the per-section seconds, then one JSON line: seconds, peak_rss_mb, cpu_seconds (user +
system CPU time, which does not grow when other jobs share the cores), sections, each section's own
peak memory (Linux), load average.

``--floor`` also counts the multiply-adds of every convolution and linear layer the report runs
(G, D, the parsers, any ``nn.Module``; a forward under autograd counts once more for its backward,
the input gradient alone), times G and the scene parser on a full batch in the same run, and
reports ``floor_seconds``: those multiply-adds at the fastest of the rates (each measured before and
after the report). Unless some layer runs faster than G and the parser do at their best (D's and
the backward's convolutions are of the same kinds and sizes), no schedule of the same work takes less
wall time on this CPU: it is the lower bound to set a time goal against (issue 27: 60 s at 64x64 is below it on 2 AVX2
cores).

    python benchmarks/report_time.py [--ckpt CKPT] [--dataset NAME --data-root DIR] [--only LIST]
                                     [--segmenter rooms]
                                     [--threads 2] [--keep DIR] [--floor]
"""

from __future__ import annotations

import argparse
import json
import math
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


def layer_macs(module, inputs, output) -> int:
    """Multiply-adds of one call of a convolution, transposed convolution or linear layer (0 for others)."""
    import torch.nn as nn

    if not hasattr(output, "numel"):
        return 0
    if isinstance(module, nn.modules.conv._ConvTransposeNd):  # each input element meets a kernel per output channel
        x = inputs[0]
        return x.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvNd):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


class MacCounter:
    """Counts :func:`layer_macs` of every module call in this process (a global forward hook), by section.

    A call whose output requires grad counts once more (its backward's input gradient, the least a
    backward computes), so the count stays a lower bound on the work."""

    def __init__(self):
        import torch.nn as nn

        self.section, self.forward, self.backward = "setup", {}, {}
        self._handle = nn.modules.module.register_module_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        n = layer_macs(module, inputs, output)
        if n:
            self.forward[self.section] = self.forward.get(self.section, 0) + n
            if getattr(output, "requires_grad", False):
                self.backward[self.section] = self.backward.get(self.section, 0) + n

    def total(self, section: str | None = None) -> int:
        keys = self.forward.keys() if section is None else [section]
        return sum(self.forward.get(k, 0) + self.backward.get(k, 0) for k in keys)

    def close(self) -> None:
        self._handle.remove()

    def wrap(self, report_module) -> None:
        """Attribute the count to the report's sections (``run_section``)."""
        run_section = report_module.run_section

        def counted(s, *args, **kwargs):
            self.section = s.key
            try:
                return run_section(s, *args, **kwargs)
            finally:
                self.section = "pages"

        report_module.run_section = counted


def best_rates(ckpt, batch: int = 256, repeats: int = 3) -> dict:
    """Multiply-adds per second of G (``batch`` samples) and of the scene parser (on those images), best of
    ``repeats`` timed runs after a warm-up, in this process: the rates the report's arithmetic can reach."""
    import torch

    from gan_viz.checkpoint import load_subject
    from gan_viz.parser import load_parser

    S = load_subject(ckpt)
    parser = load_parser()
    z = S.sample_z(batch, torch.Generator().manual_seed(0))
    images = S.images(z)
    counter = MacCounter()
    rates = {}
    try:
        with torch.no_grad():  # the report's own verbs: S.images (G in batches) and parser.segment (in chunks)
            for name, fn in (("G", lambda: S.images(z)), ("parser", lambda: parser.segment(images))):
                fn()  # warm-up (oneDNN primitives, caches)
                best = float("inf")
                for _ in range(repeats):
                    counter.forward.clear()
                    t0 = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - t0)
                rates[name] = counter.total() / best
    finally:
        counter.close()
    return rates


def floor_of(counter: MacCounter, *rate_runs: dict) -> dict:
    """``floor`` (per-section multiply-adds, the rates, per-section seconds) and ``floor_seconds``: the
    counted multiply-adds at the fastest rate of ``rate_runs`` (:func:`best_rates`, before and after)."""
    rates = {k: max(r[k] for r in rate_runs) for k in rate_runs[0]}
    rate = max(rates.values())
    macs = {k: counter.total(k) for k in sorted(counter.forward)}  # backward is only counted beside a forward
    for key, n in macs.items():
        print(f"{key:<22} {n / 1e9:8.1f} G multiply-adds  >= {n / rate:6.1f} s", file=sys.stderr)
    return {"floor": {"macs": macs, "total_macs": counter.total(),
                      "rates_macs_per_s": {k: round(v) for k, v in rates.items()},
                      "section_floor_seconds": {k: round(v / rate, 1) for k, v in macs.items()}},
            "floor_seconds": round(counter.total() / rate, 1)}


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
    ap.add_argument("--floor", action="store_true",
                    help="count the report's multiply-adds and time them at G's and the parser's best rates here")
    args = ap.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch

    torch.set_num_threads(args.threads)
    from gan_viz.checkpoint import BUNDLED
    from gan_viz.reports import report as report_module
    from gan_viz.reports.report import build_report

    peaks = per_section_peaks(report_module)
    ckpt = Path(args.ckpt) if args.ckpt else BUNDLED
    counter = rates_before = None
    if args.floor:  # the rates before and after the report: the faster of each counts (the machine may drift)
        rates_before = best_rates(ckpt)
        counter = MacCounter()
        counter.wrap(report_module)

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
    if counter is not None:
        counter.close()
        result.update(floor_of(counter, rates_before, best_rates(ckpt)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
