"""gan_viz.images.area_resize: the one area-average downsampling the analyses share."""

import torch

from gan_viz.images import area_resize


def test_area_resize_averages_blocks_and_keeps_gradients():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4).requires_grad_(True)
    y = area_resize(x, 2)
    assert y.shape == (2, 3, 2, 2)
    torch.testing.assert_close(y[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    torch.testing.assert_close(y[1, 2, 1, 1], x[1, 2, 2:, 2:].mean())
    (g,) = torch.autograd.grad(y.sum(), [x])
    torch.testing.assert_close(g, torch.full_like(x, 0.25))


def test_area_resize_leaves_images_at_or_below_the_size_alone():
    x = torch.randn(1, 3, 8, 8)
    assert area_resize(x, 8) is x
    assert area_resize(x, 16) is x  # never upsamples
    assert area_resize(x, None) is x


def test_class_fractions_of_counts_every_pixel_once():
    import torch

    from gan_viz.images import class_fractions_of

    seg = torch.randint(0, 5, (7, 9, 11))
    want = torch.nn.functional.one_hot(seg.flatten(1), 6).double().mean(1)  # class 5 never drawn
    got = class_fractions_of(seg, 6, torch.float64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert got[:, 5].eq(0).all() and torch.allclose(got.sum(1), torch.ones(7, dtype=torch.float64))
    assert class_fractions_of(seg[:0], 6).shape == (0, 6)
