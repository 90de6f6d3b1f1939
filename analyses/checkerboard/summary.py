"""CheckerboardResult -> summary.json's scores, the report's caption and the console line."""

from __future__ import annotations

from .compute import CheckerboardResult
from .spectrum import NEIGHBOUR_RADIUS


def summary_of(r: CheckerboardResult) -> dict:
    return {"checkerboard": {"generated": r.generated, "real": r.real, "per_layer": r.per_layer},
            "score": "mean over the stride frequencies of power / mean power of neighbours within "
                     f"{NEIGHBOUR_RADIUS} bins on the same axis, or off the axes (1 = no excess)",
            "image_size": r.image_size, "periods": r.periods}


def caption(s: dict) -> str:
    """The report's caption: checkerboard scores of generated and real images and of each G layer."""
    num = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
    c = s.get("checkerboard") or {}
    per = ", ".join(f"{k} ({v.get('resolution')}px, period {v.get('image_period')}) {num(v.get('score'))}"
                    for k, v in (c.get("per_layer") or {}).items()) or "no upsampling convolution modules"
    fmt = lambda d: ", ".join(f"{k} {num(v)}" for k, v in d.items()) if d else "not measured"  # noqa: E731
    said = "".join(f"{w[0].upper()}{w[1:]}. " for w in s.get("notes") or [])
    real = s.get("real_images")
    return said + (f"Mean power spectrum of {s.get('n')} generated vs {'' if real is None else f'{real} '}real "
                   f"images ({s.get('g_upsample') or 'G'} upsampling). Checkerboard score (1 = no excess power at "
                   f"the stride frequencies): generated {fmt(c.get('generated'))}; real {fmt(c.get('real'))}; per G "
                   f"layer: {per}.")


def line(s: dict) -> str:
    """What ``gan-viz checkerboard`` prints of a summary (before the output folder)."""
    c = s["checkerboard"]
    gen = ", ".join(f"{k} {v:.2f}" for k, v in c["generated"].items())
    layers = ", ".join(f"G.{k} {v['score']:.2f}" for k, v in c["per_layer"].items()) or "none"
    return f"checkerboard ({s['g_upsample'] or 'G'}): generated {gen}; per layer {layers}"
