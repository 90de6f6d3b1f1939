"""The report as a user reruns it (issue 23): ``--only`` keeps every other section the folder holds,
the model card says what is not recorded, and every section's printed command line reruns to the
same summary."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator

sys.path.insert(0, str(Path(__file__).resolve().parent))  # user_models

TINY = {"fig5_guided_backprop": {"images": 16, "top": 2}, "checkerboard": {"n": 8},
        "filter_audit": {"nets": "D", "images": 16}}


def test_only_reruns_its_sections_and_keeps_the_others(tiny_rooms, tmp_path):
    from gan_viz.reports.report import build_report

    out = tmp_path / "r"
    first = build_report(tiny_rooms, out, "fig5,upsampling,checkerboard", settings=TINY)
    assert {k for k, v in first["sections"].items() if v["status"] == "ran"} == {
        "fig5_guided_backprop", "upsampling", "checkerboard"}
    rec = build_report(tiny_rooms, out, "fig5", force=True, settings=TINY)
    sec = rec["sections"]
    assert set(sec) == {"fig5_guided_backprop", "upsampling", "checkerboard"}, sec
    assert sec["fig5_guided_backprop"]["status"] == "ran"
    assert sec["upsampling"]["status"] == sec["checkerboard"]["status"] == "cached"
    page = (out / "report.html").read_text()
    for key in ("fig5_guided_backprop", "upsampling", "checkerboard", "model_card"):
        assert f'id="{key}"' in page
    # a section cached for other inputs is not this report's: another seed drops it
    rec = build_report(tiny_rooms, out, "upsampling", seed=1, settings=TINY)
    assert set(rec["sections"]) == {"upsampling"}, rec["sections"]


def test_only_keeps_an_absent_section_with_its_reason(tmp_path):
    from gan_viz.reports.report import build_report

    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    ck = save_checkpoint(tmp_path / "nodata.pt", cfg, build_generator(cfg), build_discriminator(cfg))
    build_report(ck, tmp_path / "r", "modes,upsampling")
    rec = build_report(ck, tmp_path / "r", "upsampling")
    assert rec["sections"]["modes"]["status"] == "absent" and "does not record" in rec["sections"]["modes"]["reason"]


MODEL = '''import sys
sys.path.insert(0, {tests!r})
from user_models import NestedGenerator, PTDiscriminator, seeded


def build():
    return {{"G": seeded(NestedGenerator(8, 8, 3), 1), "D": seeded(PTDiscriminator(4, 3), 2), "nz": 8}}
'''


@pytest.fixture(scope="module")
def model_def(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "mine.py"
    path.write_text(MODEL.format(tests=str(Path(__file__).resolve().parent)))
    return f"{path}:build"


def test_model_card_says_what_is_not_recorded(model_def, tiny_rooms, tmp_path):
    from gan_viz.checkpoint import load_subject
    from gan_viz.reports.extras import card_block, card_facts

    S = load_subject(model_def=model_def)
    b = card_block(S, tmp_path / "a")
    assert "step and epoch not recorded" in b.caption and "step 0" not in b.caption, b.caption
    facts = card_facts(S)
    assert facts["step"] == facts["epoch"] == facts["domain"] == facts["train"] == "not recorded"
    b = card_block(load_subject(tiny_rooms), tmp_path / "b")
    assert "step 20, epoch 0" in b.caption, b.caption


# the whole report at tiny settings, every input named (so every command shows what it takes)
EVERY = {"fig4_latent_walk": {"points": 3, "steps": 2, "no_video": True},
         "fig5_guided_backprop": {"images": 16, "top": 2},
         "fig6_forget": {"fits": 1, "random_draws": 1, "samples": 16, "causal_samples": 16, "opt_steps": 2,
                         "eval_samples": 16, "curve_points": 2},
         "fig7_arithmetic": {"samples_n": 60, "draws": 2, "eval_samples": 8, "controls": 1},
         "directions": {"n_find": 60, "eval_samples": 8, "components": 2, "grid_rows": 2, "steps": 3},
         "classification": {"n_train": 60, "n_test": 20, "labels": 4, "draws": 1, "C_grid": "0.01"},
         "memorisation": {"n": 8, "n_train": 64, "n_heldout": 8, "show": 2, "cells": 2},
         "modes": {"n": 20, "n_train": 40, "n_test": 20, "epochs": 1},
         "checkerboard": {"n": 8},
         "filter_audit": {"nets": "D", "images": 16}}
TIMING = re.compile(r"(^|_)(seconds|timing_s|time_s|wall_s|elapsed)|_s$")


def _diff(a, b, where: str = "") -> list[str]:
    """Where two summaries differ: floats beyond 1e-6 relative (1e-9 absolute), timings ignored."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if not TIMING.search(str(k)) for d in _diff(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{where}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == pytest.approx(b, rel=1e-6, abs=1e-9, nan_ok=True)
        return [] if ok else [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def test_every_printed_command_reruns_to_the_same_summary(tiny_rooms, tmp_path, cli):
    """Each section's command line in report.json, run as printed: a section that ran writes the
    same summary.json (timings aside); one that is absent is refused with the same reason."""
    from gan_viz.reports.report import build_report

    out = tmp_path / "r"
    rec = build_report(tiny_rooms, out, dataset="rooms", segmenter="rooms", settings=EVERY)
    sec = rec["sections"]
    assert sum(s["status"] == "ran" for s in sec.values()) >= 7, {k: s["reason"] for k, s in sec.items()}
    for key, s in sec.items():
        words = shlex.split(s["command"])
        assert words[:2] == ["gan-viz", s["analysis"]] and words[words.index("--out") + 1] == str(out / key)
        assert ("--segmenter" in words) == (s["analysis"] in ("latent-walk", "forget", "arithmetic", "directions",
                                                                  "filter-audit"))
        assert ("--dataset" in words) == (s["analysis"] in ("guided-backprop", "classify", "neighbors", "modes",
                                                             "checkerboard", "filter-audit", "evaluate")), s["command"]
        before = json.loads((out / key / "summary.json").read_text()) if s["status"] == "ran" else None
        code, _, err = cli(*words[1:])
        if before is None:
            assert code == 2 and s["reason"] in err, (key, s["reason"], err)
            continue
        assert code == 0, (key, err)
        after = json.loads((out / key / "summary.json").read_text())
        assert not _diff(before, after), (key, _diff(before, after)[:5])


def test_an_unknown_option_names_the_subcommands_help(cli):
    code, _, err = cli("guided-backprop", "--segmenter", "rooms", "--out", "x")
    assert code == 2 and "unrecognized arguments: --segmenter rooms" in err
    assert "see gan-viz guided-backprop --help" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("data", "preview", "--bogus")
    assert code == 2 and "see gan-viz data preview --help" in err


def test_takes_matches_each_commands_options():
    """The report's TAKES (which shared inputs a section's command is given) is what each command parses."""
    from gan_viz.analyses.registry import MODULES
    from gan_viz.cli import build_parser
    from gan_viz.reports.report import SECTIONS, TAKES

    subs = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in {s.name for s in SECTIONS if s.model} | set(MODULES):
        flags = {o for a in subs[name]._actions for o in a.option_strings}
        takes = set(TAKES.get(name, ()))
        assert ("--dataset" in flags and "--data-root" in flags) == ("data" in takes), name
        assert ("--segmenter" in flags) == ("segmenter" in takes), name
