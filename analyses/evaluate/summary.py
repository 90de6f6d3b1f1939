"""EvaluateResult -> summary.json's figures of merit and the caption."""

from __future__ import annotations

from gan_viz.metrics import METRICS

from .compute import EvaluateResult

SOURCES = {
    "frechet": "gan_viz.metrics.frechet_distance (scipy.linalg.sqrtm)",
    "kid": "gan_viz.metrics.kid (own: unbiased MMD^2, cubic polynomial kernel, subsets)",
    "precision": "prdc.compute_prdc (k=3)", "recall": "prdc.compute_prdc (k=3)",
    "density": "prdc.compute_prdc (k=5)", "coverage": "prdc.compute_prdc (k=5)",
}
LOWER_IS_BETTER = {"frechet", "kid"}
INTERVAL = ("percentile bootstrap over images, recentred on the estimate; precision/recall/density/coverage "
            "resample the per-image indicators with the full sets' k-NN balls held fixed")


def summary_of(r: EvaluateResult) -> dict:
    """The figures of merit: per space and metric, the model's and the control's value and interval."""
    ev = {s: {m: {"model": r.model[s][m], "control": r.control[s][m]} for m in METRICS if m in r.model[s]}
          for s in r.spaces}
    return {"evaluate": ev, "n": r.n, "dims": r.dims, "spaces": list(r.spaces),
            "control": f"real vs real: two disjoint real sets of {r.n} images each (the model's N), "
                       "the model compared with the first",
            "interval": f"{r.options['level']:.0%} {INTERVAL}", "options": r.options,
            "sources": SOURCES, "frechet_info": r.frechet_info}


def _fmt(e: dict) -> str:
    v = e["value"]
    digits = ".4f" if abs(v) < 0.1 else ".3g" if abs(v) >= 100 else ".3f"
    if e.get("low") is None:
        return format(v, digits)
    return f"{format(v, digits)} [{format(e['low'], digits)}, {format(e['high'], digits)}]"


def lines(s: dict) -> list[str]:
    """One line per space and metric: model [interval] vs real-vs-real [interval]."""
    out = []
    for space, metrics in (s.get("evaluate") or {}).items():
        for m, e in metrics.items():
            out.append(f"{space} {m}: model {_fmt(e['model'])}, real vs real {_fmt(e['control'])}")
    return out


def caption(s: dict) -> str:
    """The report's caption."""
    said = "".join(f"{w[0].upper()}{w[1:]}. " for w in s.get("notes") or [])
    absent = "; ".join(f"{k}: {v}" for k, v in (s.get("absent") or {}).items())
    return (said + f"{s.get('n')} generated vs {s.get('n')} real images ({s.get('dataset')}), beside two disjoint "
            f"real sets of the same size (real vs real). Values with {s.get('interval', 'bootstrap intervals')}. "
            + " ".join(f"{ln}." for ln in lines(s)) + (f" Not measured: {absent}." if absent else ""))
