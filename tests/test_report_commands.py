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
import torch

from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator, init_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))  # user_models

TINY = {"fig5_guided_backprop": {"images": 16, "top": 2}, "checkerboard": {"n": 8},
        "filter_audit": {"nets": "D", "images": 16}}


@pytest.fixture(scope="module")
def tiny_rooms(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g = torch.Generator().manual_seed(0)
    init_weights(G, g), init_weights(D, g)
    return save_checkpoint(run / "checkpoints" / "last.pt", cfg, G, D, step=20, train_config={"dataset": "rooms"})


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
