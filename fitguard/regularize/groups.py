"""Optimizer parameter groups for decoupled L2: each penalty's parameters get their own ``weight_decay``.

An optimizer lets a parameter live in one group only, so two decoupled penalties that select the same
parameter are an error rather than a silent "last one wins".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from fitguard.regularize.penalties import L2, Penalty


def param_groups(model: nn.Module, penalties: Sequence[Penalty], weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Groups for ``torch.optim``: one per decoupled penalty, then every other parameter with ``weight_decay``.

    Penalties that are not decoupled are ignored here (they act through the loss or ``after_step``).

    Args:
        model: The module whose parameters are grouped.
        penalties: Penalties; each decoupled one (only :class:`L2` may be) claims its selected parameters.
        weight_decay: The ``weight_decay`` of the group of every unclaimed parameter, >= 0. Default 0.

    Raises:
        ValueError: a decoupled penalty other than L2, or one parameter selected by two decoupled penalties.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> groups = param_groups(model, [L2(0.01, layers="2.weight", decoupled=True)])
        >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
        [(1, 0.02), (3, 0.0)]
    """
    claimed: dict[int, tuple[str, Penalty]] = {}
    groups: list[dict[str, Any]] = []
    for penalty in penalties:
        if not penalty.decoupled:
            continue
        if not isinstance(penalty, L2):
            raise ValueError(f"only L2 can be decoupled, got {penalty!r}")
        selected = penalty.select(model)
        for name, parameter in selected:
            if id(parameter) in claimed:
                raise ValueError(
                    f"parameter {name!r} is selected by two decoupled penalties, {claimed[id(parameter)][1]!r} "
                    f"and {penalty!r}; an optimizer puts each parameter in one group, so make their `layers` disjoint"
                )
            claimed[id(parameter)] = (name, penalty)
        groups.append(penalty.param_group(selected))
    rest = [p for p in model.parameters() if id(p) not in claimed]
    if rest:
        groups.append({"params": rest, "weight_decay": weight_decay})
    return groups
