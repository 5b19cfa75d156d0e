"""The grouped optimizer against torch's optimizers, one per member, on the same gradients."""

from __future__ import annotations

import pytest
import torch

from fitguard.train.grouped_optimizer import GroupedOptimizer

TORCH = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_members_follow_torch_with_their_own_step_counts(name: str, weight_decay: float) -> None:
    """Member 1 misses steps 2 and 4: it must neither move then nor count them (Adam's bias correction)."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, 2, generator=g)  # 3 members of a (4, 2) weight
    grouped = torch.nn.Parameter(start.clone().flatten(0, 1))
    step = GroupedOptimizer([grouped], 3, name, lr=0.1, weight_decay=weight_decay, momentum=0.9)
    apart = [torch.nn.Parameter(start[m].clone()) for m in range(3)]
    extra = {"momentum": 0.9} if name == "sgd" else {}
    torch_steps = [TORCH[name]([p], lr=0.1, weight_decay=weight_decay, **extra) for p in apart]
    for index in range(6):
        grads = torch.randn(3, 4, 2, generator=g)
        present = [True, index not in (2, 4), True]
        grouped.grad = grads.flatten(0, 1).clone()
        step.step(present)
        for m in range(3):
            if present[m]:
                apart[m].grad = grads[m].clone()
                torch_steps[m].step()
        for m in range(3):
            torch.testing.assert_close(grouped.detach().view(3, 4, 2)[m], apart[m].detach(), rtol=1e-5, atol=1e-6)
    assert step.steps == [6, 4, 6]


def test_select_carries_the_chosen_members_state() -> None:
    g = torch.Generator().manual_seed(1)
    start = torch.randn(3, 5, generator=g)
    grouped = torch.nn.Parameter(start.clone().flatten())
    step = GroupedOptimizer([grouped], 3, "adam", lr=0.01)
    alone = torch.nn.Parameter(start[2].clone())
    reference = torch.optim.Adam([alone], lr=0.01)
    for _ in range(3):
        grads = torch.randn(3, 5, generator=g)
        grouped.grad, alone.grad = grads.flatten().clone(), grads[2].clone()
        step.step()
        reference.step()
    shrunk = torch.nn.Parameter(grouped.detach().view(3, 5)[[2, 0]].flatten().clone())
    smaller = step.select([2, 0], [shrunk])
    for _ in range(3):
        grads = torch.randn(2, 5, generator=g)
        shrunk.grad, alone.grad = grads.flatten().clone(), grads[0].clone()
        smaller.step()
        reference.step()
    torch.testing.assert_close(shrunk.detach().view(2, 5)[0], alone.detach(), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_named() -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError) as error:
        GroupedOptimizer([w], 1, "rmsprop")
    assert str(error.value) == "`name` must be one of adam, adamw, sgd, got 'rmsprop'"
    with pytest.raises(ValueError) as error:
        GroupedOptimizer([w], 1, "adam", lr=0.0)
    assert str(error.value) == "`lr` must be a finite number > 0, got 0.0"
    with pytest.raises(ValueError) as error:
        GroupedOptimizer([w], 1, "adam", weight_decay=-1)
    assert str(error.value) == "`weight_decay` must be a number >= 0, got -1"
