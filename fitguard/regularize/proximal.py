"""Proximal L1: the soft-threshold operator that makes weights exactly zero.

A gradient step on ``lam * |w|`` moves a weight by ``lr * lam * sign(w)`` and so jumps over zero forever (the
subgradient method, what Keras' ``l1`` does). The proximal step instead solves
``argmin_v (v - w)^2 / (2 * lr) + lam * |v|`` in closed form: shrink ``|w|`` by ``t = lr * lam`` and stop at zero.
Alternating a gradient step on the data loss with this step is ISTA (proximal gradient descent).
"""

from __future__ import annotations

import torch


def soft_threshold(w: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """``sign(w) * max(|w| - t, 0)``: the proximal operator of ``t * |w|``.

    Example:
        >>> soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5]), 0.5).tolist()
        [-1.5, 0.0, 0.0, 0.0, 1.0]
    """
    if not isinstance(t, torch.Tensor) and not t >= 0:
        raise ValueError(f"`t` must be >= 0, got {t!r}")
    shrunk = w.abs() - t
    # where() rather than sign * clamp: the zeros come out as +0.0, never -0.0
    return torch.where(shrunk > 0, torch.sign(w) * shrunk, torch.zeros_like(w))


@torch.no_grad()
def soft_threshold_(tensors: list[torch.Tensor], t: float) -> None:
    """Soft-threshold each tensor in place (used after an optimizer step)."""
    for tensor in tensors:
        shrunk = tensor.abs().sub_(t).clamp_(min=0)
        # + 0.0 turns the -0.0 of zeroed negative weights into +0.0, matching soft_threshold bit for bit
        tensor.sign_().mul_(shrunk).add_(0.0)
