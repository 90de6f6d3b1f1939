"""Nearest neighbours and memorisation: brute-force check, planted copies, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_viz.analyses import neighbors as N
from gan_viz.checkpoint import save_checkpoint
from gan_viz.config import ModelConfig
from gan_viz.errors import UserError
from gan_viz.models import build_discriminator, build_generator
from user_models import png_folder


def test_nearest_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 5, generator=g).double(), torch.randn(30, 5, generator=g).double()
    d, i = N.nearest(a, b, k=3, chunk=2)
    full = torch.cdist(a, b).numpy()
    # Chunks of 2 rows vs all 7 may round the float64 distances differently (0 on an AVX2 CPU), so
    # neighbours whose distances tie within 1e-12 may swap; each returned index must have its rank's
    # brute-force distance (exact wherever distances are > 2e-12 apart; smallest gap here 1.1e-2).
    assert all(len(set(row)) == 3 for row in i.tolist())
    np.testing.assert_allclose(np.take_along_axis(full, i, 1), np.sort(full, 1)[:, :3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(d, np.sort(full, 1)[:, :3])
    assert np.all(np.diff(d, axis=1) >= 0)


def test_pixel_distance_is_per_pixel_rms():
    x = torch.zeros(1, 3, 4, 4)
    y = torch.full((1, 3, 4, 4), 0.5)
    d, _ = N.nearest(N.pixel_embedding(x), N.pixel_embedding(y), 1)
    assert d[0, 0] == pytest.approx(0.5)


def _blobs(n: int, seed: int) -> torch.Tensor:
    """Smooth random images (N, 1, 8, 8): a 2x2 grid of values upsampled, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 2, 2, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(base, size=8, mode="bilinear") + 0.05 * torch.randn(n, 1, 8, 8,
                                                                                               generator=g)


def test_memorised_copies_score_high_fresh_draws_low():
    train, held = _blobs(300, 1), _blobs(200, 2)
    spaces = {"pixel": N.pixel_embedding}
    copies = train[torch.arange(0, 100)] + 0.001
    r = N.compute_neighbors(spaces, copies, train, held, k=2)
    s = r.spaces["pixel"]
    assert s.memorisation == 1.0 and s.median_ratio < 0.2
    np.testing.assert_array_equal(s.indices[:, 0], np.arange(100))
    fresh = N.compute_neighbors(spaces, _blobs(400, 3), train, held).spaces["pixel"]
    assert fresh.memorisation < 0.15 and 0.7 < fresh.median_ratio < 1.4
    noise = torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    assert N.compute_neighbors(spaces, noise, train, held).spaces["pixel"].memorisation == 0.0
    assert list(r.closest("pixel", 3)) == list(np.argsort(s.distances[:, 0])[:3])


def test_unit_rows():
    f = N.unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(f.numpy(), [[0.6, 0.8], [0.0, 0.0]])


def _ckpt(path, with_d=True):
    cfg = ModelConfig(image_size=16, nc=1, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    return save_checkpoint(path, cfg, build_generator(cfg), build_discriminator(cfg) if with_d else None,
                           train_config={"dataset": "digits", "dataset_size": 200})


def test_cli_end_to_end(cli, tmp_path):
    ck = _ckpt(tmp_path / "tiny.pt")
    args = ["neighbors", "--ckpt", ck, "--n", "32", "--n-train", "0", "--n-heldout", "100", "--show", "4"]
    code, out, err = cli(*args, "--out", tmp_path / "a")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert set(s["spaces"]) == {"pixel", "D"} and s["train_images_searched"] == 200  # the run's dataset_size
    assert s["train_searched"] == s["train_size"] == 200 and "data_copying" in s["spaces"]["pixel"]
    assert s["d_layers"] == ["lrelu1", "lrelu2"]
    for f in ("neighbors.png", "neighbors_closest.pdf", "distances.png", "arrays.npz", "run.json"):
        assert (tmp_path / "a" / f).exists()
    a = np.load(tmp_path / "a" / "arrays.npz")
    assert a["pixel_indices"].shape == (32, 3) and a["train_indices"].max() < 200
    assert cli(*args, "--out", tmp_path / "b")[0] == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["spaces"] == s["spaces"]


def test_cli_without_discriminator_uses_pixels_only(cli, tmp_path):
    ck = _ckpt(tmp_path / "g_only.pt", with_d=False)
    code, _, err = cli("neighbors", "--ckpt", ck, "--n", "8", "--n-heldout", "50", "--out", tmp_path / "o")
    assert code == 0, err
    assert set(json.loads((tmp_path / "o" / "summary.json").read_text())["spaces"]) == {"pixel"}


@pytest.mark.parametrize("extra, message", [(["--quantile", "1.5"], "quantile"), (["--k", "0"], "--k must"),
                                            (["--dataset", "nope"], "unknown dataset"),
                                            (["--cells", "-1"], "--cells"), (["--spaces", "rgb"], "--spaces")])
def test_cli_bad_input(cli, tmp_path, extra, message):
    ck = _ckpt(tmp_path / "tiny.pt")
    out = tmp_path / "never"
    code, _, err = cli("neighbors", "--ckpt", ck, *extra, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_rendered_rooms_cache_equals_rendering(tmp_path, monkeypatch):
    from gan_viz.data.rooms import RoomsDataset, render_image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = RoomsDataset(32, "train", n=12)
    a = N.rendered_rooms(ds, progress=False)
    assert a.shape == (12, 32, 32, 3) and list((tmp_path / "gan-viz" / "rendered").iterdir())
    for i in (0, 5, 11):
        np.testing.assert_array_equal(a[i], render_image(0, i, 32, ds.stream))
    np.testing.assert_array_equal(N.rendered_rooms(ds, progress=False), a)  # reused, same pixels


def test_cached_rooms_read_by_chunks_equal_the_memory_map(tmp_path, monkeypatch):
    """chunks_of over the cached rooms reads rows from the file (not the map); the pixels are the same."""
    from gan_viz.data.rooms import RoomsDataset, to_tensor

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = RoomsDataset(32, "train", n=12)
    a = N.rendered_rooms(ds, progress=False)
    for pos in (np.arange(12), np.array([0, 3, 4, 9, 10, 11]), np.array([7])):
        got = torch.cat([x for _, x in N.chunks_of(ds, pos, chunk=5)])
        torch.testing.assert_close(got, to_tensor(np.asarray(a[pos]), 3), rtol=0, atol=0)
    np.testing.assert_array_equal(N.read_rows(np.asarray(a), np.array([2, 5])), a[[2, 5]])  # in memory: indexed


def test_streamed_search_equals_one_block():
    g = torch.Generator().manual_seed(5)
    train, held, fake = torch.randn(50, 1, 4, 4, generator=g), torch.randn(20, 1, 4, 4, generator=g), \
        torch.randn(9, 1, 4, 4, generator=g)
    chunks = N.TrainStream(50, lambda: ((s, train[s:s + 7]) for s in range(0, 50, 7)))
    a = N.compute_neighbors({"pixel": N.pixel_embedding}, fake, chunks, held, k=3, cells=2, min_cell=3)
    b = N.compute_neighbors({"pixel": N.pixel_embedding}, fake, train, held, k=3, cells=2, min_cell=3)
    sa, sb = a.spaces["pixel"], b.spaces["pixel"]
    np.testing.assert_array_equal(sa.indices, sb.indices)
    np.testing.assert_allclose(sa.distances, sb.distances, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sa.heldout_nn, sb.heldout_nn, rtol=1e-6, atol=1e-7)
    full = torch.cdist(N.pixel_embedding(fake), N.pixel_embedding(train))
    np.testing.assert_allclose(sa.distances, full.sort(1).values[:, :3].numpy(), rtol=1e-5, atol=1e-6)


def test_data_copying_counts_and_summary():
    z = N.data_copying(np.r_[np.full(12, 0.1), np.full(3, 0.1)], np.r_[np.full(12, 1.0), np.full(12, 1.0)],
                       np.r_[np.zeros(12, int), np.ones(3, int)], np.r_[np.zeros(12, int), np.ones(12, int)],
                       cells=2, min_cell=10)
    assert z.kept.tolist() == [True, False] and z.C_T == pytest.approx(z.z_u[0]) and z.C_T < -4


def test_a_rooms_subset_is_rendered_not_cached_and_equals_get_batch(tmp_path, monkeypatch):
    from gan_viz.data.rooms import RoomsDataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = RoomsDataset(32, "train", n=40)
    pos = np.array([1, 7, 8, 30])
    got = torch.cat([x for _, x in N.chunks_of(ds, pos, chunk=3)])
    torch.testing.assert_close(got, ds.get_batch(pos.tolist()), rtol=0, atol=0)
    assert not (tmp_path / "gan-viz").exists()


def test_rendered_rooms_cache_follows_the_renderer(tmp_path, monkeypatch):
    """The cache file is keyed on the renderer's source and parameters: an edited renderer file
    (here a copy) renders anew and deletes the earlier file; another stream is another file."""
    import shutil
    from pathlib import Path

    from gan_viz.data import rooms
    from gan_viz.data.rooms import RoomsDataset, render_image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copies = []
    for f in rooms.RENDERER_FILES:
        copies.append(tmp_path / Path(f).name)
        shutil.copy(f, copies[-1])
    monkeypatch.setattr(rooms, "RENDERER_FILES", tuple(copies))
    folder = tmp_path / "cache" / "gan-viz" / "rendered"
    ds = RoomsDataset(32, "train", n=4)
    N.rendered_rooms(ds, progress=False)
    first = sorted(folder.iterdir())
    assert len(first) == 1
    stale = np.zeros((4, 32, 32, 3), np.uint8)  # what an earlier renderer might have left, same size
    stale.tofile(first[0])
    np.testing.assert_array_equal(N.rendered_rooms(ds, progress=False), stale)  # same renderer: reused
    with open(copies[1], "a") as f:
        f.write("\n# an edited renderer\n")
    a = N.rendered_rooms(ds, progress=False)
    assert sorted(folder.iterdir()) != first and len(list(folder.iterdir())) == 1  # rendered anew, old one gone
    np.testing.assert_array_equal(a[2], render_image(0, 2, 32, ds.stream))
    assert rooms.renderer_key(0, "train", 32, 4, 0) != rooms.renderer_key(0, "train", 32, 4, 1)


def _replayer(images: torch.Tensor, noise: float = 0.01):
    """A "G" that returns one of ``images`` per z (chosen by z) plus N(0, noise): a copier of them."""
    from gan_viz.subject import Subject

    def generate(z):
        pick = (z[:, 0].abs() * 1e6).long() % len(images)
        g = torch.Generator().manual_seed(int(pick.sum()))
        return (images[pick] + noise * torch.randn(len(z), *images.shape[1:], generator=g)).clamp(-1, 1)
    return Subject.from_modules(None, None, nz=4, generate=generate, image_shape=tuple(images.shape[1:]))


def test_folder_copier_is_caught_with_a_true_heldout_root_and_bounded_without(tmp_path, monkeypatch):
    """A G that copies images from the whole folder (as a PyTorch examples run on it could): with
    --heldout-root (images G never saw) it is caught as copying on the part a folder split would hold
    out as well as on the rest, a novel G is not; without it the held-out part is said to be G's
    training data, the score is a lower bound and C_T is absent with that reason."""
    from gan_viz.analyses import registry
    from gan_viz.data import build_dataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data, never, fresh = (png_folder(tmp_path / n, k, s) for n, k, s in (("data", 400, 1), ("never", 150, 2),
                                                                          ("fresh", 300, 3)))
    def load(root):
        ds = build_dataset("folder", 16, 1, root=str(root))
        return torch.stack([ds[i][0] for i in range(len(ds))])
    opts = dict(n=128, n_heldout=150, spaces="pixel", cells=5, show=2)
    ctx = lambda S, out: registry.Context(S, tmp_path / out, dataset="folder", data_root=str(data))  # noqa: E731
    copier = _replayer(load(data))
    s = registry.run("neighbors", ctx(copier, "copy"), heldout_root=str(never), **opts)
    px = s["spaces"]["pixel"]
    assert s["heldout_seen_by_G"] is False and s["heldout_source"] == "heldout root" and s["train_size"] == 400
    assert px["memorisation"] >= 0.9 and px["data_copying"]["C_T"] <= -3, px
    a = np.load(tmp_path / "copy" / "arrays.npz")
    part = set(np.random.default_rng(0).permutation(400)[:80].tolist())  # what a folder split holds out
    copied = a["pixel_indices"][:, 0]
    flagged = a["pixel_distances"][:, 0] < px["threshold"]
    on_part = np.array([c in part for c in copied])
    assert on_part.sum() >= 10 and flagged[on_part].mean() >= 0.9 and flagged[~on_part].mean() >= 0.9
    novel = registry.run("neighbors", ctx(_replayer(load(fresh)), "novel"), heldout_root=str(never), **opts)
    npx = novel["spaces"]["pixel"]
    assert npx["memorisation"] <= 0.15 and npx["data_copying"]["C_T"] > -2, npx
    bound = registry.run("neighbors", ctx(copier, "bound"), **opts)
    assert bound["heldout_seen_by_G"] is True and bound["heldout_source"] == "folder part"
    assert "part of its training data" in bound["heldout"] and "lower bound" in bound["memorisation_reading"]
    assert "data_copying" not in bound["spaces"]["pixel"] and "independent of training" in bound["data_copying_absent"]
    text = N.caption(bound)
    assert "part of its training data" in text and "lower bound" in text and "C_T" in text


def test_heldout_root_must_be_images_g_never_saw(tmp_path, monkeypatch, cli, capsys):
    from gan_viz.analyses import registry

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = png_folder(tmp_path / "data", 30, 1)
    import shutil

    (tmp_path / "mixed").mkdir()
    shutil.copy(data / "0003.png", tmp_path / "mixed" / "a.png")
    (tmp_path / "mixed" / "b.png").symlink_to(data / "0005.png")
    S = _replayer(torch.zeros(2, 1, 16, 16))
    with pytest.raises(UserError, match="1 of its images are training images"):
        registry.run("neighbors", registry.Context(S, tmp_path / "o", dataset="folder", data_root=str(data)),
                     n=8, n_heldout=10, spaces="pixel", heldout_root=str(tmp_path / "mixed"))
    dup = png_folder(tmp_path / "dup", 12, 7)
    shutil.copy(data / "0003.png", dup / "copy.png")  # another file, the same pixels as a training image
    s = registry.run("neighbors", registry.Context(S, tmp_path / "d", dataset="folder", data_root=str(data)),
                     n=8, n_heldout=20, spaces="pixel", cells=0, heldout_root=str(dup))
    assert s["heldout_identical_to_training"] == 1 and any("not held out" in n for n in s["notes"])
    assert "1 of the 13 held-out images equal a searched training image" in N.caption(s)
    with pytest.raises(UserError, match="is not a folder"):
        registry.run("neighbors", registry.Context(S, tmp_path / "o", dataset="folder", data_root=str(data)),
                     n=8, spaces="pixel", heldout_root=str(tmp_path / "nowhere"))
    capsys.readouterr()  # the runs' progress bars
    code, _, err = cli("neighbors", "--ckpt", _ckpt(tmp_path / "tiny.pt"), "--heldout-root", tmp_path / "nowhere",
                       "--out", tmp_path / "c")
    assert code == 2 and "--heldout-root" in err and len(err.strip().splitlines()) == 1
