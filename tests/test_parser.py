"""The scene parser: shapes at every size, fractions, features, boxes, files, training, IoU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_viz.data.rooms import CLASSES, RoomsDataset
from gan_viz.errors import UserError
from gan_viz.parser import DEFAULT_PATH, ParserConfig, ParserNet, SceneParser, load_parser, save_parser
from gan_viz.parser_train import evaluate_parser, rooms_batch

K = len(CLASSES)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return SceneParser(ParserNet(ParserConfig(widths=(4, 4, 4, 4))))


@pytest.mark.parametrize("size,nc", [(32, 3), (48, 3), (64, 1), (100, 3), (128, 3)])
def test_segment_every_size(tiny, size, nc):
    x = torch.rand(3, nc, size, size) * 2 - 1
    seg = tiny.segment(x)
    assert seg.shape == (3, size, size) and seg.dtype == torch.int64
    assert 0 <= seg.min() and seg.max() < K
    frac = tiny.class_fractions(x)
    assert frac.shape == (3, K) and torch.allclose(frac.sum(1), torch.ones(3))
    feats = tiny.features(x)
    assert feats.shape == (3, 2 * 4 + K) and torch.isfinite(feats).all()


def _same_labels(a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor, tol: float) -> None:
    """Label maps equal, except at pixels whose top two logits tie within ``tol`` (float error)."""
    top2 = logits.topk(2, dim=1).values
    tie = (top2[:, 0] - top2[:, 1]) <= tol
    assert not ((a != b) & ~tie).any(), f"{int((a != b).sum())} labels differ, {int(tie.sum())} ties"


def test_batched_equals_whole(tiny):
    # Another batch size may sum the convolutions in another order, so the logits agree to float
    # error (3e-8 on an AVX2 CPU, logits of order 0.4) and the labels wherever the top two logits
    # are further apart than that (the smallest margin here is 0.25: no label may differ).
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    whole = tiny.logits(x)
    tol = 1e-5 * whole.abs().max().item()
    torch.testing.assert_close(tiny.logits(x, batch_size=2), whole, rtol=0, atol=tol)
    torch.testing.assert_close(tiny.logits(x[3:4])[0], whole[3], rtol=0, atol=tol)  # every item, not just [0]
    seg = tiny.segment(x)
    assert torch.equal(seg, whole.argmax(1))
    _same_labels(tiny.segment(x, batch_size=2), seg, whole, tol)
    _same_labels(tiny.segment(x[3:4])[0], seg[3], whole[3:4], tol)


def test_chunked_net_equals_one_forward(tiny):
    # the verbs run the net on cache-sized chunks (8 images at 64x64): the same numbers as one
    # forward over the whole batch, to float error; fractions count the label map's pixels
    from gan_viz.instruments import RoomsParser
    from gan_viz.parser import chunk_size, prepare

    assert (chunk_size(64, 64), chunk_size(32, 32), chunk_size(128, 128), chunk_size(512, 512)) == (8, 32, 2, 1)
    assert chunk_size(32, 32, batch_size=5) == 5 and chunk_size(64, 64, "cuda", 100) == 100  # whole batches there
    x = torch.rand(19, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        whole = tiny.net(prepare(x)[0])
    tol = 1e-5 * whole.abs().max().item()
    torch.testing.assert_close(tiny.logits(x), whole, rtol=0, atol=tol)
    seg = tiny.segment(x)
    _same_labels(seg, whole.argmax(1), whole, tol)
    counts = torch.nn.functional.one_hot(seg.flatten(1), K).sum(1).float() / (64 * 64)
    torch.testing.assert_close(tiny.class_fractions(x), counts, rtol=0, atol=1e-6)
    prob = RoomsParser(tiny).concept_prob(2)(x)
    torch.testing.assert_close(prob, whole.softmax(1)[:, 2].mean((1, 2)), rtol=0, atol=1e-5)
    one = torch.cat([tiny.features(x[i:i + 1]) for i in range(len(x))])
    torch.testing.assert_close(tiny.features(x), one, rtol=0, atol=1e-5)


def test_input_not_mutated_and_eval_mode(tiny):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    before = x.clone()
    tiny.segment(x)
    assert torch.equal(x, before) and not tiny.net.training


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (2, 3, 200, 200), (2, 2, 32, 32), (3, 32, 32)])
def test_bad_inputs(tiny, shape):
    with pytest.raises(UserError):
        tiny.segment(torch.zeros(shape))


def test_boxes_connected_components():
    cm = np.zeros((32, 32), np.uint8)
    cm[2:5, 3:9] = 3
    cm[20:30, 10:12] = 3
    cm[0, 31] = 4
    boxes = sorted(SceneParser.boxes(cm, 3))
    assert boxes == [(3, 2, 8, 4), (10, 20, 11, 29)]
    assert SceneParser.boxes(torch.from_numpy(cm), 4) == [(31, 0, 31, 0)]
    assert SceneParser.boxes(cm, 3, min_pixels=19) == [(10, 20, 11, 29)]
    assert SceneParser.boxes(cm, 7) == []


def test_save_load_roundtrip_weights_only(tiny, tmp_path):
    path = save_parser(tiny.net, tmp_path / "p.pt", {"steps": 3})
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["classes"] == list(CLASSES)
    again = load_parser(path)
    x = torch.rand(2, 3, 40, 40) * 2 - 1
    assert torch.equal(again.segment(x), tiny.segment(x)) and again.meta["steps"] == 3


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="no scene parser weights"):
        load_parser(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="cannot read"):
        load_parser(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a gan-viz scene parser"):
        load_parser(tmp_path / "other.pt")


def test_iou_arithmetic():
    class AllWall:  # predicts "wall" everywhere: IoU(wall) = wall pixels / all pixels, others 0
        def segment(self, images):
            return torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.int64)

    r = evaluate_parser(AllWall(), 32, n=6, batch_size=4)
    _, cm = rooms_batch(0, range(6), 32, stream=1)
    assert r.iou[0] == pytest.approx((cm == 0).mean())
    assert np.all(r.iou[1:][~np.isnan(r.iou[1:])] == 0) and r.pixel_accuracy == pytest.approx((cm == 0).mean())


def test_train_and_eval_cli(cli, tmp_path):
    out = tmp_path / "p.pt"
    code, _, err = cli("parser", "train", "--out", out, "--steps", "2", "--batch-size", "2",
                       "--widths", "4,4,4,4", "--save-every", "1")
    assert code == 0, err
    assert load_parser(out).meta["steps"] == 2
    code, stdout, err = cli("parser", "eval", "--weights", out, "--sizes", "32", "--n", "4")
    assert code == 0, err
    assert "window" in stdout and "mean" in stdout
    code, _, err = cli("parser", "train", "--out", tmp_path / "q.pt", "--widths", "4,4")
    assert code == 2 and "widths" in err and not (tmp_path / "q.pt").exists()


@pytest.mark.skipif(not DEFAULT_PATH.exists(), reason="shipped parser weights not present")
def test_shipped_weights_find_windows():
    p = load_parser()
    ds = RoomsDataset(64, "test", n=12)
    seg = p.segment(ds.get_batch(range(12)))
    truth = torch.from_numpy(np.stack([ds.masks(i) for i in range(12)])).long()
    w = CLASSES.index("window")
    inter = ((seg == w) & (truth == w)).sum().item()
    union = ((seg == w) | (truth == w)).sum().item()
    assert inter / union > 0.8
    assert DEFAULT_PATH.stat().st_size < 5_000_000
