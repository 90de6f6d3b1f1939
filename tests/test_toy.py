"""The toy GAN: D* on known densities, the two G losses, modes, determinism, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from gan_viz.analyses import toy as T


@pytest.fixture(autouse=True)
def one_thread():
    """The toy GAN is meant for one CPU thread (tiny MLPs); restore the setting after."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _normal(x, mu, sd=1.0):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def test_d_star_formula_on_two_gaussians():
    x = np.linspace(-3, 4, 101)
    # p_data = N(0, 1), p_g = N(1, 1): log(p_data / p_g) = 1/2 - x, so D* = sigmoid(1/2 - x)
    np.testing.assert_allclose(T.d_star(_normal(x, 0), _normal(x, 1)), 1 / (1 + np.exp(x - 0.5)), atol=1e-12)
    same = _normal(x, 0.3)
    np.testing.assert_allclose(T.d_star(same, same), 0.5)  # p_g = p_data -> 1/2 everywhere
    assert T.d_star(np.zeros(3), np.zeros(3)).tolist() == [0.5] * 3


def test_fitted_discriminator_reaches_d_star_on_known_densities():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    D = T.mlp(1, 1, hidden=32, act=lambda: nn.LeakyReLU(0.2))
    T.fit_discriminator(D, lambda n: torch.randn(n, 1, generator=gen),
                        lambda n: torch.randn(n, 1, generator=gen) + 1.0, steps=300, batch=512, lr=5e-3)
    x = np.linspace(-1.5, 2.5, 81)[:, None]
    mae = np.abs(T.d_on_grid(D, x) - 1 / (1 + np.exp(x[:, 0] - 0.5))).mean()
    assert mae < 0.05, mae


def test_kde_recovers_a_known_density():
    data = T.get_data("mixture1d")
    samples = data.sample(100_000, torch.Generator().manual_seed(1)).double().numpy()
    grid = T.density_grid(data)
    est = T.kde_on_grid(samples, data)
    truth = data.density(grid, extra_var=T.kde_variance(data))
    assert np.abs(est - truth).max() < 0.05 * truth.max()
    assert abs(est.sum() * np.diff(grid[:, 0])[0] - 1) < 0.01  # integrates to 1


def test_generator_loss_gradients_on_the_logit():
    a = torch.tensor([-4.0, 0.0, 3.0], requires_grad=True)
    d = torch.sigmoid(a).detach()
    for kind, expected in (("saturating", -d), ("non-saturating", -(1 - d))):
        (g,) = torch.autograd.grad(T.g_loss_of(a, kind) * len(a), a)
        torch.testing.assert_close(g, expected)
    # D rejects the fake (D = sigmoid(-4) ~ 0.018): the saturating gradient nearly vanishes
    assert float(d[0]) < 0.02 and abs(float(-d[0])) < 0.05 * abs(float(-(1 - d[0])))


def test_mode_stats_and_distance():
    data = T.get_data("ring2d")
    at_modes = np.repeat(data.means, 50, axis=0)
    assert T.mode_stats(at_modes, data) == (8, 1.0)
    collapsed = np.repeat(data.means[:1], 400, axis=0)
    assert T.mode_stats(collapsed, data)[0] == 1
    assert T.distance(at_modes, at_modes) == 0.0
    assert T.distance(at_modes, at_modes + 1.0) > 0.5


def _small(data="gauss1d", seed=0):
    return T.compute_toy(data, steps=30, seed=seed, fit_steps=20)


def test_same_seed_same_result_and_both_losses_start_equal():
    a, b, c = _small(seed=3), _small(seed=3), _small(seed=4)
    for k in T.G_LOSSES:
        np.testing.assert_array_equal(a.traces[k].dist, b.traces[k].dist)
        np.testing.assert_array_equal(a.traces[k].snap_samples, b.traces[k].snap_samples)
    np.testing.assert_array_equal(a.d_fit, b.d_fit)
    assert not np.array_equal(a.traces["saturating"].dist, c.traces["saturating"].dist)
    # both losses start from the same G and the same batches: identical first D step
    assert a.traces["saturating"].loss_d[0] == a.traces["non-saturating"].loss_d[0]
    assert a.traces["saturating"].dist[0] == a.traces["non-saturating"].dist[0]


def test_cli_ring2d_writes_summary(cli, tmp_path):
    code, out, err = cli("toy", "--data", "ring2d", "--steps", "40", "--fit-steps", "20", "--out", tmp_path)
    assert code == 0, err
    s = json.loads((tmp_path / "summary.json").read_text())
    assert 0 <= s["d_star_mae"] <= 1
    assert set(s["g_loss"]) == {"saturating", "non_saturating"}
    assert s["modes"] == 8 and 0 <= s["g_loss"]["saturating"]["modes_covered_final"] <= 8
    arrays = np.load(tmp_path / "arrays.npz")
    assert arrays["grid"].shape == (256 * 256, 2) and arrays["saturating_dist"].shape == (41,)
    for name in ("toy_training", "toy_d_star", "toy_g_loss", "toy_modes"):
        assert (tmp_path / f"{name}.png").exists() and (tmp_path / f"{name}.pdf").exists()


@pytest.mark.parametrize("argv", [["--data", "swissroll"], ["--steps", "0"]])
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, argv):
    out = tmp_path / "out"
    code, _, err = cli("toy", *argv, "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
