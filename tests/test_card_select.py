"""Choosing a rooms checkpoint by its model card (gan_viz.training.card_select, `gan-viz export --run`):
real rooms pass the goals, a collapsed or a noise generator fails them, and the chosen checkpoint is
the one that also holds on fresh draws."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_viz.config import ModelConfig
from gan_viz.data import build_dataset
from gan_viz.errors import UserError
from gan_viz.parser import load_parser
from gan_viz.training import card_select
from gan_viz.training.card_select import Goals
from gan_viz.training.loop import load_batch
from gan_viz.training.model_card import rooms_quality

CFG = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
N = 300


class RoomsG(nn.Module):
    """A planted 'generator' drawing real rooms (train split, never the held-out test rooms):
    ``collapse`` draws the same room for every z; ``noise`` draws uniform noise."""

    def __init__(self, mode: str = "rooms"):
        super().__init__()
        self.mode = mode
        self.bank = load_batch(build_dataset("rooms", 32, 3, "train", n=2 * 2 * N), torch.arange(2 * 2 * N))
        self.used = 0

    def forward(self, z):
        n = len(z)
        if self.mode == "noise":
            return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(n)) * 2 - 1
        if self.mode == "collapse":
            return self.bank[:1].expand(n, -1, -1, -1).clone()
        idx = (torch.arange(n) + self.used) % len(self.bank)
        self.used += n
        return self.bank[idx]


@pytest.fixture(scope="module")
def parser():
    return load_parser()


def test_real_rooms_pass_and_a_collapsed_or_noise_g_fails(parser):
    goals = Goals()
    real = rooms_quality(RoomsG("rooms"), CFG, parser, n=N)
    assert goals.failures(real) == [], real["ratio"]
    assert 0.85 < real["diversity_ratio"] < 1.15
    collapsed = rooms_quality(RoomsG("collapse"), CFG, parser, n=N)
    assert any("collapse" in f for f in goals.failures(collapsed))
    assert collapsed["diversity_ratio"] < 0.1
    noise = rooms_quality(RoomsG("noise"), CFG, parser, n=N)
    assert goals.failures(noise)
    assert noise["frechet_parser"] > 10 * real["frechet_parser"]
    assert Goals(frechet_max=real["frechet_parser"] / 2).failures(real)  # the Frechet goal can fail too
    # the card carries KID and precision/recall beside real vs real at the same N: a G drawing real rooms
    # sits at the floor, a collapsed G loses recall and coverage, noise loses precision and raises KID
    assert abs(real["kid_parser"] - real["kid_parser_real_vs_real"]) < 0.02
    assert real["recall_parser"] > 0.6 and abs(real["precision_parser"] - real["precision_parser_real_vs_real"]) < 0.15
    assert collapsed["recall_parser"] < 0.2 and collapsed["coverage_parser"] < 0.3
    assert noise["precision_parser"] < 0.2 and noise["kid_parser"] > 10 * max(real["kid_parser"], 0.01)


def test_fresh_draws_use_other_rooms_and_z(parser):
    q = rooms_quality(RoomsG("rooms"), CFG, parser, n=N, seed=card_select.FRESH_SEED,
                      real_start=card_select.FRESH_REAL_START)
    assert q["real_test_rooms"] == [card_select.FRESH_REAL_START, card_select.FRESH_REAL_START + N]
    assert q["z_seed"] == card_select.FRESH_SEED
    # the real-vs-real floor at the same N on both sides: N other held-out rooms, not halves of the N
    assert q["real_control_rooms"] == [card_select.FRESH_REAL_START + N, card_select.FRESH_REAL_START + 2 * N]
    assert 0 < q["frechet_parser_real_vs_real"] < q["frechet_parser"] + 1


def _run_of(tmp_path, modes: dict, monkeypatch):
    """A run folder whose numbered checkpoints open as the planted generators ``modes[step]``."""
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for step in modes:
        (ck / f"step_{step:08d}.pt").write_bytes(b"")
    opened = {str(ck / f"step_{s:08d}.pt"): m for s, m in modes.items()}
    monkeypatch.setattr("gan_viz.checkpoint.load_checkpoint",
                        lambda p: SimpleNamespace(G=RoomsG(opened[str(p)]), config=CFG, dataset="rooms"))
    return tmp_path / "run"


def test_choose_takes_the_checkpoint_that_meets_the_card(tmp_path, monkeypatch, parser):
    run = _run_of(tmp_path, {500: "noise", 1000: "rooms", 1500: "collapse"}, monkeypatch)
    res = card_select.choose(run, parser, Goals(), n=N, progress=False)
    assert res["chosen"] == 1000
    assert [r["step"] for r in res["curve"]] == [500, 1000, 1500]
    assert res["curve"][0]["fails"] and res["curve"][2]["fails"] and not res["curve"][1]["fails"]
    assert res["fresh"]["n"] == 2 * N and not Goals().failures(res["fresh"])
    paths = card_select.plot_curve(res["curve"], Goals(), res["chosen"], tmp_path, "curves")
    assert {p.suffix for p in paths} == {".png", ".pdf"}


def test_choose_refuses_when_nothing_meets_the_card(tmp_path, monkeypatch, parser):
    run = _run_of(tmp_path, {500: "noise", 1000: "collapse"}, monkeypatch)
    with pytest.raises(UserError, match="no checkpoint .* meets the card.*closest: step"):
        card_select.choose(run, parser, Goals(), n=N, progress=False)
    with pytest.raises(UserError, match="no numbered checkpoints"):
        card_select.choose(tmp_path, parser, Goals(), n=N, progress=False)


def test_the_closest_checkpoint_fails_fewest_goals_then_has_the_lowest_frechet():
    rows = [{"step": 4000, "fails": ["Frechet"], "frechet_parser": 33.2},
            {"step": 4500, "fails": ["window", "Frechet"], "frechet_parser": 20.0},
            {"step": 5000, "fails": ["Frechet"], "frechet_parser": 30.1}]
    assert card_select.closest(rows)["step"] == 5000


def test_export_run_option_refuses_a_folder_without_checkpoints(cli, tmp_path):
    code, _, err = cli("export", "--run", tmp_path, "--out", tmp_path / "m.pt")
    assert code == 2 and "no numbered checkpoints" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()


def test_presence_is_the_same_share_of_the_image_at_every_size():
    from gan_viz.training.model_card import min_object_pixels, presence

    assert min_object_pixels(32, 32) == 4 and min_object_pixels(64, 64) == 16
    m32, m64 = torch.zeros(1, 32, 32, dtype=torch.long), torch.zeros(1, 64, 64, dtype=torch.long)
    m32[0, :2, :2] = 3  # 4 pixels of 1024: present
    m64[0, :2, :4] = 3  # 8 stray pixels of 4096: not an object
    assert presence(m32, 10)[0, 3] and not presence(m64, 10)[0, 3]
    m64[0, :4, :4] = 3  # 16 pixels of 4096: the same share as 4 of 1024
    assert presence(m64, 10)[0, 3]
