"""benchmarks/report_time.py --floor: the multiply-add count its lower bound on the report's time rests on."""

import importlib.util
from pathlib import Path

import torch
import torch.nn as nn

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "report_time.py"
_spec = importlib.util.spec_from_file_location("report_time_bench", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_layer_macs_counts_convolutions_transposed_convolutions_and_linear_layers_by_their_shapes():
    counter = bench.MacCounter()
    try:
        with torch.no_grad():
            nn.Conv2d(3, 8, 3, padding=1)(torch.zeros(2, 3, 10, 10))
            assert counter.total() == 2 * 8 * 10 * 10 * 3 * 9  # each output element: cin x kh x kw
            counter.forward.clear()
            nn.Conv2d(4, 4, 3, padding=1, groups=2)(torch.zeros(1, 4, 6, 6))
            assert counter.total() == 4 * 36 * 2 * 9  # grouped: cin / groups per output element
            counter.forward.clear()
            up = nn.ConvTranspose2d(4, 2, 4, 2, 1)
            assert up(torch.zeros(1, 4, 5, 5)).shape[-1] == 10
            assert counter.total() == 4 * 25 * 2 * 16  # each input element meets cout x kh x kw weights
            counter.forward.clear()
            nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.BatchNorm1d(7))(torch.zeros(3, 5))
            assert counter.total() == 3 * 7 * 5  # containers, activations and norms add nothing
    finally:
        counter.close()
    nn.Linear(5, 7)(torch.zeros(3, 5))
    assert counter.total() == 3 * 7 * 5, "a closed counter must stop counting"


def test_a_forward_under_autograd_counts_once_more_for_its_backward_and_sections_are_kept_apart():
    counter = bench.MacCounter()
    try:
        counter.section = "a"
        nn.Linear(5, 7)(torch.zeros(3, 5))  # weights require grad: a backward would follow
        counter.section = "b"
        with torch.no_grad():
            nn.Linear(5, 7)(torch.zeros(3, 5))
    finally:
        counter.close()
    assert counter.total("a") == 2 * 105 and counter.total("b") == 105
    assert counter.total() == 3 * 105
