"""Complexity sweeps: per-value decomposition, the smallest network within eps, and the plot."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.data.tensors import TensorData
from fitguard.diagnose.sweep import ComplexitySweep, SweepPoint, complexity_sweep, plot_sweep


def _data() -> tuple[TensorData, TensorData, TensorData]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(260, 2, generator=g)
    y = ((X[:, 0] ** 2 + X[:, 1] ** 2) > 1.4).long()
    return TensorData(X[:120], y[:120]), TensorData(X[120:180], y[120:180]), TensorData(X[180:], y[180:])


def _builder(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 2))


def test_width_sweep_counts_parameters_and_decomposes(tmp_path) -> None:
    sweep = complexity_sweep(_builder, _data(), param="width", values=[1, 32], rounds=3, epochs=15, lr=0.02)
    assert [p.n_params for p in sweep.points] == [2 * 1 + 1 + 1 * 2 + 2, 2 * 32 + 32 + 32 * 2 + 2]
    narrow, wide = sweep.points
    # a one-unit ReLU network cannot draw a circle: it is biased; the wide one is not
    assert narrow.bias2 > wide.bias2 and narrow.train_error > wide.train_error
    path = plot_sweep(sweep, tmp_path / "sweep.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lambda_sweep_passes_the_value_as_weight_decay() -> None:
    sweep = complexity_sweep(lambda _: _builder(16), _data(), param="lambda", values=[0.0, 5.0], rounds=2, epochs=10,
                             lr=0.02,
                             optimizer="adamw")
    none, heavy = sweep.points
    assert heavy.train_error > none.train_error  # decoupled decay of 5 x lr 0.02 wipes the weights out


def test_smallest_within_eps_picks_the_fewest_parameters() -> None:
    points = [
        SweepPoint(4, 50, 0.2, 0.30, 0.31, 0.25, 0.05),
        SweepPoint(16, 200, 0.05, 0.22, 0.23, 0.12, 0.10),
        SweepPoint(64, 900, 0.0, 0.21, 0.22, 0.08, 0.14),
    ]
    sweep = ComplexitySweep("width", "0-1", points)
    assert sweep.smallest_within(0.0).value == 64
    assert sweep.smallest_within(0.02).value == 16
    assert sweep.smallest_within(0.1).value == 4


def test_messages() -> None:
    with pytest.raises(ValueError) as error:
        complexity_sweep(_builder, _data(), param="height", values=[1])
    assert str(error.value) == "`param` must be one of ('width', 'depth', 'lambda'), got 'height'"
    with pytest.raises(ValueError) as error:
        complexity_sweep(_builder, _data(), param="width", values=[4, 0])
    assert str(error.value) == "`values[1]` = 0, must be an integer >= 1 for width"
    no_val = ComplexitySweep("width", "0-1", [SweepPoint(4, 50, 0.2, None, 0.31, 0.25, 0.05)])
    with pytest.raises(ValueError) as error:
        no_val.smallest_within(0.1)
    assert str(error.value) == "`smallest_within` needs validation errors: sweep data that has a .val split"
