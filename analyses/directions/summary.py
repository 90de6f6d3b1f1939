"""Results -> summary.json's figures of merit, the report's caption and the command's printed lines.

Per direction (:func:`direction_rows`): its concept, the judged slope of that class beside the random
band (``slope_over_band``, ``above_random``), the largest entanglement (the other class that moves most
per unit of the concept) and the method's own numbers (validation accuracy, explained variance,
eigenvalue). Per concept (:func:`concept_rows`): each method's direction (for GANSpace and SeFa the
component the judge named after the concept that moves it most), the pairwise cosines against the
random-vs-random floor, and the method whose judged slope is the largest multiple of the band.
"""

from __future__ import annotations

import numpy as np

from . import judge as J
from .compute import DirectionsResult

METHOD_ORDER = ("exemplar", "interfacegan", "ganspace", "sefa")


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def direction_rows(r: DirectionsResult) -> dict:
    """key -> the direction's figures of merit (judged ones only where there is a judge)."""
    out = {}
    for i, key in enumerate(r.keys):
        row = {"method": r.methods[i], "concept": r.concepts[i], **{k: _f(v) if isinstance(v, float) else v
                                                                     for k, v in r.info[i].items()}}
        if r.slopes is not None:
            c = r.class_names.index(r.concepts[i])
            s, band = r.slopes[i], r.band
            ent = J.entanglement(s, c)
            others = [k for k in range(len(s)) if k != c]
            worst = max(others, key=lambda k: abs(ent[k]) if np.isfinite(ent[k]) else -1.0) if others else None
            row.update({"slope": float(s[c]), "random_band": float(band[c]),
                        "slope_over_band": float(abs(s[c]) / max(band[c], 1e-12)),
                        "above_random": bool(abs(s[c]) > band[c]),
                        "slope_over_random_sd": float(abs(s[c]) / max(r.random_slopes[:, c].std(), 1e-12)),
                        "curve": r.curves[i, :, c].tolist(),
                        "slopes": {n: float(x) for n, x in zip(r.class_names, s)},
                        "entanglement": {n: _f(x) for n, x in zip(r.class_names, ent)},
                        "largest_entanglement": None if worst is None else
                        {"class": r.class_names[worst], "per_unit": _f(ent[worst])}})
        out[key] = row
    return out


def members(r: DirectionsResult, concept: str) -> list[int]:
    """Indices of the directions of ``concept``: the supervised ones, and per unsupervised method its
    component named after the concept with the largest slope over band (where the judge named one)."""
    idx = [i for i in range(len(r.keys)) if r.concepts[i] == concept and r.methods[i] in ("exemplar", "interfacegan")]
    for m in ("ganspace", "sefa"):
        named = [i for i in range(len(r.keys)) if r.methods[i] == m and r.concepts[i] == concept]
        if named and r.slopes is not None:
            c = r.class_names.index(concept)
            idx.append(max(named, key=lambda i: abs(r.slopes[i, c]) / max(r.band[c], 1e-12)))
    return sorted(idx, key=lambda i: METHOD_ORDER.index(r.methods[i]))


def concept_rows(r: DirectionsResult, concepts) -> dict:
    """concept -> its methods' directions, their agreement and the winner (judged results only)."""
    floor = J.random_floor(r.random_vectors)
    out = {}
    for c in concepts:
        idx = members(r, c)
        cos = J.agreement(r.vectors[idx]) if idx else np.zeros((0, 0))
        row = {"directions": {r.methods[i]: r.keys[i] for i in idx},
               "agreement": {f"{r.methods[i]}~{r.methods[j]}": float(cos[a, b]) for a, i in enumerate(idx)
                             for b, j in enumerate(idx) if a < b},
               "random_floor": floor}
        if r.slopes is not None and idx:
            k = r.class_names.index(c)
            ratio = {r.methods[i]: float(abs(r.slopes[i, k]) / max(r.band[k], 1e-12)) for i in idx}
            best = max(ratio, key=ratio.get)
            row.update({"slope_over_band": ratio, "winner": best,
                        "winner_over_exemplar": _f(ratio[best] / ratio["exemplar"]) if ratio.get("exemplar")
                        else None})
        out[c] = row
    return out


def unsupervised_agreement(r: DirectionsResult) -> dict | None:
    """|cos| between GANSpace component i and SeFa eigenvector i (both read G's first layer by default), and
    for each GANSpace component its best-matching SeFa one; None unless both ran."""
    g = [i for i, m in enumerate(r.methods) if m == "ganspace"]
    s = [i for i, m in enumerate(r.methods) if m == "sefa"]
    if not g or not s:
        return None
    cos = np.abs(J.agreement(r.vectors[g + s])[:len(g), len(g):])  # (G, S)
    return {"same_index": [float(cos[i, i]) for i in range(min(len(g), len(s)))],
            "best_match": {r.keys[gi]: r.keys[s[int(np.argmax(cos[a]))]] for a, gi in enumerate(g)},
            "best_abs_cos": [float(x) for x in cos.max(1)], "random_floor": J.random_floor(r.random_vectors)}


def summarize(r: DirectionsResult, concepts, judge_record: dict, judge_note: str) -> dict:
    """summary.json's figures of merit (the runner adds the inputs: seeds, instrument, checkpoint)."""
    s = r.settings
    return {"methods": list(s.methods), "refused": dict(r.refused), "alphas": r.alphas.tolist(), "t": s.t,
            "norm": 1.0, "n_random": s.n_random, "n_eval": int(len(r.eval_z)), "ganspace_layer": r.layer,
            "sefa_layer": r.sefa_layer, "components": s.components, "share": s.share, "val_share": s.val_share,
            "judged": r.slopes is not None, "judge": judge_record, "judge_note": judge_note,
            "random_band": None if r.band is None else dict(zip(r.class_names, map(float, r.band))),
            "band_comparisons": r.band_comparisons, "band_sd": r.band_sd, "band_family_alpha": J.FAMILY_ALPHA,
            "directions": direction_rows(r), "concepts": concept_rows(r, concepts),
            "ganspace_vs_sefa": unsupervised_agreement(r)}


def band_rule(s: dict) -> str:
    """The band's second term as ``s`` (a summary) records it (3 sd in summaries written before the
    correction, which record no ``band_comparisons``)."""
    m, sd, alpha = s.get("band_comparisons"), s.get("band_sd"), s.get("band_family_alpha")
    if not (m and sd and alpha):
        return "3 standard deviations of those slopes"
    return (f"{sd:.1f} standard deviations of those slopes, the |slope| a random direction exceeds with "
            f"probability {alpha:.0%} / {m} (Student t; {m} = directions x classes judged, so that on a generator "
            f"where no direction does anything the chance of any call above random is at most {alpha:.0%})")


def caption(s: dict) -> str:
    """The report's caption."""
    judged = (f"judged on {s['n_eval']} fresh samples by {s['judge'].get('name')} ({s['judge_note']})"
              if s["judged"] else f"not judged: {s['judge_note']}")
    return (f"Directions in z found four ways ({', '.join(s['methods'])}), unit norm, walked from -{s['t']:g} to "
            f"+{s['t']:g}; {judged}. The random band of a class is the larger of the largest |slope| of "
            f"{s['n_random']} random unit directions (and their negatives) and {band_rule(s)}. Unsupervised "
            "components are named after the class they move most in multiples of its band."
            + (" Refused: " + "; ".join(f"{m}: {w}" for m, w in s["refused"].items()) if s["refused"] else ""))


def lines(s: dict) -> list[str]:
    """Printed digest: per concept and method the judged slope vs the band, the largest entanglement."""
    out = [f"methods: {', '.join(s['methods'])}; walk -{s['t']:g}..+{s['t']:g} (unit directions); "
           + (f"judge: {s['judge'].get('name')} ({s['judge_note']})" if s["judged"] else f"not judged: {s['judge_note']}")]
    out += [f"refused {m}: {w}" for m, w in s["refused"].items()]
    for c, row in s["concepts"].items():
        for m, key in row["directions"].items():
            d = s["directions"][key]
            if "slope" in d:
                ent = d["largest_entanglement"] or {}
                acc = f", SVM validation accuracy {d['val_accuracy']:.2f}" if d.get("val_accuracy") is not None else ""
                pu = ent.get("per_unit")
                out.append(f"{c} {m} ({key}): slope {d['slope']:+.4f} vs random band {d['random_band']:.4f} "
                           f"({d['slope_over_band']:.1f}x, {'above' if d['above_random'] else 'NOT above'} random); "
                           f"largest entanglement {ent.get('class')} {pu if pu is None else f'{pu:+.2f}'}{acc}")
        if row.get("winner"):
            wx = row["winner_over_exemplar"]
            out.append(f"{c}: winner {row['winner']}" + (" (the exemplar means)" if row["winner"] == "exemplar" else
                                                          f" ({wx:.2f}x the exemplar means' slope over band)" if wx else ""))
        if row["agreement"]:
            fl = row["random_floor"]
            out.append(f"{c} agreement: " + ", ".join(f"{k} {v:+.2f}" for k, v in row["agreement"].items())
                       + f" (random pairs: max |cos| {fl['max_abs']:.2f})")
    gs = s.get("ganspace_vs_sefa")
    if gs:
        out.append("GANSpace component i vs SeFa eigenvector i, |cos|: " + ", ".join(f"{x:.2f}" for x in gs["same_index"])
                   + f" (random pairs: max {gs['random_floor']['max_abs']:.2f})")
    unj = [k for k, d in s["directions"].items() if "slope" not in d]
    if unj:
        out.append(f"{len(unj)} directions found, not judged (image grids only)")
    return out
