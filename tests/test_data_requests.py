"""Data that was asked for and cannot be opened is an error in every command that reads data (one
line, exit 2, no output folder); generated images stand in only when no data was named, and then the
figure's title and the caption say so (issue 23)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # user_models

MODEL = '''import sys
sys.path.insert(0, {tests!r})
from user_models import PTDiscriminator, PTGenerator, seeded


def build():
    return {{"G": seeded(PTGenerator(8, 4, 3), 1), "D": seeded(PTDiscriminator(4, 3), 2), "nz": 8}}
'''

# every command that reads real images, with options that keep it tiny
READERS = {
    "guided-backprop": ["--images", "8", "--top", "2"],
    "filter-audit": ["--images", "8", "--nets", "D"],
    "classify": ["--n-train", "8", "--n-test", "4"],
    "modes": ["--n", "8"],
    "neighbors": ["--n", "4"],
    "checkerboard": ["--n", "8"],
    "report": ["--only", "fig5,checkerboard"],
}


@pytest.fixture(scope="module")
def model_def(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "mine.py"
    path.write_text(MODEL.format(tests=str(Path(__file__).resolve().parent)))
    return f"{path}:build"


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("data", [("folder", "/no/such/dir"), ("folder", None), ("mnist", "/no/such/dir")])
def test_named_data_that_cannot_be_opened_is_one_line_exit_2(cli, model_def, tmp_path, command, data):
    name, root = data
    args = [command, "--model-def", model_def, "--out", tmp_path / "o", "--device", "cpu", "--dataset", name]
    args += ["--data-root", root] if root else []
    code, out, err = cli(*args, *READERS[command])
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--data-root" in err or name in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [["data", "preview", "--dataset", "folder", "--data-root", "/no/such/dir"],
                                  ["train", "--dataset", "folder", "--data-root", "/no/such/dir", "--max-steps", "1"]])
def test_data_and_train_refuse_a_bad_root(cli, tmp_path, argv):
    code, out, err = cli(*argv, "--out", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--data-root" in err, err


def test_a_root_alone_is_a_request_too(cli, model_def, tmp_path):
    """--data-root without --dataset, on a model that records no dataset: refused, not replaced."""
    code, _, err = cli("guided-backprop", "--model-def", model_def, "--data-root", tmp_path, "--images", "8",
                       "--top", "2", "--out", tmp_path / "o", "--device", "cpu")
    assert code == 2 and "--dataset" in err, err


def test_fallback_when_no_data_was_named_is_said_in_title_and_caption(cli, model_def, tmp_path):
    """No data named and none recorded: generated images, and the summary, caption and figure title say so."""
    from gan_viz.analyses import filter_audit, guided_backprop
    from gan_viz.analyses.filter_audit import plot_top_strips
    from gan_viz.analyses.filter_audit.run import Options, prepare
    from gan_viz.model_def import load_model_def
    from gan_viz.sources import image_source

    code, _, err = cli("guided-backprop", "--model-def", model_def, "--images", "8", "--top", "2",
                       "--out", tmp_path / "gb", "--device", "cpu")
    assert code == 0, err
    s = json.loads((tmp_path / "gb" / "summary.json").read_text())
    assert "does not record its dataset" in s["fallback"] and "not real ones" in s["images"]
    assert guided_backprop.caption(s).startswith("On generated images, not real ones")

    from gan_viz.layers import default_layer

    S = load_model_def(model_def)
    src, _ = image_source(S, "auto", 8)
    assert src.kind == "generated" and "does not record its dataset" in src.fallback
    r = guided_backprop.compute_guided_backprop(S.D, S.random_copy("D", 0), default_layer(S.D, "D", S.image_shape),
                                                src, [0, 1], 2)
    title = guided_backprop.plot_guided_backprop(r)._suptitle.get_text()
    assert title.startswith("On GENERATED images, not real ones") and "does not record its dataset" in title

    code, _, err = cli("filter-audit", "--model-def", model_def, "--images", "8", "--nets", "D",
                       "--out", tmp_path / "fa", "--device", "cpu")
    assert code == 0, err
    s = json.loads((tmp_path / "fa" / "summary.json").read_text())
    assert "does not record its dataset" in s["fallback"] and filter_audit.caption(s).startswith("D on generated")
    from gan_viz.analyses.registry import Context

    plan = prepare(Context(S, tmp_path / "fa2"), Options(nets="D", images=8))
    a = filter_audit.compute_filter_audit(S, plan.D, None, plan.source, None, None, None, (), 2)
    texts = [t.get_text() for t in plot_top_strips(a, a.audits[-1].layer).texts]
    assert any(t.startswith("D on GENERATED images, not real ones") for t in texts), texts


def test_report_on_a_model_without_data_says_its_images_are_generated(model_def, tmp_path):
    """No data named, none recorded: Fig. 5, the audit and the gallery say generated, in their captions."""
    from gan_viz.checkpoint import load_subject
    from gan_viz.reports.report import build_report

    out = tmp_path / "r"
    build_report(load_subject(model_def=model_def), out, "fig5,filter_audit",
                 settings={"fig5_guided_backprop": {"images": 8, "top": 2}, "filter_audit": {"nets": "D", "images": 8}})
    page = (out / "report.html").read_text()
    assert page.count("On generated images, not real ones") >= 1, page[:2000]
    assert page.count("D on generated images, not real ones") >= 2  # the audit and the gallery
