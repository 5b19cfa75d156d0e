"""Which parameters a glob (or the default) selects."""

from __future__ import annotations

import pytest
from torch import nn

from fitguard.models import cnn, mlp
from fitguard.regularize import L2, WeightNoise, select_parameters


def _names(pairs) -> list[str]:
    return [name for name, _ in pairs]


def test_default_selects_weight_matrices_and_kernels_only() -> None:
    model = mlp(4, 3, hidden=[8, 8], batchnorm=True, dropout=0.1)
    assert _names(L2(0.1).select(model)) == ["linear1.weight", "linear2.weight", "output.weight"]
    conv = cnn(1, 10, widths=[4], head_hidden=6)
    assert _names(WeightNoise(0.1).select(conv)) == ["conv1.weight", "head.weight", "output.weight"]


def test_globs_select_what_they_match_biases_and_norms_included() -> None:
    model = mlp(4, 3, hidden=[8], batchnorm=True)
    assert _names(L2(0.1, layers="*.bias").select(model)) == ["norm1.bias", "output.bias"]
    assert _names(L2(0.1, layers=["norm1.*", "output.weight"]).select(model)) == [
        "norm1.weight",
        "norm1.bias",
        "output.weight",
    ]


def test_shared_parameters_are_selected_once() -> None:
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert _names(select_parameters(model, None)) == ["0.weight"]


def test_glob_matching_nothing_names_the_glob_and_the_parameters() -> None:
    model = mlp(4, 3, hidden=[8])
    with pytest.raises(ValueError) as raised:
        L2(0.1, layers=["output.*", "classifier.*"]).select(model)
    assert str(raised.value) == (
        "`layers` glob 'classifier.*' matches no parameter; parameter names: "
        "linear1.weight, linear1.bias, output.weight, output.bias"
    )


def test_long_parameter_lists_are_cut_in_messages() -> None:
    model = mlp(4, 3, hidden=[8] * 5)
    with pytest.raises(ValueError) as raised:
        L2(0.1, layers="head.*").select(model)
    assert str(raised.value) == (
        "`layers` glob 'head.*' matches no parameter; parameter names: linear1.weight, linear1.bias, "
        "linear2.weight, linear2.bias, linear3.weight, linear3.bias, linear4.weight, linear4.bias, ... (12 in all)"
    )


def test_default_with_no_weight_matrix_is_an_error() -> None:
    with pytest.raises(ValueError) as raised:
        L2(0.1).select(nn.BatchNorm1d(3))
    assert str(raised.value) == (
        "the default `layers` selects weight matrices and kernels (a '*weight' with ndim >= 2), but the model "
        "has none; pass `layers` globs; parameter names: weight, bias"
    )
