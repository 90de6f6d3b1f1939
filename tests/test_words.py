"""Words that describe the user's model, and figures whose titles can be read (issue 23)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # user_models


def _title_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of titles (the figure's suptitle and texts, every axes title) whose drawn boxes intersect."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    texts = [t for t in [fig._suptitle, *fig.texts] if t is not None and t.get_text()]
    texts = list({id(t): t for t in texts + [ax.title for ax in fig.axes if ax.get_title()]}.values())
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def test_upsampling_titles_do_not_overlap():
    from gan_viz.analyses import upsampling as U

    result = U.compute_upsampling()
    for name, plot in U.FIGURES.items():
        assert not _title_overlaps(plot(result)), (name, _title_overlaps(plot(result)))


def test_first_layer_figure_names_the_users_last_conv():
    """A G that ends in a plain Conv2d (Upsample + Conv) is not called a transposed conv."""
    from user_models import NestedGenerator, PTDiscriminator, PTGenerator, seeded

    from gan_viz.analyses.filter_audit import compute_filter_audit, pixel_conv_words, plot_first_layer
    from gan_viz.subject import Subject

    G = seeded(NestedGenerator(8, 8, 3), 1)
    assert pixel_conv_words(G, "G") == "last conv G.to_rgb"
    assert pixel_conv_words(seeded(PTGenerator(8, 4, 3), 1), "G") == "last transposed conv G.main.9"
    assert pixel_conv_words(seeded(PTDiscriminator(4, 3), 1), "D") == "first conv D.main.0"
    S = Subject.from_modules(G, None, nz=8)
    r = compute_filter_audit(S, None, G, z=S.sample_z(4, torch.Generator().manual_seed(0)), k=2)
    titles = [ax.get_title() for ax in plot_first_layer(r).axes]
    assert titles and all("last conv G.to_rgb" in t and "transposed" not in t for t in titles), titles


def test_folder_images_are_not_called_test_images(tmp_path):
    from user_models import PTDiscriminator, seeded

    from gan_viz.io import save_png
    from gan_viz.sources import image_source
    from gan_viz.subject import Subject

    import numpy as np

    for i in range(4):
        save_png(tmp_path / f"{i}.png", np.full((32, 32, 3), 40 * i, np.uint8))
    S = Subject.from_modules(None, seeded(PTDiscriminator(4, 3), 1), image_shape=(3, 32, 32))
    src, note = image_source(S, "auto", 4, dataset="folder", data_root=str(tmp_path))
    assert "test" not in note.split("(")[0] and "no test split" in note, note
    assert src.words == "real folder (no test split)"
    with pytest.raises(Exception):
        image_source(S, "auto", 4, dataset="folder", data_root=str(tmp_path / "none"))


def test_the_upsampling_section_says_how_this_g_upsamples():
    """The notes' mechanics are transposed convolution; a G that upsamples by nn.Upsample + conv is told
    it uses none (the section used to explain k4 s2 p1 to every model)."""
    from gan_viz.config import ModelConfig
    from gan_viz.models import build_generator
    from gan_viz.reports.extras import upsampling_note
    from gan_viz.subject import Subject

    from user_models import NestedGenerator

    cfg = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    dcgan = upsampling_note(Subject.from_config(cfg, build_generator(cfg), None))
    assert "3 strided transposed convolutions (k4 s2 p1" in dcgan and "no transposed" not in dcgan
    nested = Subject(NestedGenerator(nz=8, width=8, nc=3), None, nz=8)
    text = upsampling_note(nested)
    assert "Upsample(nearest, x2" in text and "uses no transposed convolution" in text
    from gan_viz.models import build_discriminator

    assert "no generator" in upsampling_note(Subject(None, build_discriminator(cfg), image_shape=(3, 32, 32)))
