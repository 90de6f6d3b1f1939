"""The report's first page: one line per section with what it measured, beside its control.

Each line is read from the section's own ``summary.json`` (never recomputed, never guessed: a
figure the summary lacks leaves the line out), with the control the analysis measured next to
it (random filters, random directions, random D, held-out images, real images) and the
instrument's status where one measured. Absent sections say why in a few words.
"""

from __future__ import annotations

from typing import Any, Callable

from .captions import get


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _fig4(s: dict) -> str | None:
    if s.get("n_sharp") is None:
        return None
    text = (f"{s['n_sharp']} sharp steps of {max(int(s.get('frames', 1)) - 1, 0)} (largest step "
            f"{get(s, 'max_over_median', 0):.1f}x the median; a memorising G would jump)")
    if "presence_changes" in s:
        text += f"; {len(s['presence_changes'])} objects appear or disappear along the walk"
    return text


def _fig5(s: dict) -> str | None:
    t, r = s.get("trained") or {}, s.get("random") or {}
    if "object_energy_fraction" in t:
        return (f"{_pct(t['object_energy_fraction'])} of guided-backprop energy on objects (they cover "
                f"{_pct(t.get('object_pixel_fraction'))}); random D {_pct(r.get('object_energy_fraction'))}")
    if "mean_top_activation" in t:
        return (f"mean top activation {t['mean_top_activation']:.3g} trained vs "
                f"{get(r, 'mean_top_activation', float('nan')):.3g} random D")
    return None


def _fig6(s: dict) -> str | None:
    share = s.get("removed_share_median", s.get("removed_share"))
    if share is None:
        return None
    rnd = s.get("random_removed_share_median", s.get("random_removed_share"))
    judge = s.get("judge")
    by = f"judged by {judge}" if judge else "judged by the selecting instrument (no independent judge)"
    return (f"{_pct(share)} of {s.get('concept', 'object')} pixels removed by {s.get('n_filters_removed')} filters of "
            f"{s.get('layer')}, median of {s.get('fits')} fits (random filters {_pct(rnd)}; {by})")


def _fig7(s: dict) -> str | None:
    if s.get("analogy_success_3") is None:
        return None
    holds, clear = get(s, "analogy.paper_claim_holds"), get(s, "analogy.paper_claim_clear")
    said = ("" if holds is None else "; the paper's claim does not hold" if not holds else
            "; the paper's claim holds" if clear else "; the paper's claim holds by the point estimates only")
    return (f"analogy success {_pct(s['analogy_success_3'])} with 3 exemplars, {_pct(s.get('analogy_success_1'))} "
            f"with 1 (same-norm random {_pct(s.get('analogy_success_random'))}, pixel space "
            f"{_pct(s.get('analogy_success_pixel'))}){said}")


def _directions(s: dict) -> str | None:
    rows = [(c, r) for c, r in (s.get("concepts") or {}).items() if r.get("winner")]
    if not rows:
        return None if s.get("judged") is None else "found, not judged: " + str(s.get("judge_note"))
    best = "; ".join(f"{c}: {r['winner']} {r['slope_over_band'][r['winner']]:.1f}x the random band (exemplar means "
                     f"{r['slope_over_band'].get('exemplar', float('nan')):.1f}x)" for c, r in rows)
    return best + ("" if not get(s, "judge.is_selecting_instrument") else "; judged by the selecting instrument")


def _table1(s: dict) -> str | None:
    f = s.get("feature_sets") or {}
    if "trained_D" not in f:
        return None

    def acc(k):
        return (f"{100 * f[k]['accuracy_mean']:.1f}% +- {100 * f[k].get('accuracy_ci95', 0):.1f}"
                if k in f else "n/a")
    return (f"trained D {acc('trained_D')} vs random D {acc('random_D')}, pixels {acc('pixels')} "
            f"(chance {_pct(s.get('chance_accuracy'))}; {s.get('labels_per_draw')} labels)")


def _memorisation(s: dict) -> str | None:
    parts = []
    for space, v in (s.get("spaces") or {}).items():
        m = v.get("memorisation")
        ct = get(v, "data_copying.C_T")
        parts.append(f"{space}: {'cannot tell' if m is None else _pct(m)} of samples nearer a training image than "
                     f"held-out images are (like held-out: {_pct(v.get('expected_if_like_heldout'))})"
                     + ("" if ct is None else f", C_T {ct:+.2f}"))
    if not parts:
        return None
    seen = s.get("heldout_seen_by_G")
    return "; ".join(parts) + ("; held-out images were part of G's training data (lower bound)" if seen else "")


def _modes(s: dict) -> str | None:
    if s.get("modes_covered") is None:
        return None
    kl = s.get("kl_real_to_generated_corrected", s.get("kl_real_to_generated"))
    warn = " (see the coverage warning)" if s.get("coverage_warning") else ""
    return (f"{s['modes_covered']} of {s.get('n_classes')} modes covered (corrected for the classifier's confusion), "
            f"KL(real || generated) {kl:.3f}" + ("; COLLAPSED" if s.get("collapsed") else "") + warn)


def _quality(s: dict) -> str | None:
    """Per feature space: Frechet distance, KID, precision and recall, each beside real vs real at the same N."""
    parts = []
    for space, m in (s.get("evaluate") or {}).items():
        def pair(metric, fmt):
            v = m.get(metric) or {}
            mv, cv = get(v, "model.value"), get(v, "control.value")
            return None if mv is None else f"{metric} {fmt(mv)} (real {fmt(cv) if cv is not None else 'n/a'})"
        got = [pair("frechet", lambda x: f"{x:.2f}"), pair("kid", lambda x: f"{x:.3f}".replace("-0.000", "0.000")),
               pair("precision", lambda x: f"{x:.2f}"), pair("recall", lambda x: f"{x:.2f}")]
        got = [g for g in got if g]
        if got:
            parts.append(f"{space}: " + ", ".join(got))
    if not parts:
        return None
    return "; ".join(parts) + f" ({s.get('n')} samples; real = two disjoint real sets of the same N)"


def _checkerboard(s: dict) -> str | None:
    g, r = get(s, "checkerboard.generated.period_2"), get(s, "checkerboard.real.period_2")
    if g is None:
        return None
    return f"period-2 checkerboard score {g:.2f} generated vs {r:.2f} real (1 = no excess power)" if r is not None \
        else f"period-2 checkerboard score {g:.2f} generated"


def _filter_audit(s: dict) -> str | None:
    layers = s.get("layers") or {}
    if not layers:
        return None
    name = list(layers)[-1]
    t, r = layers[name].get("trained") or {}, layers[name].get("random") or {}
    if t.get("labelled") is None:
        return None
    return (f"{name}: {t['labelled']} of {t.get('filters')} filters labelled by dissection trained vs "
            f"{r.get('labelled')} of {r.get('filters')} random")


def _upsampling(s: dict) -> str | None:
    agree = s.get("methods_agree")
    return None if agree is None else f"PyTorch and the explicit scatter-add agree: {agree}"


HEADLINES: dict[str, Callable[[dict], str | None]] = {
    "fig4_latent_walk": _fig4, "fig5_guided_backprop": _fig5, "fig6_forget": _fig6, "fig7_arithmetic": _fig7,
    "directions": _directions, "classification": _table1, "memorisation": _memorisation, "modes": _modes, "quality": _quality, "checkerboard": _checkerboard,
    "filter_audit": _filter_audit, "upsampling": _upsampling,
}


# --- verdicts: holds / fails / cannot tell, each with the rule it applied ---------------------------

def _v_fig4(s: dict) -> str | None:
    n = s.get("n_sharp")
    if n is None:
        return None
    rule = f"the paper: smooth transitions; a step over {s.get('sharp_factor', 3)}x the median is sharp"
    return f"holds ({rule})" if n == 0 else f"fails: {n} sharp steps ({rule})"


def _v_fig5(s: dict) -> str | None:
    t = [f.get("object_energy") for f in ((s.get("trained") or {}).get("per_filter") or {}).values()]
    r = [f.get("object_energy") for f in ((s.get("random") or {}).get("per_filter") or {}).values()]
    t, r = [x for x in t if x is not None], [x for x in r if x is not None]
    if len(t) < 3 or len(r) < 3:
        return None
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(t, r, alternative="greater").pvalue)
    rule = f"trained filters' object energy above random filters', one-sided Mann-Whitney p = {p:.2g}, {len(t)} vs {len(r)}"
    return f"holds ({rule})" if p < 0.05 else f"cannot tell ({rule})"


def _v_fig6(s: dict) -> str | None:
    f = s.get("over_fits") or {}
    got, rnd = get(f, "removed_share.min"), get(f, "random_removed_share.max")
    if got is None or rnd is None:
        return None
    rule = (f"the paper: windows disappear; every fit removes more than every random draw: "
            f"least {_pct(got)} vs most {_pct(rnd)}")
    return f"holds ({rule})" if got > rnd and got > 0 else f"fails ({rule})"


def _v_fig7(s: dict) -> str | None:
    holds, clear = get(s, "analogy.paper_claim_holds"), get(s, "analogy.paper_claim_clear")
    if holds is None:
        return None
    rule = "the paper: 3 exemplars work, beyond same-norm random directions and pixel-space arithmetic"
    if not holds:
        return f"fails ({rule})"
    return f"holds ({rule})" if clear else f"cannot tell (intervals overlap; {rule})"


def _v_directions(s: dict) -> str | None:
    rows = {c: r for c, r in (s.get("concepts") or {}).items() if r.get("slope_over_band")}
    if not rows:
        return None
    above = [c for c, r in rows.items() if max(r["slope_over_band"].values()) > 1]
    m, sd, alpha = s.get("band_comparisons"), s.get("band_sd"), s.get("band_family_alpha")
    band = (f"{sd:.1f} sd: {alpha:.0%} / {m} comparisons, and their largest" if m and sd and alpha
            else "3 sd and their largest")
    rule = f"a direction moves its concept beyond every random direction of the same norm ({band})"
    return (f"holds for {', '.join(above)} ({rule})" if len(above) == len(rows) else
            f"holds for {', '.join(above) or 'none'} of {', '.join(rows)} ({rule})")


def _v_table1(s: dict) -> str | None:
    f = s.get("feature_sets") or {}
    if "trained_D" not in f or "random_D" not in f:
        return None
    t, r = f["trained_D"], f["random_D"]
    lo, hi = t["accuracy_mean"] - t.get("accuracy_ci95", 0), t["accuracy_mean"] + t.get("accuracy_ci95", 0)
    r_hi = r["accuracy_mean"] + r.get("accuracy_ci95", 0)
    chance = s.get("chance_accuracy") or 0
    rule = "the paper: D's features classify well; trained D's 95% interval above random D's and chance"
    if lo > max(r_hi, chance):
        return f"holds ({rule})"
    if hi < r["accuracy_mean"] - r.get("accuracy_ci95", 0) or hi <= chance:
        return f"fails ({rule})"
    return f"cannot tell ({rule})"


def _v_memorisation(s: dict) -> str | None:
    spaces = s.get("spaces") or {}
    if not spaces:
        return None
    cts = [get(v, "data_copying.C_T") for v in spaces.values()]
    cts = [c for c in cts if c is not None]
    mem = [v.get("memorisation") for v in spaces.values()]
    rule = "the paper: G does not memorise; calibrated: a copier gives C_T <= -3, a novel G C_T > -2"
    if any(c <= -3 for c in cts):
        return f"fails: copies training images ({rule})"
    if cts and all(c > -2 for c in cts):
        return f"holds ({rule})"
    if any(m is not None and m >= 0.5 for m in mem):
        return f"fails: half the samples or more sit nearer a training image than held-out images do ({rule})"
    why = "C_T absent (held-out images G trained on)" if not cts else "C_T between -3 and -2"
    return f"cannot tell: {why} ({rule})"


def _v_modes(s: dict) -> str | None:
    if s.get("modes_covered") is None:
        return None
    if s.get("collapsed"):
        return "fails: collapsed (no mode collapse is the claim)"
    if s.get("coverage_warning"):
        return "cannot tell: the classifier's accuracy cannot support the call"
    return "holds: every mode covered"


def _v_quality(s: dict) -> str | None:
    fr = get(s, "evaluate.parser.frechet") or next((v.get("frechet") for v in (s.get("evaluate") or {}).values()
                                                    if v.get("frechet")), None)
    if not fr:
        return None
    lo, c_hi = get(fr, "model.low"), get(fr, "control.high")
    if lo is None or c_hi is None:
        return None
    rule = "no paper claim; the model's Frechet interval against real vs real's at the same N"
    return f"differs from real ({rule})" if lo > c_hi else f"like real ({rule})"


def _v_filter_audit(s: dict) -> str | None:
    layers = s.get("layers") or {}
    if not layers:
        return None
    last = layers[list(layers)[-1]]
    t, r = get(last, "trained.labelled"), get(last, "random.labelled")
    if t is None or r is None:
        return None
    rule = "the paper: D's filters learn object parts; more filters labelled by dissection than random ones"
    return f"holds ({rule})" if t > r else f"fails ({rule})"


def _v_upsampling(s: dict) -> str | None:
    agree = s.get("methods_agree")
    return None if agree is None else ("holds: both computations agree" if agree else "fails: they differ")


VERDICTS: dict[str, Callable[[dict], str | None]] = {
    "fig4_latent_walk": _v_fig4, "fig5_guided_backprop": _v_fig5, "fig6_forget": _v_fig6, "fig7_arithmetic": _v_fig7,
    "directions": _v_directions, "classification": _v_table1, "memorisation": _v_memorisation, "modes": _v_modes, "quality": _v_quality,
    "filter_audit": _v_filter_audit, "upsampling": _v_upsampling,
}


def verdict(key: str, s: dict) -> str:
    """holds / fails / cannot tell (and the rule) for a section's summary; '' where no rule applies."""
    try:
        return VERDICTS.get(key, lambda _: None)(s) or ""
    except (KeyError, TypeError, ValueError):  # an older summary without these figures
        return ""


def instrument_status(s: dict) -> str:
    """'' where no instrument measured; else its name, FORCED / OUTSIDE ITS DOMAIN where so."""
    rec = s.get("instrument") or {}
    if not rec or rec.get("name") is None:
        return ""
    if rec.get("out_of_domain"):
        return f"{rec['name']} FORCED, OUTSIDE ITS DOMAIN"
    return f"{rec['name']} FORCED" if rec.get("forced") else rec["name"]


def rows(outcomes) -> list[tuple[str, str, str, str]]:
    """(section title, what it measured or why it is absent, instrument, verdict) for each outcome."""
    out = []
    for o in outcomes:
        if not o.ok:
            reason = (o.reason or "not run").split(";")[0]
            out.append((o.section.title, f"absent: {reason[:160]}", "", ""))
            continue
        s = o.summary()
        try:
            line = HEADLINES.get(o.section.key, lambda _: None)(s)
        except (KeyError, TypeError, ValueError):  # an older summary without these figures
            line = None
        status = instrument_status(s)
        said = verdict(o.section.key, s)
        if said and "OUTSIDE ITS DOMAIN" in status:
            said = f"cannot tell: the instrument is outside its domain (would read: {said})"
        out.append((o.section.title, line or "ran (see the section)", status, said))
    return out


def quality_line(card_quality: dict | None) -> str | None:
    """The model card's headline: parser-space Frechet distance against its equal-N real floor, and
    the window / bed pixel ratios (rooms models exported by gan-viz)."""
    q = card_quality or {}
    if "frechet_parser" not in q:
        return None
    r = q.get("ratio", {}).get("fraction", {})
    n = q.get("n")
    floor = (f"real vs real at the same N {q.get('frechet_parser_real_vs_real', float('nan')):.2f}"
             if "real_control_rooms" in q else  # cards exported before the equal-N control: halves of the set
             f"real vs real {q.get('frechet_parser_real_vs_real', float('nan')):.2f} on halves of {n} rooms, "
             "an inflated floor")
    more = "".join(f"; {label} {q[k]:.3f} (real vs real {q.get(k + '_real_vs_real', float('nan')):.3f})"
                   for k, label in (("kid_parser", "KID"), ("precision_parser", "precision"),
                                    ("recall_parser", "recall")) if k in q)
    return (f"Frechet distance in the parser's features {q['frechet_parser']:.2f} ({floor}){more}; "
            f"window pixels {r.get('window', 0):.2f}x, "
            f"bed pixels {r.get('bed', 0):.2f}x real ({q.get('n')} samples)")
