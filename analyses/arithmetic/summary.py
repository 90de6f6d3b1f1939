"""Results -> summary.json's figures of merit, the report's caption and the command's printed lines.

Fig. 7: :func:`arithmetic_summary` (norms, exemplars and, with an instrument, the class
fractions of the exemplars, the concept means, Y, its noisy samples and the pixel-space
result); the analogy over many draws: :func:`analogy_summary` (``analogy_success_1`` /
``_3`` / ``_pixel`` / ``_random`` with 95% Wilson intervals); Fig. 8:
:func:`direction_summary` (the class's gain along d beside random directions of the same norm).
"""

from __future__ import annotations

import numpy as np
import torch

from .analogy import AnalogyResult, base_term, matches
from .compute import ArithmeticResult, DirectionResult
from .inputs import PRESENT


def arithmetic_summary(r: ArithmeticResult, expr: str, chosen: dict, measure: list, sheet: torch.Tensor) -> dict:
    """Fig. 7's summary; ``measure``: the classes whose fractions are reported."""
    s = {"expr": expr, "terms": {n: float(c) for n, c in zip(r.names, r.coefs)},
         "exemplars": {n: chosen[n] for n in r.names}, "noise": r.noise, "noisy_samples": len(r.noisy_z),
         "noise_seed": r.seed, "y_norm": float(np.linalg.norm(r.y)),
         "sheet_mean_norm": float(sheet.norm(dim=1).mean()),
         "mean_z_norms": {n: float(np.linalg.norm(m)) for n, m in zip(r.names, r.mean_z)}}
    if r.fractions is not None:
        f, ci = r.fractions, {m: r.class_names.index(m) for m in measure}
        s["fractions"] = {m: {
            "exemplars": {n: float(f["exemplars"][r.owner == i, c].mean()) for i, n in enumerate(r.names)},
            "mean_images": {n: float(f["means"][i, c]) for i, n in enumerate(r.names)},
            "y": float(f["results"][0, c]), "noisy_mean": float(f["results"][1:, c].mean()) if len(r.noisy_z) else None,
            "noisy_share_with_class": float((f["results"][1:, c] >= PRESENT).mean()) if len(r.noisy_z) else None,
            "pixel_space": float(f["pixel"][0, c])} for m, c in ci.items()}
    return s


def direction_summary(r: DirectionResult, target: str) -> dict:
    """Before (alpha 0) / after (alpha 1) for the target class, the controls, the other classes."""
    if r.fractions is None:
        return {"measured": False}
    c = r.class_names.index(target)
    i0, i1 = int(np.argmin(np.abs(r.alphas))), int(np.argmin(np.abs(r.alphas - 1)))
    mean = lambda f: float(f.mean())  # noqa: E731
    ctrl_after = [mean(f[i1, :, c]) for f in r.control_fractions]
    share = lambda f: float((f >= PRESENT).mean())  # noqa: E731
    before, after = mean(r.fractions[i0, :, c]), mean(r.fractions[i1, :, c])
    ctrl_effect = [a - before for a in ctrl_after]
    return {
        "measured": True, "class": target, "n_samples": int(r.fractions.shape[1]), "alpha_before": float(r.alphas[i0]),
        "alpha_after": float(r.alphas[i1]), "direction_norm": float(np.linalg.norm(r.d)),
        "fraction_before": mean(r.fractions[i0, :, c]), "fraction_after": mean(r.fractions[i1, :, c]),
        "control_after": float(np.mean(ctrl_after)) if ctrl_after else None,
        "control_after_each": ctrl_after,
        # the figure of merit: the class's gain along d, beside the mean gain along random directions of the
        # same norm (zero on average for any attribute; their largest gain shows their spread)
        "effect": after - before, "control_effect": float(np.mean(ctrl_effect)) if ctrl_effect else None,
        "effect_over_controls": after - before - float(np.mean(ctrl_effect)) if ctrl_effect else None,
        "control_effect_max": float(max(ctrl_effect)) if ctrl_effect else None,
        "effect_beats_controls": bool(after - before > max(ctrl_effect)) if ctrl_effect else None,
        "share_with_class_before": share(r.fractions[i0, :, c]), "share_with_class_after": share(r.fractions[i1, :, c]),
        "control_share_after": float(np.mean([share(f[i1, :, c]) for f in r.control_fractions]))
        if len(r.control_fractions) else None,
        "curve": {"alphas": r.alphas.tolist(), "direction": r.fractions[:, :, c].mean(1).tolist(),
                  "controls_mean": r.control_fractions[:, :, :, c].mean((0, 2)).tolist()
                  if len(r.control_fractions) else []},
        "other_classes": {n: {"before": mean(r.fractions[i0, :, k]), "after": mean(r.fractions[i1, :, k]),
                              "control_after": float(r.control_fractions[:, i1, :, k].mean())
                              if len(r.control_fractions) else None}
                          for k, n in enumerate(r.class_names) if k != c},
    }


def _share(ok: np.ndarray) -> dict:
    """Share of successes with a 95% Wilson interval."""
    n, p = len(ok), float(np.mean(ok)) if len(ok) else float("nan")
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"share": p, "ci95": [round(float(centre - half), 4), round(float(centre + half), 4)], "draws": n}


def analogy_summary(r: AnalogyResult) -> dict:
    """The figures of merit (top-level keys ``analogy_success_*``) and the detail under ``analogy``."""
    ids = {c: i for i, c in enumerate(r.class_names)}
    per_target = {key: {c: float(np.mean(matches(f, ids, ((c, p),), r.min_fraction, r.absent_fraction)))
                        for c, p in r.targets.items()} for key, f in r.fractions.items()}
    detail = {
        "targets": {c: ("present" if p else "absent") for c, p in r.targets.items()},
        "rule": f"present >= {r.min_fraction:.2%} of the pixels, absent < {r.absent_fraction:.2%}",
        "pool_sizes": r.pool_sizes, "draws": int(len(next(iter(r.success.values())))), "seed": r.seed,
        "control_base": r.terms[base_term(r.terms)][0],
        "success": {key: _share(ok) for key, ok in r.success.items()},
        "per_target": per_target,
        "mean_fractions": {key: {c: float(f[:, ids[c]].mean()) for c in r.targets} for key, f in r.fractions.items()},
        "y_norm": {key: float(np.linalg.norm(v, axis=1).mean()) for key, v in r.y.items()},
    }
    top = {f"analogy_success_{key[2:] if key.startswith('z_') else key}": float(ok.mean())
           for key, ok in r.success.items()}
    if "z_3" in r.success and "z_1" in r.success:
        detail.update(_finding(detail["success"]))
    return {**top, "analogy": detail}


def _finding(success: dict) -> dict:
    """Whether 3 exemplars beat 1, pixel space and the random direction (the paper's claim), by the
    point estimates and clearly (its 95% interval above theirs), said in words."""
    s3 = success["z_3"]
    others = {"1 exemplar": success["z_1"], "pixel space": success["pixel"],
              "a random direction of the same norm": success["random"]}
    lost = [n for n, v in others.items() if v["share"] >= s3["share"]]
    unclear = [n for n, v in others.items() if n not in lost and s3["ci95"][0] <= v["ci95"][1]]
    if lost:
        text = ("3 exemplars per concept do NOT beat " + ", ".join(lost) + ": the paper's claim fails on this "
                "model (a finding about the model, not a bug)")
    elif unclear:
        text = ("3 exemplars per concept beat 1 exemplar, pixel space and a random direction of the same norm by "
                "the point estimates, but not clearly: the 95% intervals overlap with " + ", ".join(unclear)
                + " (the paper's claim is not established on this model)")
    else:
        text = "3 exemplars per concept clearly beat 1 exemplar, pixel space and a random direction of the same norm"
    return {"paper_claim_holds": not lost, "paper_claim_clear": not lost and not unclear, "finding": text}


def caption(s: dict) -> str:
    """The report's caption of an arithmetic summary (says which instrument picked and measured)."""
    from gan_viz.instruments import caption_note

    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    a = s.get("arithmetic") or {}
    text = ""
    if a:
        k = len(next(iter(a.get("exemplars", {}).values()), []))
        picked = (f", picked by the instrument from a sheet of {s.get('sheet_size')}" if s.get("concepts") else "")
        text = (f"Vector arithmetic {a.get('expr')} on the mean z of {k} exemplars per concept "
                f"({', '.join(f'{n}={v}' for n, v in (s.get('concepts') or {}).items())}{picked}); Y and "
                f"{a.get('noisy_samples')} samples with uniform noise +-{a.get('noise')}, and the same arithmetic "
                "in pixel space.")
        for cls, f in (a.get("fractions") or {}).items():
            text += (f" {cls} pixels: Y {pct(f.get('y'))}, noisy mean {pct(f.get('noisy_mean'))}, pixel space "
                     f"{pct(f.get('pixel_space'))}; concept means "
                     + ", ".join(f"{n} {pct(v)}" for n, v in f.get("mean_images", {}).items()) + ".")
    if s.get("analogy", {}).get("measured"):
        an = s["analogy"]
        tg = ", ".join(f"{'a' if v == 'present' else 'no'} {c}" for c, v in an["targets"].items())
        pools = ", ".join(f"{n} {v}" for n, v in an["pool_sizes"].items())
        text += (f" Over {an['draws']} independent exemplar draws (from the sheet samples matching each concept: "
                 f"{pools}), Y showed "
                 f"{tg} in {pct(s.get('analogy_success_1'))} of the draws with 1 exemplar per concept and "
                 f"{pct(s.get('analogy_success_3'))} with 3; pixel space {pct(s.get('analogy_success_pixel'))}; "
                 f"a random direction of the same norm from {an['control_base']}: "
                 f"{pct(s.get('analogy_success_random'))}. {an.get('finding', '')}.")
    d = s.get("direction") or {}
    if d.get("measured"):
        text += (f" Direction {d.get('expr')} (Fig. 8; norm {d.get('direction_norm', 0):.2f}) added to "
                 f"{d.get('n_samples')} new samples: {d.get('class')} pixels {pct(d.get('fraction_before'))} -> "
                 f"{pct(d.get('fraction_after'))}, vs {pct(d.get('control_after'))} for random directions of the "
                 "same norm.")
    elif d:
        text += f" Direction {d.get('expr')} (Fig. 8) walked, not measured."
    return (text + " " + caption_note(s.get("instrument") or {})).strip()


def lines(s: dict) -> list[str]:
    """What ``gan-viz arithmetic`` prints of a summary: Y and its fractions, the analogy, the direction."""
    out = []
    if "arithmetic" in s:
        a = s["arithmetic"]
        out.append(f"{a['expr']}: exemplars {a['exemplars']}; |Y| {a['y_norm']:.2f} (sheet mean |z| "
                   f"{a['sheet_mean_norm']:.2f})")
        for m, f in a.get("fractions", {}).items():
            out.append(f"  {m}: Y {f['y']:.3f}, noisy mean {f['noisy_mean']}, pixel space {f['pixel_space']:.3f}, "
                       f"concept means {({k: round(v, 3) for k, v in f['mean_images'].items()})}")
    if s.get("analogy", {}).get("measured"):
        an = s["analogy"]
        out.append(f"analogy over {an['draws']} draws (targets {an['targets']}): success with 1 exemplar "
                   f"{s['analogy_success_1']:.2f}, 3 exemplars {s['analogy_success_3']:.2f}, pixel space "
                   f"{s['analogy_success_pixel']:.2f}, random direction {s['analogy_success_random']:.2f}; "
                   f"{an['finding']}")
    if "direction" in s and s["direction"].get("measured"):
        d = s["direction"]
        out.append(f"direction {d['expr']} on {d['n_samples']} samples: {d['class']} {d['fraction_before']:.4f} -> "
                   f"{d['fraction_after']:.4f}; random directions of the same norm -> {d['control_after']}")
    return out
