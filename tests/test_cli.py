"""CLI conventions: help with examples, version, layers, hooks left clean, one-line errors."""

import subprocess
import sys

import pytest
import torch

from gan_viz import __version__
from gan_viz.errors import UserError
from gan_viz.hooks import capture, count_hooks, edit_layer
from gan_viz.layers import resolve_layer
from gan_viz.models import build_generator


def test_help_and_version(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "generate" in out and "layers" in out
    code, out, _ = cli("generate", "--help")
    assert code == 0 and "examples:" in out and "--ckpt" in out and "--device" in out
    code, out, _ = cli("--version")
    assert code == 0 and __version__ in out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "gan_viz", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_bad_option_one_line(cli):
    code, _, err = cli("generate", "--n", "lots", "--out", "x")
    assert code == 2 and err.count("\n") == 1 and "invalid int value" in err


def test_layers_lists_shapes(cli):
    code, out, _ = cli("layers", "--image-size", "64")
    assert code == 0
    assert "G.conv1       (512, 4, 4)" in out and "D.lrelu4      (512, 4, 4)" in out
    assert "G.tanh        (3, 64, 64)" in out


def test_unknown_layer_lists_valid(tiny_cfg):
    G = build_generator(tiny_cfg)
    with pytest.raises(UserError, match=r"valid layers are: G\.conv1, G\.bn1"):
        resolve_layer(G, "G.conv9", prefix="G")
    assert resolve_layer(G, "G.conv2", prefix="G") is G.conv2


def test_hooks_removed_after_exception(tiny_cfg):
    G = build_generator(tiny_cfg)
    with pytest.raises(RuntimeError):
        with capture(G, ["conv2", "relu1"]):
            with edit_layer(G, "bn2", ablation=1.0):
                assert count_hooks(G) == 6  # per addressed layer: its hook, and G's pre-hook counting calls
                raise RuntimeError("boom")
    assert count_hooks(G) == 0


def test_edit_rule(tiny_cfg):
    G = build_generator(tiny_cfg).eval()
    z = torch.randn(3, tiny_cfg.nz)
    C = G.bn2.num_features
    a = torch.zeros(C, 1, 1)
    a[:2] = 1
    with capture(G, ["relu2"]) as acts:
        with edit_layer(G, "bn2", ablation=a, replacement=0.0):
            G(z)
    assert (acts["relu2"][:, :2] == 0).all() and (acts["relu2"][:, 2:] != 0).any()
    with capture(G, ["relu2"]) as plain:
        G(z)
    assert torch.equal(plain["relu2"][:, 2:], acts["relu2"][:, 2:])


def _small_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = plt.figure(figsize=(2, 2))
    f.add_axes((0, 0, 1, 1)).imshow([[0, 1], [1, 0]])
    return f


def _assert_saved(folder, name, others_pending: bool = False):
    """``name``.png and .pdf in ``folder`` are complete files; no temporary is left unless other figures'
    PDFs may still be drawing (``others_pending``)."""
    assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = (folder / f"{name}.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and pdf.rstrip().endswith(b"%%EOF")
    assert others_pending or not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_save_figure_pdf_by_a_child_and_its_failures(tmp_path, monkeypatch):
    # the PDF is drawn by a forked child on Linux; a child that fails or hangs leaves no file behind
    # and the PDF is drawn in this process instead: both files are always there and complete
    import os
    import time

    from gan_viz import io

    fig = _small_figure

    def complete(name):
        _assert_saved(tmp_path, name)

    io.save_figure(fig(), tmp_path, "plain")
    complete("plain")
    parent, real = os.getpid(), io._save_one

    def child_fails(f, target, dpi):
        if os.getpid() != parent:
            (tmp_path.parent / f"{tmp_path.name}_child_ran").touch()  # outside tmp_path: complete() checks it
            raise OSError("disk full in the child")
        real(f, target, dpi)

    monkeypatch.setattr(io, "_save_one", child_fails)
    io.save_figure(fig(), tmp_path, "failed")
    complete("failed")
    assert (tmp_path.parent / f"{tmp_path.name}_child_ran").exists() == io.FORK_FIGURES  # a child drew on Linux

    def child_hangs(f, target, dpi):
        if os.getpid() != parent:
            with io.atomic_path(target):
                time.sleep(60)
        real(f, target, dpi)

    monkeypatch.setattr(io, "_save_one", child_hangs)
    monkeypatch.setattr(io, "CHILD_GRACE", 0.5)
    t0 = time.monotonic()
    io.save_figure(fig(), tmp_path, "hung")
    assert time.monotonic() - t0 < 20
    complete("hung")


def test_deferred_figures_return_before_the_pdf_and_complete_every_pdf_at_the_end(tmp_path, monkeypatch):
    # inside deferred_figures save_figure does not wait for the PDF's child: here the child draws only once the
    # parent has gone on past save_figure (a flag file); blocks nest, each finishes its own; a failed child's
    # PDF is drawn by the parent at the end; at most MAX_PENDING figures wait
    import os
    import time

    import matplotlib.pyplot as plt

    from gan_viz import io

    fig = _small_figure

    def complete(name):
        _assert_saved(tmp_path, name, others_pending=True)  # the end checks that no temporary is left

    parent, real, go = os.getpid(), io._save_one, tmp_path.parent / f"{tmp_path.name}_go"
    open_before = set(plt.get_fignums())  # figures other tests left open

    def child_waits_for_the_parent(f, target, dpi):
        if os.getpid() != parent:
            deadline = time.monotonic() + 10
            while not go.exists():
                if time.monotonic() > deadline:
                    raise OSError("the parent waited for this child inside save_figure")
                time.sleep(0.01)
            (tmp_path.parent / f"{tmp_path.name}_{target.stem}_by_child").touch()
        real(f, target, dpi)

    monkeypatch.setattr(io, "_save_one", child_waits_for_the_parent)
    go.touch()  # outside a block the parent waits: let the child draw at once
    io.save_figure(fig(), tmp_path, "plain")
    complete("plain")
    go.unlink()
    with io.deferred_figures():
        with io.deferred_figures():
            io.save_figure(fig(), tmp_path, "inner")
            assert (tmp_path / "inner.png").exists() and not (tmp_path / "inner.pdf").exists()
            go.touch()  # the parent is past save_figure: only now may the child draw
        complete("inner")  # the inner block finished its own figure
        go.unlink()
        monkeypatch.setattr(io, "MAX_PENDING", 1)
        io.save_figure(fig(), tmp_path, "first")  # its child waits: the parent went on
        go.touch()
        io.save_figure(fig(), tmp_path, "second")  # two pending > 1: the oldest is finished here
        complete("first")
        io.save_figure(fig(), tmp_path, "third")
    for name in ("inner", "first", "second", "third"):
        complete(name)
        assert (tmp_path.parent / f"{tmp_path.name}_{name}_by_child").exists() == io.FORK_FIGURES
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    assert not io._blocks() and set(plt.get_fignums()) <= open_before  # every figure of ours closed

    def child_fails(f, target, dpi):
        if os.getpid() != parent:
            raise OSError("disk full in the child")
        real(f, target, dpi)

    monkeypatch.setattr(io, "_save_one", child_fails)
    with io.deferred_figures():
        io.save_figure(fig(), tmp_path, "failed")
    complete("failed")


def test_save_figure_lowers_the_dpi_of_a_huge_figure_only(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import cv2
    import matplotlib.pyplot as plt

    from gan_viz import io

    def saved_width(w_in, h_in, name):
        fig = plt.figure(figsize=(w_in, h_in))
        fig.add_axes((0, 0, 1, 1)).imshow([[0, 1], [1, 0]])
        io.save_figure(fig, tmp_path, name, dpi=100)
        assert (tmp_path / f"{name}.pdf").exists()
        return cv2.imread(str(tmp_path / f"{name}.png")).shape[1]

    free = saved_width(2, 8, "free")  # 2 x 8 inches at 100 dpi: 160,000 pixels
    monkeypatch.setattr(io, "MAX_FIGURE_PIXELS", 40_000)
    assert saved_width(2, 2, "small") == free  # 40,000 pixels: within the budget, dpi as asked
    capped = saved_width(2, 8, "capped")  # dpi 50 keeps it to 40,000 pixels
    assert abs(capped / free - 0.5) < 0.05


def test_atomic_writes_fsync_before_the_rename(tmp_path, monkeypatch):
    """The temporary file's data reaches the disk before its name replaces the target."""
    import os

    from gan_viz import io

    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.fstat(fd).st_ino)), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", os.stat(a).st_ino)),
                                                     real_replace(a, b))[1])
    for write in (lambda p: io.write_json(p, {"a": 1}), lambda p: io.write_text(p, "log\n"),
                  lambda p: io.write_bytes(p, b"\0")):
        calls.clear()
        write(tmp_path / "out.txt")
        replaced = next(i for i, c in enumerate(calls) if c[0] == "replace")
        assert ("fsync", calls[replaced][1]) in calls[:replaced]  # the same file (inode), synced first
    assert (tmp_path / "out.txt").read_bytes() == b"\0" and list(tmp_path.iterdir()) == [tmp_path / "out.txt"]


def test_run_json_is_written_once_the_analysis_has_finished(cli, tmp_path, monkeypatch):
    """run.json is written like the other outputs: during the run the folder keeps its earlier record,
    a refused run leaves it as it was, a finished one replaces it."""
    import json

    from gan_viz.analyses import registry
    from gan_viz.cli import runner

    out = tmp_path / "up"
    assert cli("upsampling", "--out", out)[0] == 0
    first = b'{"earlier": "run"}\n'  # the record of the outputs that are there
    (out / "run.json").write_bytes(first)
    seen = []
    real = registry.run

    def refuse(name, ctx, **options):
        seen.append((ctx.out / "run.json").read_bytes())
        raise UserError("refused for the test")

    monkeypatch.setattr(runner.registry, "run", refuse)
    code, _, err = cli("upsampling", "--out", out)
    assert code == 2 and "refused for the test" in err
    assert seen == [first] and (out / "run.json").read_bytes() == first  # never this run's record
    fresh = tmp_path / "fresh"

    def check(name, ctx, **options):
        seen.append((ctx.out / "run.json").exists())
        return real(name, ctx, **options)

    monkeypatch.setattr(runner.registry, "run", check)
    assert cli("upsampling", "--out", fresh)[0] == 0
    assert seen[-1] is False and json.loads((fresh / "run.json").read_text())["command"] == "upsampling"
    assert cli("upsampling", "--out", out)[0] == 0 and json.loads((out / "run.json").read_text())["command"] == \
        "upsampling"  # finished: this run's record replaces the earlier one


def test_run_json_of_the_other_commands_is_written_once_they_have_finished(cli, tiny_cfg, tmp_path, monkeypatch):
    """generate, samples, data preview, toy, filters record run.json after their outputs: a run that fails
    half-way leaves the folder's earlier record (the old code wrote this run's record first)."""
    import json

    from gan_viz.checkpoint import save_checkpoint
    from gan_viz.cli import generate
    from gan_viz.models import build_discriminator, build_generator

    ck = save_checkpoint(tmp_path / "t.pt", tiny_cfg, build_generator(tiny_cfg), build_discriminator(tiny_cfg))
    out = tmp_path / "g"
    assert cli("generate", "--ckpt", ck, "--n", 2, "--out", out)[0] == 0
    assert json.loads((out / "run.json").read_text())["command"] == "generate"
    first = b'{"earlier": "run"}\n'
    (out / "run.json").write_bytes(first)

    def broken(*a, **k):
        raise UserError("disk full, for the test")

    monkeypatch.setattr(generate, "save_png", broken)
    code, _, err = cli("generate", "--ckpt", ck, "--n", 3, "--out", out)
    assert code == 2 and "disk full" in err
    assert (out / "run.json").read_bytes() == first
