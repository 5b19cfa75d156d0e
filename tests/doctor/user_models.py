"""Networks a user would write themselves, for ``--model tests.doctor.user_models:<function>``."""

from __future__ import annotations

from torch import nn


def tiny_net(input_shape: tuple[int, ...], out_features: int, width: int = 12) -> nn.Module:
    features = 1
    for size in input_shape:
        features *= size
    return nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.ReLU(), nn.Linear(width, out_features))


def wrong_signature(in_features: int) -> nn.Module:
    return nn.Linear(in_features, 1)


def not_a_module(input_shape: tuple[int, ...], out_features: int) -> str:
    return "a string"


NOT_CALLABLE = 3
