"""gan-viz report: end to end on a tiny rooms checkpoint, cache, absent sections, a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.models import build_discriminator, build_generator, init_weights

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
ONLY = "fig4,fig5,upsampling,filter_audit"  # one of each kind: G walk, D, no checkpoint, audit


@pytest.fixture(scope="module")
def tiny_rooms(tmp_path_factory) -> Path:
    """A 32x32 rooms DCGAN with tiny widths, in RUN/checkpoints/ beside a RUN/metrics.csv."""
    run = tmp_path_factory.mktemp("run")
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g = torch.Generator().manual_seed(0)
    init_weights(G, g), init_weights(D, g)
    (run / "metrics.csv").write_text("step,epoch,loss_D,loss_G,D_x,D_G_z,images_per_s\n"
                                     "10,0,1.3,0.8,0.6,0.4,100\n20,0,1.1,1.0,0.62,0.38,100\n")
    return save_checkpoint(run / "checkpoints" / "last.pt", cfg, G, D, step=20,
                           train_config={"dataset": "rooms"})


@pytest.fixture(scope="module")
def report(tiny_rooms, tmp_path_factory) -> tuple[Path, Path]:
    from gan_viz.cli import main

    out = tmp_path_factory.mktemp("report")
    code = main(["report", "--ckpt", str(tiny_rooms), "--out", str(out), "--only", ONLY, "--device", "cpu"])
    assert code == 0
    return tiny_rooms, out


def _img_srcs(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_report_end_to_end(report):
    _, out = report
    page = (out / "report.html").read_text()
    srcs = _img_srcs(page)
    assert len(srcs) >= 6
    assert all((out / s).is_file() and (out / s).stat().st_size > 0 for s in srcs)
    assert all(not s.startswith(("/", "http")) for s in srcs)  # relative: readable offline, folder movable
    for key in ("fig4_latent_walk", "fig5_guided_backprop", "upsampling", "filter_audit", "model_card",
                "filter_gallery"):
        assert f'id="{key}"' in page
    assert page.index('id="fig4_latent_walk"') < page.index('id="fig5_guided_backprop"')
    assert "filter_gallery/gallery.png" in srcs and "model_card/training_curves.png" in srcs
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") > len(srcs)
    rec = json.loads((out / "report.json").read_text())
    assert set(rec["sections"]) == {"fig4_latent_walk", "fig5_guided_backprop", "upsampling", "filter_audit"}
    assert all(s["status"] == "ran" for s in rec["sections"].values())
    summary = json.loads((out / "fig4_latent_walk" / "summary.json").read_text())
    assert f"median {summary['step_rms']['median']:.4f} RMS" in page  # captions state measured numbers


def test_report_cache_and_inputs(report, tmp_path):
    from gan_viz.reports.report import SECTIONS, run_section

    ckpt, out = report
    up = next(s for s in SECTIONS if s.key == "upsampling")
    fig4 = next(s for s in SECTIONS if s.key == "fig4_latent_walk")
    assert run_section(up, out, ckpt, "cpu", 0).status == "cached"
    assert run_section(fig4, out, ckpt, "cpu", 0).status == "cached"
    assert run_section(fig4, out, ckpt, "cpu", 1).status == "ran"  # another seed: other inputs
    moved = tmp_path / "last.pt"
    shutil.copy(ckpt, moved)
    assert run_section(fig4, out, moved, "cpu", 1).status == "ran"  # another checkpoint file


def test_absent_sections_say_why(tmp_path, cli):
    """A checkpoint that records no dataset: sections needing labels say why, the report still writes."""
    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    ck = save_checkpoint(tmp_path / "nodata.pt", cfg, build_generator(cfg), build_discriminator(cfg))
    code, out, err = cli("report", "--ckpt", ck, "--out", tmp_path / "r", "--only", "classification,modes")
    assert code == 0, err
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.count('class="absent"') == 2 and "does not record its dataset" in page
    assert "classification" in out and "absent" in out


def _pt_examples_pair(folder: Path, nz: int = 8, ngf: int = 4, ndf: int = 4, nc: int = 3) -> Path:
    """netG/netD_epoch_1.pth as the PyTorch examples DCGAN writes them (bare state dicts), at 32x32."""
    from torch import nn

    up = lambda i, o, s, p: [nn.ConvTranspose2d(i, o, 4, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]  # noqa: E731
    down = lambda i, o: [nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, True)]  # noqa: E731
    G = nn.Sequential(*up(nz, ngf * 4, 1, 0), *up(ngf * 4, ngf * 2, 2, 1), *up(ngf * 2, ngf, 2, 1),
                      nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True), *down(ndf, ndf * 2),
                      *down(ndf * 2, ndf * 4), nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    torch.save({f"main.{k}": v for k, v in G.state_dict().items()}, folder / "netG_epoch_1.pth")
    torch.save({f"main.{k}": v for k, v in D.state_dict().items()}, folder / "netD_epoch_1.pth")
    return folder / "netG_epoch_1.pth"


def test_report_on_pytorch_examples_pair(tmp_path, cli):
    """No dataset, no masks: label sections say why they are absent; the rest and the gallery still work."""
    ckpt = _pt_examples_pair(tmp_path)
    code, out, err = cli("report", "--ckpt", ckpt, "--out", tmp_path / "r", "--only", "fig4,fig5,memorisation,filter_audit")
    assert code == 0, err
    rec = json.loads((tmp_path / "r" / "report.json").read_text())
    status = {k: v["status"] for k, v in rec["sections"].items()}
    assert status == {"fig4_latent_walk": "ran", "fig5_guided_backprop": "ran", "memorisation": "absent",
                      "filter_audit": "ran"}
    page = (tmp_path / "r" / "report.html").read_text()
    assert "Absent: " in page and "does not record its dataset" in page
    assert "filter_gallery/gallery.png" in _img_srcs(page)
    assert all((tmp_path / "r" / s).is_file() for s in _img_srcs(page))


def test_only_rejects_unknown_sections(cli, tmp_path):
    code, _, err = cli("report", "--only", "fig9", "--out", tmp_path / "r")
    assert code == 2 and "not a section" in err and not (tmp_path / "r").exists()


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (/usr/bin/chromium absent; "
                                              ".ci/run installs Debian's chromium where apt-get works)")
def test_report_in_headless_chromium(report, tmp_path):
    _, out = report
    probe = out / "probe.html"  # the report inside an iframe-free copy that writes its image sizes into the DOM
    page = (out / "report.html").read_text()
    script = ("<script>window.addEventListener('load',()=>{const r=[...document.images].map(i=>i.naturalWidth);"
              "document.body.setAttribute('data-widths',r.join(','));});</script>")
    probe.write_text(page.replace("</body>", script + "</body>"))
    res = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(), tmp=tmp_path)
    m = re.search(r'data-widths="([^"]*)"', res.stdout)
    assert m is not None, res.stderr[-2000:]
    widths = [int(w) for w in m.group(1).split(",") if w]
    assert len(widths) == len(_img_srcs(page)) and all(w > 0 for w in widths), widths
    shot = out / "report_screenshot.png"
    _chromium("--window-size=1200,2400", f"--screenshot={shot}", (out / "report.html").as_uri(), tmp=tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000
