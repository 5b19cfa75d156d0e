"""Optimizer groups for decoupled L2 penalties."""

from __future__ import annotations

import pytest
from torch import nn

from fitguard.models import mlp
from fitguard.regularize import L1, L2, param_groups


def test_each_decoupled_penalty_gets_its_group_and_the_rest_the_base_decay() -> None:
    model = mlp(4, 3, hidden=[8])
    groups = param_groups(
        model,
        [L2(0.01, layers="linear1.weight", decoupled=True), L2(0.1, layers="output.weight", decoupled=True), L1(1.0)],
        weight_decay=0.5,
    )
    assert [g["weight_decay"] for g in groups] == [0.02, 0.2, 0.5]
    assert groups[0]["params"] == [model.linear1.weight]
    assert groups[1]["params"] == [model.output.weight]
    assert groups[2]["params"] == [model.linear1.bias, model.output.bias]


def test_overlapping_decoupled_penalties_are_an_error() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError) as raised:
        param_groups(model, [L2(0.1, decoupled=True), L2(0.2, layers="*", decoupled=True)])
    assert str(raised.value) == (
        "parameter '0.weight' is selected by two decoupled penalties, "
        "L2(lam=0.1, layers=None, decoupled=True) and L2(lam=0.2, layers='*', decoupled=True); "
        "an optimizer puts each parameter in one group, so make their `layers` disjoint"
    )
