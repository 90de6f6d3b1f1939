"""Calibration of ``gan-viz directions`` (issue 25) at the command's default settings and at the report's.

Planted positive: a G whose first layer is a Linear map z -> h with a dominant planted row (6 u) and
small nuisance rows; the window area of the image is a linear function of s = z.u (a ramp of columns
in the top half turns red as s grows) and the bed area of h's first nuisance row. Every method must
find a direction with cosine >= 0.9 to u, far above the random band; SeFa and GANSpace recover the
planted dominant direction. Null: the same first layer, but window and bed depend on a hash of h (a
pseudo-random function of z): no direction may rise above the random controls.

The band (``judge.random_band``) is Bonferroni-corrected over the directions x classes judged (Student
t on the random slopes, 5% family-wise): at 3 standard deviations, uncorrected, the null failed on an
AVX-512 EPYC (GANSpace component 2 at 1.03x the band; its hash draws other numbers there) and on 3 of
its first 4 seeds (largest 1.51x). Corrected, on that CPU: null seeds 0-11 at the command's defaults
0 of 12 above random (largest 0.99x), at the report's settings 1 of 12 (seed 10, 1.33x), as a 5%
family-wise rate allows; planted seeds 0-3, every method's window direction 1.7-3.1x the band at the
defaults and 1.8-3.2x at the report's settings (1.3-2.8x with 6 random directions, whose band is 5.6
sd rather than 4.4).

At the report's settings (its "directions" section: 10 random directions, 6 when first measured, 100
judging samples, walks of 3 points) the same rules hold with 1,000 finding samples: measured cos 0.92 / 0.97 / 0.94 / 1.00,
slope over band 4.1-4.4, null at most 0.85 (then at 3 sd; see below for the corrected band). With 400 finding samples (the first report setting) the exemplar cosine fell
to 0.82 and GANSpace's to 0.87, and this test failed: the report finds with 1,000.

The instruments are user segmenters defined below and passed as ``THIS_FILE:FUNC``; the judge is a
second one with another threshold (``--judge``), as the held-out judge of a user's instrument.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

THIS = Path(__file__).resolve()
NZ = 100  # as the bundled model: random unit directions have |cos| ~ 0.1 with u


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def no_figures():
    """The figures of merit are in the summaries: the runner's figures are drawn but not written."""
    import matplotlib.pyplot as plt

    from gan_viz import io

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(io, "save_figure", lambda fig, *a, **k: plt.close(fig))
        yield


def _hash(x: torch.Tensor) -> torch.Tensor:
    """Pseudo-random numbers in [0, 1) from float64 inputs (the shader hash frac(sin(x) * 43758.5453))."""
    return torch.frac(torch.sin(x) * 43758.5453).abs()


def planted_u() -> torch.Tensor:
    u = torch.randn(NZ, generator=torch.Generator().manual_seed(301), dtype=torch.float64)
    return (u / u.norm()).float()


class Planted(nn.Module):
    """(N, nz) -> (N, 3, 16, 16). ``first``: Linear nz -> 8 without bias, row 0 = 6 u, rows 1-7 = 0.2 x
    N(0, 1). Window (red, top half): columns j with ramp_j > -a; bed (green, bottom half): ramp_j > -b,
    a = h0 / 6 = z.u and b = h1 / |row 1| (``linear``), or both from a hash of h (uniform in [-4, 4])."""

    def __init__(self, linear: bool = True):
        super().__init__()
        self.linear = linear
        self.first = nn.Linear(NZ, 8, bias=False)
        g = torch.Generator().manual_seed(302)
        with torch.no_grad():
            self.first.weight.copy_(torch.cat([6 * planted_u()[None], 0.2 * torch.randn(7, NZ, generator=g)]))
        self.register_buffer("ramp", torch.linspace(-4.0, 4.0, 16))

    def forward(self, z):
        h = self.first(z.flatten(1)).double()  # (N, 8)
        a, b = h[:, 0] / 6, h[:, 1] / float(self.first.weight[1].norm())
        if not self.linear:
            a = 8 * _hash(h[:, 0] * 12.9898 + h[:, 2] * 78.233) - 4
            b = 8 * _hash(h[:, 1] * 39.3468 + h[:, 3] * 11.135) - 4
        red = torch.tanh(3 * (a[:, None] + self.ramp[None]))[:, None, :].expand(-1, 8, -1)  # (N, 8, 16)
        green = torch.tanh(3 * (b[:, None] + self.ramp[None]))[:, None, :].expand(-1, 8, -1)
        low = -torch.ones_like(red)
        img = torch.stack([torch.cat([red, low], 1), torch.cat([low, green], 1),
                           0.2 * torch.tanh(h[:, 4:5, None]).expand(-1, 16, 16)], 1)
        return img.float()


def _segmenter(threshold: float):
    def segment(x):
        seg = torch.zeros(len(x), *x.shape[2:], dtype=torch.long)
        seg[x[:, 1] > threshold] = 2
        seg[x[:, 0] > threshold] = 1
        return seg
    return {"segment": segment, "classes": ["wall", "window", "bed"]}


def window_bed():
    """The selecting instrument: window where red > 0, bed where green > 0."""
    return _segmenter(0.0)


def window_bed_b():
    """The held-out judge: the same classes at another threshold."""
    return _segmenter(0.2)


def report_settings() -> dict:
    """The report's fast settings of its "directions" section (the calibration must hold there too)."""
    from gan_viz.reports.sections import SECTIONS

    return dict(next(s for s in SECTIONS if s.name == "directions").options)


@pytest.fixture(scope="module", params=["defaults", "report"])
def runs(request, tmp_path_factory) -> dict:
    from gan_viz.analyses.registry import Context, run
    from gan_viz.subject import Subject

    settings = {} if request.param == "defaults" else report_settings()
    out = tmp_path_factory.mktemp("directions")
    res = {"settings": request.param}
    for name, linear in (("planted", True), ("null", False)):
        S = Subject.from_modules(Planted(linear), None, NZ)
        ctx = Context(S, out / name, 0, "cpu", segmenter=f"{THIS}:window_bed")
        res[name] = run("directions", ctx, judge=f"{THIS}:window_bed_b", **settings)
        res[name]["_vectors"] = dict(np.load(out / name / "arrays.npz"))
    return res


def _measure(name: str, runs: dict) -> str:
    return name if runs["settings"] == "defaults" else f"{name}@report"


def _cos(v) -> float:
    return float(abs(np.dot(v, planted_u().numpy())) / np.linalg.norm(v))


def test_every_method_finds_the_planted_window_direction_far_above_random(runs, calibration):
    """Every method's window direction (GANSpace / SeFa: the component the judge names window) has
    cos >= 0.9 to u and a judged slope >= 1.25 x the random band (the largest a perfect direction can
    reach is about sqrt(nz) / 4.6 = 2.2 at the defaults' band of 4.6 sd: a random direction moves a
    linear attribute by its cosine with u).

    Measured: cos exemplar 0.92, interfacegan 0.97, ganspace 0.94, sefa 1.00; slope over band 2.4-2.6
    (defaults), 2.6-2.7 (report), over seeds 0-3 at least 1.7 and 1.8;
    SVM validation accuracy 1.00.
    """
    s = runs["planted"]
    row = s["concepts"]["window"]
    assert set(row["directions"]) == {"exemplar", "interfacegan", "ganspace", "sefa"}
    cos = {m: _cos(s["_vectors"][k]) for m, k in row["directions"].items()}
    ratio = row["slope_over_band"]
    calibration(_measure("directions_planted_window", runs), "every method: cos to planted >= 0.9 and slope >= 1.25 x random band",
                planted={"cosine": cos, "slope_over_band": ratio,
                         "val_accuracy": s["directions"]["window/interfacegan"]["val_accuracy"]})
    assert min(cos.values()) >= 0.9, cos
    assert min(ratio.values()) >= 1.25, ratio
    assert s["directions"]["window/interfacegan"]["val_accuracy"] >= 0.9
    assert s["judge"]["name"].endswith("window_bed_b") and not s["judge"]["is_selecting_instrument"]


def test_sefa_and_ganspace_recover_the_planted_first_layer_direction(runs, calibration):
    """The top SeFa eigenvector and the first GANSpace component of the planted first layer are u.

    Measured: |cos| sefa/0 1.00, ganspace/0 0.94; both named window by the judge.
    """
    s = runs["planted"]
    cos = {k: _cos(s["_vectors"][k]) for k in ("sefa/0", "ganspace/0")}
    calibration(_measure("directions_first_layer_recovery", runs), "sefa/0 and ganspace/0: |cos| to the planted row >= 0.9",
                planted=cos)
    assert min(cos.values()) >= 0.9, cos
    assert s["directions"]["sefa/0"]["concept"] == "window" and s["directions"]["ganspace/0"]["concept"] == "window"
    assert s["sefa_layer"] == "first" and s["ganspace_layer"] == "first"


def test_no_direction_above_random_on_a_hash_generator(runs, calibration):
    """On the hash G no supervised direction and no named component beats the random band, and the
    SVM validates at chance.

    Measured (corrected band, AVX-512 EPYC): largest slope over band 0.68 (defaults), 0.44 (report);
    validation accuracy 0.49 (window), 0.51 (bed).
    """
    s = runs["null"]
    ratios = {k: d["slope_over_band"] for k, d in s["directions"].items()}
    accs = {k: d["val_accuracy"] for k, d in s["directions"].items() if d["method"] == "interfacegan"}
    calibration(_measure("directions_null", runs), "hash G: every slope <= random band; SVM validation accuracy <= 0.65",
                null={"max_slope_over_band": max(ratios.values()), "val_accuracy": accs},
                planted={"min_slope_over_band": min(runs["planted"]["concepts"]["window"]["slope_over_band"].values())})
    assert not any(d["above_random"] for d in s["directions"].values()), ratios
    assert max(accs.values()) <= 0.65, accs
