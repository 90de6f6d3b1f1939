"""The notes' upsampling grids (seed 004): exact numbers, both methods equal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan_viz.analyses import upsampling as U


@pytest.fixture(scope="module")
def result():
    return U.compute_upsampling()


def test_nearest_matches_notes(result):
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    np.testing.assert_array_equal(result.nearest, expected)
    np.testing.assert_array_equal(U.nearest_by_copy(U.NEAREST_INPUT), expected)


def test_transposed_2x2_copies_and_sum(result):
    np.testing.assert_array_equal(result.transposed_2x2_s1, [[1, 5, 6], [2, 8, 11], [0, 6, 3]])
    copies = result.copies_2x2_s1  # one scaled kernel per input pixel, in place
    np.testing.assert_array_equal(copies[0][:2, :2], [[1, 3], [2, 1]])
    np.testing.assert_array_equal(copies[1][:2, 1:], [[2, 6], [4, 2]])
    np.testing.assert_array_equal(copies[2], np.zeros((3, 3)))
    np.testing.assert_array_equal(copies[3][1:, 1:], [[3, 9], [6, 3]])
    np.testing.assert_array_equal(copies.sum(0), result.transposed_2x2_s1)


def test_transposed_3x3_stride1_and_stride2(result):
    np.testing.assert_array_equal(result.transposed_3x3_s1,
                                  [[0, 2, 0, 4], [1, 1, 8, 4], [0, 7, 4, 3], [2, 2, 1, 1]])
    s2 = result.transposed_3x3_s2
    assert s2.shape == (6, 6)
    np.testing.assert_array_equal(s2[0], [0, 2, 0, 0, 0, 4])
    np.testing.assert_array_equal(s2[1], [1, 1, 0, 0, 2, 2])
    # stride = kernel size: copies tile without overlap, so the sum of the output is
    # sum(input) * sum(kernel) and each 2x2 block is one scaled kernel
    assert s2.sum() == U.INPUT_3x3.sum() * U.KERNEL_3x3_EX.sum()
    np.testing.assert_array_equal(s2[2:4, 2:4], 3 * U.KERNEL_3x3_EX)


def test_torch_and_scatter_agree_everywhere(result):
    assert result.methods_agree
    assert set(result.max_abs_diff) >= {"nearest", "transposed_2x2_s1", "transposed_3x3_s1", "transposed_3x3_s2"}
    rng = np.random.default_rng(0)  # and on random inputs, strides and paddings
    for stride, pad in [(1, 0), (2, 0), (2, 1), (3, 1)]:
        x, k = rng.normal(size=(3, 4)), rng.normal(size=(4, 3))
        by_scatter, _ = U.transposed_by_scatter(x, k, stride, pad)
        np.testing.assert_allclose(U.transposed_by_torch(x, k, stride, pad), by_scatter, atol=1e-12)


def test_dcgan_taps_are_one_two_four(result):
    m = result.taps["taps_k4_s2_p1_in3"]
    assert m.shape == (6, 6)
    assert m[0, 0] == m[0, -1] == m[-1, 0] == m[-1, -1] == 1  # corners
    assert (m[0, 1:-1] == 2).all() and (m[1:-1, 0] == 2).all()  # edges
    assert (m[1:-1, 1:-1] == 4).all()  # interior: even overlap, no checkerboard
    uneven = result.taps["taps_k3_s2_p1_in4"][1:-1, 1:-1]
    assert uneven.min() < uneven.max()  # kernel 3, stride 2: the checkerboard pattern


def test_cli_writes_everything(cli, tmp_path):
    code, out, err = cli("upsampling", "--out", tmp_path)
    assert code == 0, err
    arrays = np.load(tmp_path / "arrays.npz")
    for key in ("nearest", "transposed_2x2_s1", "transposed_3x3_s1", "transposed_3x3_s2"):
        assert key in arrays
    np.testing.assert_array_equal(arrays["transposed_2x2_s1"], [[1, 5, 6], [2, 8, 11], [0, 6, 3]])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["methods_agree"] is True
    assert summary["taps"]["taps_k4_s2_p1_in4"]["counts"] == {"1": 4, "2": 24, "4": 36}
    for name in U.FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 0 and (tmp_path / f"{name}.pdf").exists()
    assert (tmp_path / "run.json").exists()
