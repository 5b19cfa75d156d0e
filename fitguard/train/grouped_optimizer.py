"""Adam, AdamW and SGD over a :class:`~fitguard.models.grouped.GroupedNet`, with each member's own step count.

torch's optimizers act elementwise, so one of them over the grouped parameters takes the k members' steps at once
-- until members take different numbers of steps (folds a row apart make epochs a step apart): Adam's bias
correction then depends on the member's own step count, and a member with no rows in a step must not move at all
(Adam's momentum would move it on a zero gradient). This optimizer keeps one step count per member, skips absent
members, and shrinks with the network when members finish (:meth:`select`). The formulas are torch's own
(``torch.optim.Adam``/``AdamW``/``SGD`` with their defaults, ``maximize`` and ``amsgrad`` off), so a member's
trajectory equals its sequential training's to float tolerance (``tests/train/test_grouped_optimizer.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from fitguard._validation import check_number
from fitguard.models.grouped import member_slice

OPTIMIZERS = ("adam", "adamw", "sgd")


class GroupedOptimizer:
    """One optimizer over grouped parameters (members along dim 0 of every tensor).

    Args:
        params: the grouped network's trainable parameters (``GroupedNet.parameters()``).
        members: how many members the parameters hold.
        name: "adam", "adamw" or "sgd".
        lr: learning rate.
        weight_decay: L2 added to the gradient (adam, sgd) or decoupled decay (adamw); default 0.
        momentum: SGD's momentum (default 0.9, the Trainer's); unused by Adam.
        betas: Adam's moment decay rates (torch's default (0.9, 0.999)).
        eps: Adam's denominator term (torch's default 1e-8).

    Raises:
        ValueError: an unknown ``name``, or an ``lr``/``weight_decay`` out of range.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(4))           # 2 members of 2 weights
        >>> step = GroupedOptimizer([w], 2, "sgd", lr=0.1, momentum=0.0)
        >>> w.grad = torch.ones(4)
        >>> step.step(present=[True, False])
        >>> w.detach()
        tensor([-0.1000, -0.1000,  0.0000,  0.0000])
    """

    def __init__(self, params: Sequence[torch.Tensor], members: int, name: str = "adam", *, lr: float = 1e-3,
                 weight_decay: float = 0.0, momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"`name` must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
        check_number("lr", lr, low=0, closed="neither", finite=True)
        check_number("weight_decay", weight_decay, low=0)
        self.params = list(params)
        self.members = members
        self.name, self.lr, self.weight_decay, self.momentum = name, lr, weight_decay, momentum
        self.betas, self.eps = betas, eps
        self.steps = [0] * members
        slots = ("buffer",) if name == "sgd" else ("exp_avg", "exp_avg_sq")
        self.state = [{slot: torch.zeros_like(p) for slot in slots} for p in self.params]

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (set to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, present: Sequence[bool] | None = None) -> None:
        """One step of every member, or of those marked ``present`` (the others keep weights, state and count).

        Args:
            present: one flag per member; None (default): every member steps.
        """
        absent = [] if present is None else [m for m, here in enumerate(present) if not here]
        kept = [self._save(absent)] if absent else []
        for m in range(self.members):
            self.steps[m] += m not in absent
        if self.name == "sgd":
            self._sgd()
        else:
            self._adam()
        if kept:
            self._restore(absent, kept[0])

    def _sgd(self) -> None:
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            grad = p.grad if not self.weight_decay else p.grad.add(p, alpha=self.weight_decay)
            buffer = state["buffer"]
            # torch starts the buffer at the first gradient; from zeros, momentum * 0 + g is that gradient exactly
            buffer.mul_(self.momentum).add_(grad) if self.momentum else buffer.copy_(grad)
            p.add_(buffer, alpha=-self.lr)

    def _adam(self) -> None:
        beta1, beta2 = self.betas
        if len(set(self.steps)) == 1 and all(p.grad is not None for p in self.params):
            self._adam_together(self.steps[0])
            return
        # members a step apart: each its own bias correction, as a column over its block
        device, dtype = self.params[0].device, self.params[0].dtype
        t = torch.tensor(self.steps, dtype=torch.float64)
        step_size = (self.lr / (1 - beta1**t)).to(device, dtype).view(-1, 1)
        root = (1 - beta2**t).sqrt().to(device, dtype).view(-1, 1)
        k = self.members
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            grad = self._decayed(p, p.grad)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.view(k, -1).sqrt() / root).add_(self.eps)
            p.view(k, -1).addcdiv_(exp_avg.view(k, -1) * -step_size, denom)

    def _decayed(self, p: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        if self.weight_decay and self.name == "adamw":
            p.mul_(1 - self.lr * self.weight_decay)
        elif self.weight_decay:
            return grad.add(p, alpha=self.weight_decay)
        return grad

    def _adam_together(self, t: int) -> None:
        """Every member at step ``t``: torch's multi-tensor Adam, a few calls for all parameters."""
        beta1, beta2 = self.betas
        params = self.params
        grads = [self._decayed(p, p.grad) for p in params]  # type: ignore[arg-type]
        exp_avgs = [state["exp_avg"] for state in self.state]
        exp_avg_sqs = [state["exp_avg_sq"] for state in self.state]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, math.sqrt(1 - beta2**t))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, -self.lr / (1 - beta1**t))

    def _save(self, absent: list[int]) -> list[list[torch.Tensor]]:
        return [[member_slice(t, self.members, m).clone() for m in absent]
                for p, state in zip(self.params, self.state) for t in (p, *state.values())]

    def _restore(self, absent: list[int], saved: list[list[torch.Tensor]]) -> None:
        tensors = [t for p, state in zip(self.params, self.state) for t in (p, *state.values())]
        for tensor, copies in zip(tensors, saved):
            for m, value in zip(absent, copies):
                member_slice(tensor, self.members, m).copy_(value)

    def select(self, indices: Sequence[int], params: Sequence[torch.Tensor]) -> GroupedOptimizer:
        """This optimizer for members ``indices`` only, over ``params`` (the shrunk network's, same order).

        Args:
            indices: the members kept, in their new order.
            params: the shrunk network's parameters, in this optimizer's order.
        """
        chosen = GroupedOptimizer(params, len(indices), self.name, lr=self.lr, weight_decay=self.weight_decay,
                                  momentum=self.momentum, betas=self.betas, eps=self.eps)
        chosen.steps = [self.steps[i] for i in indices]
        chosen.state = [{slot: member_slice(value, self.members, list(indices)) for slot, value in state.items()}
                        for state in self.state]
        return chosen
