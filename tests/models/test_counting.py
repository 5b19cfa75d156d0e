"""Parameter and connection counts against hand arithmetic (the source article's networks and convolutions)."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import nn

from fitguard.models import count, count_parameters, mlp, summary


def _dense(widths: list[int]) -> nn.Module:
    return mlp(widths[0], widths[-1], hidden=widths[1:-1])


@pytest.mark.parametrize(
    ("widths", "connections", "parameters"),
    [
        # 2 -> 5 -> 5 -> 1: 2*5 + 5*5 + 5*1 weights, plus 5 + 5 + 1 biases
        ([2, 5, 5, 1], 40, 51),
        # one more neuron per hidden layer: 2*6 + 6*6 + 6*1, plus 6 + 6 + 1
        ([2, 6, 6, 1], 54, 67),
        # one more hidden layer: 2*5 + 5*5 + 5*5 + 5*1, plus 5 + 5 + 5 + 1
        ([2, 5, 5, 5, 1], 65, 81),
    ],
)
def test_the_source_articles_networks(widths: list[int], connections: int, parameters: int) -> None:
    report = count(_dense(widths), (widths[0],))
    assert (report.connections, report.parameters) == (connections, parameters)
    per_layer = [layer.connections for layer in report.layers]
    assert per_layer == [a * b for a, b in pairwise(widths)]
    assert report.parameters == sum(layer.parameters for layer in report.layers)


def test_hidden_to_hidden_connections_of_the_widened_network_are_the_articles_36() -> None:
    report = count(_dense([2, 6, 6, 1]), (2,))
    assert report.layers[1].name == "linear2" and report.layers[1].connections == 36


def test_convolution_connections_are_positions_times_kernel_volume() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 10x10 out: 100 * 8 * 3 * 9 = 21,600
        nn.Conv2d(8, 4, 3, stride=2, groups=2, bias=False),  # 4x4 out: 16 * 4 * (8/2) * 9 = 2,304
        nn.Flatten(),
        nn.Linear(64, 5),  # 320
    )
    report = count(model, (3, 10, 10))
    assert [layer.connections for layer in report.layers] == [21_600, 2_304, 320]
    assert [layer.parameters for layer in report.layers] == [8 * 27 + 8, 4 * 4 * 9, 64 * 5 + 5]
    assert [layer.output_shape for layer in report.layers] == [(8, 10, 10), (4, 4, 4), (5,)]


def test_conv1d_and_linear_applied_per_position() -> None:
    model = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.Linear(40, 3))  # linear on each of 4 channels
    report = count(model, (1, 40))
    assert [layer.connections for layer in report.layers] == [40 * 4 * 1 * 5, 4 * 40 * 3]


def test_shared_module_parameters_once_connections_per_use() -> None:
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    report = count(model, (4,))
    assert len(report.layers) == 1
    assert (report.layers[0].parameters, report.layers[0].connections) == (20, 32)
    assert report.parameters == 20


def test_batchnorm_model_counts_and_keeps_its_training_mode() -> None:
    model = mlp(4, 2, hidden=[8], batchnorm=True, dropout=0.5)
    model.train()
    model.norm1.eval()
    report = count(model, (4,))
    assert model.training and model.linear1.training and not model.norm1.training
    assert [(layer.name, layer.kind, layer.connections) for layer in report.layers] == [
        ("linear1", "Linear", 32),
        ("norm1", "BatchNorm1d", 0),
        ("output", "Linear", 16),
    ]


def test_trainable_parameter_count() -> None:
    model = mlp(4, 2, hidden=[8])
    model.linear1.requires_grad_(False)
    assert count_parameters(model) == 40 + 18
    assert count_parameters(model, trainable_only=True) == 18
    assert count(model, (4,)).trainable_parameters == 18


def test_summary_is_a_printable_table() -> None:
    text = summary(_dense([2, 5, 5, 1]), (2,))
    assert "input (2,)" in text.splitlines()[0]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if "│" in line]
    assert rows == [
        ["linear1", "Linear", "(5,)", "15", "10"],
        ["linear2", "Linear", "(5,)", "30", "25"],
        ["output", "Linear", "(1,)", "6", "5"],
        ["total", "", "", "51", "40"],
    ]


@pytest.mark.parametrize("shape", [(), (0, 3), "28", (2.0,), [True]])
def test_bad_input_shape(shape) -> None:
    with pytest.raises(ValueError) as raised:
        count(nn.Linear(2, 1), shape)
    assert str(raised.value) == (
        "`input_shape` must be one sample's shape as positive ints without the batch dimension, "
        f"e.g. (1, 28, 28), got {shape!r}"
    )


def test_float64_model_runs_on_its_dtype() -> None:
    report = count(nn.Linear(3, 2).double(), (3,), dtype=torch.float64)
    assert report.connections == 6


def test_numpy_integer_input_shape() -> None:
    import numpy as np

    assert count(nn.Linear(3, 2), tuple(np.array([3]))).input_shape == (3,)
