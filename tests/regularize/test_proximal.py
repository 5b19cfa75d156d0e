"""The soft-threshold operator against its definition as a proximal operator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fitguard.regularize import soft_threshold
from fitguard.regularize.proximal import soft_threshold_


def test_values_on_a_hand_table() -> None:
    w = torch.tensor([-2.0, -0.5, -0.1, 0.0, 0.3, 0.5, 1.5])
    assert soft_threshold(w, 0.5).tolist() == [-1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert torch.equal(soft_threshold(w, 0.0), w)


@settings(max_examples=50, deadline=None)
@given(
    w=st.floats(min_value=-10, max_value=10, allow_nan=False),
    t=st.floats(min_value=0, max_value=5, allow_nan=False),
)
def test_is_the_minimizer_of_the_proximal_objective(w: float, t: float) -> None:
    # prox_t(w) = argmin_v (v - w)^2 / 2 + t |v|, checked by brute force on a fine grid
    grid = np.linspace(-15, 15, 60_001)
    brute = grid[np.argmin((grid - w) ** 2 / 2 + t * np.abs(grid))]
    result = soft_threshold(torch.tensor([w], dtype=torch.float64), t).item()
    assert result == pytest.approx(brute, abs=1e-3)
    assert (result == 0.0) == (abs(w) <= t)


def test_zeros_are_positive_zeros_and_tensor_thresholds_work() -> None:
    out = soft_threshold(torch.tensor([-0.2, 0.2]), torch.tensor(0.3))
    assert torch.equal(torch.signbit(out), torch.tensor([False, False]))


def test_negative_threshold_is_an_error() -> None:
    with pytest.raises(ValueError) as raised:
        soft_threshold(torch.zeros(2), -0.1)
    assert str(raised.value) == "`t` must be >= 0, got -0.1"


def test_in_place_version_equals_the_pure_function_bit_for_bit() -> None:
    w = torch.randn(50, 20, generator=torch.Generator().manual_seed(0))
    expected = soft_threshold(w, 0.7)
    tensors = [w.clone(), w[:5].clone()]
    soft_threshold_(tensors, 0.7)
    assert torch.equal(tensors[0], expected) and torch.equal(tensors[1], expected[:5])
    assert not torch.signbit(tensors[0]).logical_and(tensors[0] == 0).any()
