"""Calibration of the rooms parser's applicability check (gan_viz.applicability): a generator that
draws real rooms (planted positive) and the bundled model pass; noise, blurred noise and an untrained
DCGAN (nulls) fail; the default path refuses such a model and a forced run marks it out of domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_viz import applicability as A
from gan_viz.checkpoint import load_subject
from gan_viz.config import ModelConfig
from gan_viz.data import build_dataset
from gan_viz.errors import UserError
from gan_viz.instruments import (absent_reason, caption_note, figure_tag, record_line, require_instrument,
                                 resolve_instrument)
from gan_viz.models import build_generator
from gan_viz.subject import Subject
from gan_viz.training.loop import load_batch


class ImagesG(nn.Module):
    """A 'generator' drawing fixed images in turn (whatever z is)."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.register_buffer("bank", images)

    def forward(self, z):
        return self.bank[torch.arange(len(z)) % len(self.bank)]


def _subject(G, size=32):
    return Subject.from_config(ModelConfig(image_size=size, nc=3, nz=8, ngf=8, ndf=8), G, None, domain="rooms")


def _rooms(size=32, n=A.N_CHECK):
    return load_batch(build_dataset("rooms", size, 3, "train", n=n), torch.arange(n))  # train split: not the bank


def test_real_rooms_and_the_bundled_model_pass_noise_and_untrained_g_fail(calibration):
    real = resolve_instrument(_subject(ImagesG(_rooms())))
    assert real is not None and not real.out_of_domain
    share_real = real.applicability["room_like_share"]
    assert share_real >= 0.9
    bundled = load_subject(None)
    share_bundled = resolve_instrument(bundled).applicability["room_like_share"]
    assert share_bundled >= A.MIN_ROOM_LIKE
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(A.N_CHECK, 3, 32, 32, generator=g) * 2 - 1
    blurred = torch.nn.functional.avg_pool2d(noise, 5, 1, 2) * 3
    cfg = ModelConfig(image_size=32, nc=3, nz=100, ngf=32, ndf=32)
    nulls = {"noise": _subject(ImagesG(noise)), "blurred noise": _subject(ImagesG(blurred.clamp(-1, 1))),
             "untrained DCGAN": Subject.from_config(cfg, build_generator(cfg), None, domain="rooms")}
    shares = {}
    for name, s in nulls.items():
        assert resolve_instrument(s) is None, name
        reason = absent_reason(s)
        assert "does not fit this model's images" in reason and "--segmenter rooms" in reason
        forced = resolve_instrument(s, "rooms")
        assert forced.out_of_domain and forced.forced
        shares[name] = forced.applicability["room_like_share"]
        assert shares[name] <= 0.1, (name, shares[name])
    calibration("rooms_parser_applicability", f"room_like_share >= {A.MIN_ROOM_LIKE} applies",
                planted={"real rooms": share_real, "bundled model": share_bundled}, null=shares)


def test_out_of_domain_is_said_in_every_record_and_the_default_path_refuses():
    s = _subject(ImagesG(torch.zeros(4, 3, 32, 32).uniform_(-1, 1)))
    with pytest.raises(UserError, match="needs a concept instrument.*does not fit this model's images"):
        require_instrument(s, None, "forget")
    rec = resolve_instrument(s, "rooms").describe()
    assert rec["out_of_domain"] and rec["applicability"]["in_domain"] is False
    assert "OUTSIDE ITS DOMAIN" in caption_note(rec) and "OUTSIDE ITS DOMAIN" in record_line(rec)
    assert "out of its domain" in figure_tag(rec)
    ok = resolve_instrument(_subject(ImagesG(_rooms(n=50)))).describe()
    assert not ok["out_of_domain"] and "OUTSIDE" not in caption_note(ok) and figure_tag(ok) == "[rooms-parser]"


def test_the_check_is_computed_once_per_subject(monkeypatch):
    s = _subject(ImagesG(_rooms(n=50)))
    calls = []
    real = A.rooms_applicability
    monkeypatch.setattr(A, "rooms_applicability", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        resolve_instrument(s)
    assert len(calls) == 1


def test_figures_that_show_the_instruments_numbers_say_it_was_forced_out_of_domain():
    from gan_viz.analyses.latent_walk import compute_latent_walk, plot_walk_measures

    s = _subject(ImagesG(torch.zeros(8, 3, 32, 32).uniform_(-1, 1)))
    inst = resolve_instrument(s, "rooms")
    tag = figure_tag(inst.describe())
    r = compute_latent_walk(s, s.sample_z(3, torch.Generator().manual_seed(0)), 2, "linear", instrument=inst)
    fig = plot_walk_measures(r, tag)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("FORCED" in t and "out of its domain" in t for t in titles), titles
    plain = plot_walk_measures(r)
    assert not any("FORCED" in ax.get_title() for ax in plain.axes)


def test_the_real_room_reference_is_kept_on_disk_and_read_back(tmp_path, monkeypatch):
    from gan_viz.parser import load_parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser = load_parser()
    A._reference.cache_clear()
    mu, sd, nb, tau = A._reference(32, parser)
    files = list((tmp_path / "gan-viz" / "applicability").glob("rooms_32_*.npz"))
    assert len(files) == 1
    A._reference.cache_clear()
    mu2, sd2, nb2, tau2 = A._reference(32, parser)  # from the file
    assert torch.equal(mu, mu2) and torch.equal(nb, nb2) and tau == tau2
    files[0].write_bytes(b"garbage")  # a corrupt file is computed again, never trusted
    A._reference.cache_clear()
    assert A._reference(32, parser)[3] == pytest.approx(tau, rel=1e-6)
    A._reference.cache_clear()
