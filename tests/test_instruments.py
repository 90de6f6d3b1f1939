"""Concept instruments: the user's segmenter, the rooms parser only where it applies (or forced,
and then said), user boxes; the four analyses that need one on a nested-block generator.

The model is tests/user_models.py's NestedGenerator (and a WGAN-style Critic) through
``--model-def``; its domain is unknown, so no instrument applies unless one is passed.
The segmenter is a colour threshold with three classes (rest, red, green).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_viz.errors import UserError
from gan_viz.instruments import (Instrument, absent_reason, card_iou, require_instrument, resolve_instrument)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from user_models import rooms_subject  # noqa: E402

TESTS = Path(__file__).resolve().parent

MODEL = f'''
import sys
import torch
sys.path.insert(0, {str(TESTS)!r})
from user_models import Critic, NestedGenerator, seeded


def _G(nc=3):
    G = seeded(NestedGenerator(nz=8, width=8, nc=nc), 0)
    with torch.no_grad():  # weights 6 x N(0, 0.1): images with structure (red ~2%, green ~16% of pixels)
        for p in G.parameters():
            p.mul_(6)
    return G


def build():
    return {{"G": _G(), "D": seeded(Critic(width=4), 1), "nz": 8}}


def gray():
    return {{"G": _G(nc=1), "nz": 8}}
'''

SEGMENTER = '''
import numpy as np
import torch

CLASSES = ["rest", "red", "green"]


def colours(x):
    """(N, 3, H, W) in [-1, 1] -> (N, H, W): red where R > 0.2 and R > G, green where G > 0.2 and G >= R."""
    seg = torch.zeros(len(x), *x.shape[2:], dtype=torch.long)
    seg[(x[:, 1] > 0.2) & (x[:, 1] >= x[:, 0])] = 2
    seg[(x[:, 0] > 0.2) & (x[:, 0] > x[:, 1])] = 1
    return seg


def as_dict():
    return {"segment": colours, "classes": CLASSES}


def as_tuple():
    return colours, CLASSES


class Colours:
    class_names = CLASSES

    def segment(self, x):
        return colours(x).numpy().astype(np.int32)  # NumPy, another integer type: accepted

    def probs(self, x):  # differentiable class probabilities (N, 3, H, W)
        r, g = torch.sigmoid((x[:, 0] - 0.2) * 20), torch.sigmoid((x[:, 1] - 0.2) * 20)
        return torch.softmax(torch.stack([torch.zeros_like(r), 4 * r, 4 * g], 1), 1)


def as_object():
    return Colours()


def wrong_shape():
    return {"segment": lambda x: colours(x)[:, None], "classes": CLASSES}


def outside():
    return {"segment": lambda x: colours(x) + 1, "classes": CLASSES}


def floats():
    return {"segment": lambda x: colours(x).float(), "classes": CLASSES}


def one_class():
    return {"segment": colours, "classes": ["all"]}


def not_a_segmenter():
    return 42
'''


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "mine.py").write_text(MODEL)
    (tmp_path / "seg.py").write_text(SEGMENTER)
    return {"model": f"{tmp_path / 'mine.py'}:build", "gray": f"{tmp_path / 'mine.py'}:gray",
            "seg": f"{tmp_path / 'seg.py'}:as_dict", "segs": str(tmp_path / "seg.py")}


@pytest.fixture
def subject(files):
    from gan_viz.model_def import load_model_def

    return load_model_def(files["model"])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def refused(code, err, out: Path, *words):
    """Exit 2, one line, every word in it, nothing left in --out."""
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists(), list(out.iterdir())


# --- the interface -----------------------------------------------------------------------

@pytest.mark.parametrize("func", ["as_dict", "as_tuple", "as_object"])
def test_user_segmenter_contract_forms(files, subject, func):
    inst = resolve_instrument(subject, f"{files['segs']}:{func}")
    assert isinstance(inst, Instrument) and inst.class_names == ("rest", "red", "green") and not inst.forced
    images = subject.images(subject.sample_z(5, torch.Generator().manual_seed(1)))
    seg = inst.segment(images, batch_size=2)  # batched: 2 + 2 + 1
    assert seg.shape == (5, 32, 32) and seg.dtype == torch.int64 and set(seg.unique().tolist()) <= {0, 1, 2}
    frac = inst.class_fractions(images)
    assert frac.shape == (5, 3) and torch.allclose(frac.sum(1), torch.ones(5))
    d = inst.describe()
    assert d["name"] == f"segmenter {files['segs']}:{func}" and d["class_names"] == ["rest", "red", "green"]
    assert d["forced"] is False and d["differentiable"] is (func == "as_object")
    if func == "as_object":
        p = inst.concept_prob(2)(images.requires_grad_(True))
        assert p.shape == (5,) and p.requires_grad


def test_no_instrument_for_an_unknown_domain(subject):
    assert resolve_instrument(subject) is None
    assert "domain is unknown" in absent_reason(subject)
    with pytest.raises(UserError, match="forget needs a concept instrument, and the model's domain is unknown, so "
                                        "the rooms parser does not apply; pass --segmenter FILE.py:FUNC"):
        require_instrument(subject, None, "forget")
    subject.domain = "mnist"
    assert "domain is 'mnist'" in absent_reason(subject) and resolve_instrument(subject) is None


def test_rooms_parser_forced_or_by_domain(subject):
    forced = resolve_instrument(subject, "rooms")
    assert forced.name == "rooms-parser" and forced.forced and "FORCED" in forced.line
    d = forced.describe()
    assert d["forced"] is True and "domain is unknown" in d["note"] and d["held_out_mean_iou"] == card_iou()
    assert set(card_iou()) >= {"32", "64"} and 0.5 < card_iou()["32"] <= 1
    subject.domain = "rooms"  # claimed, but its images are colour noise: the applicability check refuses
    assert resolve_instrument(subject) is None and "does not fit this model's images" in absent_reason(subject)
    forced = resolve_instrument(subject, "rooms")
    assert forced.forced and forced.out_of_domain and "OUTSIDE ITS DOMAIN" in forced.line
    assert resolve_instrument(subject, "none") is None
    rooms = rooms_subject()
    own = resolve_instrument(rooms)
    assert own.name == "rooms-parser" and not own.forced and not resolve_instrument(rooms, "rooms").forced


def test_held_out_parser_b_is_another_network_with_its_own_card(subject, files):
    from gan_viz.instruments import ASSETS, held_out_instrument

    assert held_out_instrument(subject) is None  # unknown domain: no rooms parser, so no second one
    subject.domain = "rooms"
    assert held_out_instrument(subject) is None  # its images are not rooms: neither parser applies
    subject = rooms_subject()
    a, b = resolve_instrument(subject), held_out_instrument(subject)
    assert b.name == "rooms-parser-b" and b.class_names == a.class_names and not b.forced
    assert b.parser.net.cfg.widths != a.parser.net.cfg.widths and b.parser.meta["seed"] != a.parser.meta.get("seed", 0)
    d = b.describe()
    assert d["card"] == "gan_viz/assets/parser_b.md" and d["held_out_mean_iou"] == card_iou(ASSETS / "parser_b.md")
    assert 0.75 < d["held_out_mean_iou"]["32"] < card_iou()["32"]  # its card: less accurate than parser.pt
    assert resolve_instrument(subject, which="b").name == "rooms-parser-b"
    seg = held_out_instrument(subject, judge=files["seg"])
    assert seg.name.startswith("segmenter") and held_out_instrument(subject, judge="none") is None
    assert held_out_instrument(subject, files["seg"]) is None  # the user's segmenter has no "b"
    with pytest.raises(UserError, match="--judge 'parser2'"):
        held_out_instrument(subject, judge="parser2")


@pytest.mark.parametrize("func, words", [
    ("wrong_shape", ["returned shape (2, 1, 32, 32)", "(2, 32, 32) (N, H, W)"]),
    ("outside", ["returned class id 3", "outside its 3 class names"]),
    ("floats", ["returned float32 values", "integer class ids"]),
    ("one_class", ["at least two"]),
    ("not_a_segmenter", ["returned a int", "'segment'"]),
    ("missing", ["has no function 'missing'"]),
])
def test_bad_segmenters_refused_by_name(cli, files, tmp_path, func, words):
    out = tmp_path / "never"
    code, _, err = cli("latent-walk", "--model-def", files["model"], "--segmenter", f"{files['segs']}:{func}",
                       "--points", 2, "--steps", 2, "--no-video", "--out", out)
    refused(code, err, out, "--segmenter", *words)


def test_segmenter_spec_and_rooms_on_one_channel_refused(cli, files, tmp_path):
    out = tmp_path / "never"
    code, _, err = cli("latent-walk", "--model-def", files["gray"], "--segmenter", "rooms", "--points", 2,
                       "--steps", 2, "--no-video", "--out", out)
    refused(code, err, out, "--segmenter rooms", "3-channel", "1-channel")
    code, _, err = cli("latent-walk", "--model-def", files["model"], "--segmenter", "parser", "--out", out)
    refused(code, err, out, "--segmenter 'parser'", "FILE.py:FUNC")


# --- analyses that need one, refused or reported absent without ---------------------------

def test_forget_and_arithmetic_refused_without_an_instrument(cli, files, tmp_path):
    out = tmp_path / "never"
    code, _, err = cli("forget", "--model-def", files["model"], "--concept", "green", "--out", out)
    refused(code, err, out, "forget needs a concept instrument", "domain is unknown", "--segmenter FILE.py:FUNC",
            "--boxes", "--segmenter rooms")
    code, _, err = cli("arithmetic", "--model-def", files["model"], "--expr", "A - B",
                       "--concepts", "A=green,B=no-green", "--out", out)
    refused(code, err, out, "arithmetic --concepts needs a concept instrument", "domain is unknown")
    code, _, err = cli("arithmetic", "--model-def", files["model"], "--expr", "A - B", "--A", "0", "--B", "1",
                       "--measure", "green", "--out", out)
    refused(code, err, out, "--measure green needs a concept instrument")
    code, _, err = cli("forget", "--model-def", files["model"], "--segmenter", files["seg"], "--concept", "sofa",
                       "--out", out)
    refused(code, err, out, "'sofa' is not a class of segmenter", "rest, red, green")


def test_latent_walk_events_with_a_user_segmenter_and_absent_without(cli, files, tmp_path):
    code, stdout, err = cli("latent-walk", "--model-def", files["model"], "--segmenter", files["seg"],
                            "--points", 3, "--steps", 3, "--no-video", "--out", tmp_path / "w")
    assert code == 0, err
    s = summary(tmp_path / "w")
    assert s["instrument"]["name"] == f"segmenter {files['seg']}" and set(s["classes"]) == {"rest", "red", "green"}
    assert isinstance(s["class_events"], list) and np.load(tmp_path / "w" / "arrays.npz")["class_fractions"].shape == (7, 3)
    code, stdout, err = cli("latent-walk", "--model-def", files["model"], "--points", 3, "--steps", 3, "--no-video",
                            "--out", tmp_path / "bare")
    assert code == 0, err
    s = summary(tmp_path / "bare")
    assert s["frames"] == 7 and "class_events" not in s and "domain is unknown" in s["instrument"]["absent"]
    assert "instrument: none" in stdout


def test_rooms_forced_is_said_in_summary_caption_and_print(cli, files, tmp_path):
    from gan_viz.analyses import registry

    code, stdout, err = cli("latent-walk", "--model-def", files["model"], "--segmenter", "rooms", "--points", 2,
                            "--steps", 2, "--no-video", "--out", tmp_path / "w")
    assert code == 0, err
    s = summary(tmp_path / "w")
    assert s["instrument"]["name"] == "rooms-parser" and s["instrument"]["forced"] is True
    assert "FORCED" in stdout and "FORCED" in registry.get("latent-walk").caption(s)


def test_filter_audit_dissects_with_a_user_segmenter(cli, files, tmp_path):
    code, stdout, err = cli("filter-audit", "--model-def", files["model"], "--segmenter", files["seg"],
                            "--images", 12, "--out", tmp_path / "a")
    assert code == 0, err
    s = summary(tmp_path / "a")
    assert set(s["layers"]) == {"D.features.1", "D.features.4", "D.features.7", "G.blocks.0.act", "G.blocks.1.act",
                                "G.blocks.2.act"}
    assert s["class_names"] == ["rest", "red", "green"] and s["dissected"] == {"D": True, "G": True}
    assert "labelled" in s["layers"]["G.blocks.2.act"]["trained"] and "segmenter" in s["sources"]["G"]
    assert np.load(tmp_path / "a" / "arrays.npz")["G_blocks_2_act__random__iou"].shape == (4, 3)
    code, stdout, err = cli("filter-audit", "--model-def", files["model"], "--nets", "G", "--images", 12,
                            "--out", tmp_path / "b")
    assert code == 0, err
    s = summary(tmp_path / "b")  # no instrument: the no-mask measures, dissection absent with the reason
    assert s["class_names"] == [] and s["dissected"] == {"G": False}
    assert "domain is unknown" in s["sources"]["G"] and "domain is unknown" in s["instrument"]["absent"]
    assert "selectivity_median" in s["layers"]["G.blocks.2.act"]["trained"]
    assert not (tmp_path / "b" / "label_counts.png").exists() and (tmp_path / "b" / "selectivity.png").exists()


FAST = ["--samples", 24, "--fits", 1, "--random-draws", 1, "--eval-samples", 24, "--curve-points", 2, "--show", 2,
        "--causal-samples", 8]


def test_forget_with_a_user_segmenter_on_nested_blocks(cli, files, tmp_path):
    code, stdout, err = cli("forget", "--model-def", files["model"], "--segmenter", files["seg"], "--concept", "green",
                            *FAST, "--out", tmp_path / "f")
    assert code == 0, err
    s = summary(tmp_path / "f")
    assert s["measured"] and s["layer"] == "G.blocks.2.act" and s["layer_shape"] == [4, 32, 32]
    assert s["select"] == "causal-1"  # the default where the instrument is not differentiable: a quarter of 4
    assert s["instrument"]["name"] == f"segmenter {files['seg']}" and s["fraction_before"] > 0
    assert (tmp_path / "f" / "removal_curve.png").exists() and "segmenter" in stdout
    code, _, err = cli("forget", "--model-def", files["model"], "--segmenter", f"{files['segs']}:as_object",
                       "--concept", "green", "--layer", "G.blocks.1.act", "--opt-steps", 5, *FAST,
                       "--out", tmp_path / "o")
    assert code == 0, err
    s = summary(tmp_path / "o")
    assert s["select"] == "optimized-1" and s["layer"] == "G.blocks.1.act"  # probs given: differentiable


def test_forget_with_user_boxes(cli, files, tmp_path):
    from gan_viz.boxes import parser_boxes

    code, _, err = cli("samples", "--model-def", files["model"], "--n", 16, "--scale", 2, "--out", tmp_path / "s")
    assert code == 0, err
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    z = torch.tensor([e["z"] for e in man["samples"]])
    sys.path.insert(0, str(tmp_path))
    try:
        import seg as user_seg
        from gan_viz.model_def import load_model_def

        G = load_model_def(files["model"])
        boxes = parser_boxes(user_seg.colours(G.images(z)).numpy(), 2)
    finally:
        sys.path.remove(str(tmp_path))
    lines = ["file,label,x0,y0,x1,y1"] + [f"sample_{i:04d}.png,green,{2 * x0},{2 * y0},{2 * x1},{2 * y1}"
                                          for i, bs in boxes.items() for x0, y0, x1, y1 in bs]
    (tmp_path / "boxes.csv").write_text("\n".join(lines) + "\n")
    hand = ["--boxes", tmp_path / "boxes.csv", "--manifest", tmp_path / "s" / "manifest.json", "--concept", "green"]
    code, stdout, err = cli("forget", "--model-def", files["model"], *hand, *FAST, "--out", tmp_path / "paper")
    assert code == 0, err
    s = summary(tmp_path / "paper")  # the paper's run: boxes, probe, removal, figure; nothing measured
    assert s["measured"] is False and s["select"] == "top-1" and s["boxes_source"].startswith("annotations")
    assert "domain is unknown" in s["instrument"]["absent"] and "nothing measured" in stdout
    assert (tmp_path / "paper" / "forget_samples.png").exists() and not (tmp_path / "paper" / "removal_curve.png").exists()
    out = tmp_path / "never"
    code, _, err = cli("forget", "--model-def", files["model"], *hand, "--select", "causal-2", *FAST, "--out", out)
    refused(code, err, out, "--select causal-2", "top-K")
    code, _, err = cli("forget", "--model-def", files["model"], "--segmenter", files["seg"], *hand, "--select",
                       "top-2", *FAST, "--out", tmp_path / "both")
    assert code == 0, err
    s = summary(tmp_path / "both")  # hand boxes for the probe, the segmenter measures
    assert s["measured"] and s["boxes_source"].startswith("annotations") and s["n_filters_removed"] == 2


def test_library_call_through_the_registry(files, tmp_path):
    """A library user: Subject.from_modules, a Context with a segmenter, registry.run by name."""
    from gan_viz.analyses import registry
    from gan_viz.subject import Subject
    from user_models import NestedGenerator, seeded

    S = Subject.from_modules(seeded(NestedGenerator(nz=8, width=8), 0), nz=8)
    ctx = registry.Context(S, tmp_path / "lib", segmenter=files["seg"])
    s = registry.run("latent-walk", ctx, points=2, steps=2, no_video=True)
    assert s["frames"] == 3 and s["instrument"]["name"] == f"segmenter {files['seg']}"
    assert summary(tmp_path / "lib") == json.loads(json.dumps(s))
    for name in ("forget", "arithmetic", "latent-walk", "filter-audit"):
        a = registry.get(name)
        assert a.title and callable(a.caption) and "FORCED" not in a.caption({"instrument": {"name": None}})
    with pytest.raises(UserError, match="forget needs a concept instrument"):
        registry.run("forget", registry.Context(S, tmp_path / "never"))
    assert not any((tmp_path / "never").iterdir())  # the Context made the folder; the refusal wrote nothing
