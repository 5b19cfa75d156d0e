"""The soft-threshold operator against its definition as a proximal operator, and the step size it is scaled by
against the optimizers themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fitguard.regularize import soft_threshold
from fitguard.regularize.proximal import proximal_step, soft_threshold_


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


def _last_displacement(optimizer: torch.optim.Optimizer, parameter: torch.nn.Parameter, steps: int) -> torch.Tensor:
    """How far the optimizer moves ``parameter`` in one step once a constant gradient of 1 has settled it."""
    for _ in range(steps):
        before = parameter.detach().clone()
        parameter.grad = torch.ones_like(parameter)
        optimizer.step()
    return before - parameter.detach()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.SGD([p], lr=0.1),
        lambda p: torch.optim.SGD([p], lr=0.01, momentum=0.9),
        lambda p: torch.optim.SGD([p], lr=0.01, momentum=0.8, dampening=0.5),
        lambda p: torch.optim.SGD([p], lr=0.01, momentum=0.9, nesterov=True),
        lambda p: torch.optim.Adam([p], lr=0.01),
        lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.0),
        lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.5, 0.9), eps=1e-3, amsgrad=True),
    ],
    ids=["sgd", "momentum", "dampening", "nesterov", "adam", "adamw", "amsgrad"],
)
def test_the_step_size_is_what_the_optimizer_moves_per_unit_gradient_at_steady_state(make) -> None:
    # the oracle: run the optimizer itself on a constant gradient of 1 until its buffers settle
    parameter = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = make(parameter)
    moved = _last_displacement(optimizer, parameter, steps=3000)
    step = proximal_step(optimizer, optimizer.param_groups[0], parameter)
    torch.testing.assert_close(torch.as_tensor(step, dtype=torch.float64).expand(3), moved, rtol=1e-9, atol=0)


def test_adam_step_is_per_coordinate_from_a_hand_written_second_moment() -> None:
    generator = torch.Generator().manual_seed(0)
    gradients = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    parameter = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    lr, beta2, eps = 0.03, 0.99, 1e-8
    optimizer = torch.optim.Adam([parameter], lr=lr, betas=(0.9, beta2), eps=eps)
    second_moment = torch.zeros(4, dtype=torch.float64)
    for t, gradient in enumerate(gradients, start=1):
        parameter.grad = gradient.clone()
        optimizer.step()
        second_moment = beta2 * second_moment + (1 - beta2) * gradient**2
        expected = lr / ((second_moment / (1 - beta2**t)).sqrt() + eps)
        torch.testing.assert_close(proximal_step(optimizer, optimizer.param_groups[0], parameter), expected)


def test_each_group_uses_its_own_learning_rate() -> None:
    first, second = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{"params": [first]}, {"params": [second], "lr": 0.001}], lr=0.1, momentum=0.5)
    assert proximal_step(optimizer, optimizer.param_groups[0], first) == pytest.approx(0.2)
    assert proximal_step(optimizer, optimizer.param_groups[1], second) == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: torch.optim.RMSprop([p], lr=0.1),
            "proximal L1 needs the optimizer's step size, known for SGD, Adam, AdamW; got RMSprop",
        ),
        (
            lambda p: torch.optim.SGD([p], lr=0.1, maximize=True),
            "proximal L1 needs a minimizing optimizer, got `maximize=True`",
        ),
        (
            lambda p: torch.optim.Adam([p], lr=0.1),
            "Adam has no state for this parameter yet; call proximal_step after optimizer.step()",
        ),
    ],
    ids=["rmsprop", "maximize", "adam-before-step"],
)
def test_step_size_errors_are_one_clear_line(make, message: str) -> None:
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = make(parameter)
    with pytest.raises(ValueError) as raised:
        proximal_step(optimizer, optimizer.param_groups[0], parameter)
    assert str(raised.value) == message
