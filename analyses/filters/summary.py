"""FiltersResult -> summary.json (the rules, the flagged filters per layer and checkpoint), the console line."""

from __future__ import annotations

from .compute import FiltersResult

MAX_PAIRS = 50  # duplicate pairs listed per layer and checkpoint in summary.json


def summary_of(r: FiltersResult) -> dict:
    th = r.thresholds
    last = {name: {"filters": r.n_filters[name], "dead": r.dead[name][-1], "duplicate": r.duplicate[name][-1],
                   "duplicate_pairs": [list(p) for p in r.pairs[name][-1][:MAX_PAIRS]],
                   "oscillating": r.oscillating[name]} for name in r.layers}
    per_ckpt = [{"step": s, "checkpoint": p,
                 "layers": {name: {"dead": r.dead[name][t], "duplicate": r.duplicate[name][t],
                                   "duplicate_pairs": len(r.pairs[name][t])} for name in r.layers}}
                for t, (s, p) in enumerate(zip(r.steps, r.paths))]
    total = {"dead": sum(len(r.dead[n][-1]) for n in r.layers),
             "duplicate": sum(len(r.duplicate[n][-1]) for n in r.layers),
             "oscillating": sum(len(r.oscillating[n]) for n in r.layers)}
    return {"checkpoints": len(r.steps), "steps": r.steps, "d_inputs": r.d_inputs,
            "rules": {"dead": f"activation std over samples <= max(1e-6, {th.dead_rel:g} x layer median)",
                      "duplicate": f"weight cosine or activation correlation > {th.dup_threshold:g} with another "
                                   "filter of the layer (dead filters excluded from activations)",
                      "oscillating": f"cosine of successive weight deltas < -{th.osc_threshold:g} in at least half "
                                     f"of the checkpoint triples (relative step > {th.min_rel_step:g})"},
            "flagged_at_last_checkpoint": total, "flagged": last, "per_checkpoint": per_ckpt}


def line(s: dict, out) -> str:
    """What ``gan-viz filters`` prints of a summary written to ``out``."""
    tot = s["flagged_at_last_checkpoint"]
    return (f"{s['checkpoints']} checkpoints (steps {s['steps'][0]}..{s['steps'][-1]}): at the last one "
            f"{tot['dead']} dead, {tot['duplicate']} near-duplicate filters; {tot['oscillating']} oscillating "
            f"over the run; wrote {out}")
