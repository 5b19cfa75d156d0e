"""Proximal L1: the soft-threshold operator that makes weights exactly zero, scaled to the optimizer's own step.

A gradient step on ``lam * |w|`` moves a weight by ``lr * lam * sign(w)`` and so jumps over zero forever (the
subgradient method, what Keras' ``l1`` does). The proximal step instead solves
``argmin_v (v - w)^2 / (2 * eta) + lam * |v|`` in closed form: shrink ``|w|`` by ``t = eta * lam`` and stop at
zero. Alternating a gradient step of size ``eta`` on the data loss with this step is ISTA (proximal gradient
descent), whose fixed points are exactly the minimizers of ``loss + lam * Σ|w|``.

The threshold must use the step the optimizer really took, or the fixed point is the lasso of another ``lam``.
:func:`proximal_step` reads it from the optimizer: the L1 term stays out of the optimizer (out of its momentum
buffer and second moments), the optimizer steps on the smooth loss, then the weights are soft-thresholded by
``lam * eta``, where ``eta`` is such that the optimizer's update at a fixed point is ``eta * gradient``:

* SGD: ``eta = lr``.
* SGD with momentum ``β`` (dampening ``d``): the buffer settles at ``(1 - d) * g / (1 - β)``, so
  ``eta = lr * (1 - d) / (1 - β)``; Nesterov: ``lr * (1 + β * (1 - d) / (1 - β))``. With ``lr * lam`` instead,
  the fixed point is the lasso of ``lam * (1 - β)`` (10× too weak at ``β = 0.9``).
* Adam / AdamW: per coordinate ``eta = lr / (sqrt(v̂) + eps)`` with ``v̂`` the bias-corrected second moment (the
  running maximum with ``amsgrad``): the preconditioned proximal step. A fixed point then satisfies
  ``∇loss + lam * sign(w) = 0`` on the nonzero weights and ``|∇loss| <= lam`` on the zeros: the lasso's conditions,
  the same ``lam`` under every optimizer. AdamW's decoupled ``weight_decay`` adds its own
  ``weight_decay * (sqrt(v̂) + eps) * w`` to that balance, as it does without L1.
"""

from __future__ import annotations

import math

import torch

# The optimizers whose update `proximal_step` knows; others have no documented step to match.
PROXIMAL_OPTIMIZERS = ("SGD", "Adam", "AdamW")


def soft_threshold(w: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """``sign(w) * max(|w| - t, 0)``: the proximal operator of ``t * |w|``.

    Args:
        w: The values to shrink (any shape); not modified.
        t: The threshold, a number >= 0 or a tensor broadcastable to ``w`` (per-coordinate thresholds).

    Returns:
        A new tensor like ``w``; entries with ``|w| <= t`` are exactly +0.0.

    Raises:
        ValueError: a number ``t`` below 0 (or NaN).

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
def soft_threshold_(tensors: list[torch.Tensor], t: float | torch.Tensor) -> None:
    """Soft-threshold each tensor in place (used after an optimizer step); ``t`` a number or a per-coordinate tensor.

    Args:
        tensors: the tensors to shrink toward zero, in place.
        t: the threshold, a number or a tensor of per-coordinate thresholds.
    """
    for tensor in tensors:
        shrunk = tensor.abs().sub_(t).clamp_(min=0)
        # + 0.0 turns the -0.0 of zeroed negative weights into +0.0, matching soft_threshold bit for bit
        tensor.sign_().mul_(shrunk).add_(0.0)


def proximal_step(
    optimizer: torch.optim.Optimizer, group: dict, parameter: torch.Tensor
) -> float | torch.Tensor:
    """The step ``eta`` of ``optimizer``'s last update of ``parameter`` (in ``group``): threshold ``lam * eta``.

    A number for SGD, a new tensor shaped like ``parameter`` for Adam and AdamW (read from their state, so call it
    after ``optimizer.step()``; the caller may scale it in place). See the module docstring for the formulas and why
    they hold at a fixed point.

    Args:
        optimizer: a ``torch.optim.SGD``, ``Adam`` or ``AdamW`` (or a subclass).
        group: the optimizer's parameter group that holds ``parameter`` (its own ``lr``, momentum, betas, eps).
        parameter: a parameter the optimizer has stepped.

    Raises:
        ValueError: another optimizer, ``maximize=True``, or Adam state missing (no step taken yet).

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> round(proximal_step(optimizer, optimizer.param_groups[0], w), 6)
        1.0
    """
    if group.get("maximize", False):
        raise ValueError("proximal L1 needs a minimizing optimizer, got `maximize=True`")
    lr = group["lr"]
    if isinstance(optimizer, torch.optim.Adam):  # AdamW subclasses Adam: the same moments and denominator
        state = optimizer.state.get(parameter)
        if not state or "step" not in state:
            name = type(optimizer).__name__
            raise ValueError(f"{name} has no state for this parameter yet; call proximal_step after optimizer.step()")
        _, beta2 = group["betas"]
        second_moment = state["max_exp_avg_sq"] if group["amsgrad"] else state["exp_avg_sq"]
        bias_correction2 = 1 - beta2 ** float(state["step"])
        # torch's denominator, as it writes it: sqrt(v) / sqrt(1 - β2^t) + eps; in place on one fresh tensor
        return second_moment.sqrt().div_(math.sqrt(bias_correction2)).add_(group["eps"]).reciprocal_().mul_(lr)
    if isinstance(optimizer, torch.optim.SGD):
        momentum, dampening = group["momentum"], group["dampening"]
        if momentum == 0:
            return lr
        if group["nesterov"]:
            return lr * (1 + momentum * (1 - dampening) / (1 - momentum))
        return lr * (1 - dampening) / (1 - momentum)
    raise ValueError(
        f"proximal L1 needs the optimizer's step size, known for {', '.join(PROXIMAL_OPTIMIZERS)}; "
        f"got {type(optimizer).__name__}"
    )
