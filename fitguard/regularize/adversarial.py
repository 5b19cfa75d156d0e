"""Adversarial training with the fast gradient sign method (FGSM).

Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples" (ICLR 2015): the worst input
perturbation of size ``epsilon`` (max norm) to first order is ``epsilon * sign(grad_x loss)``; training on the
objective ``(1 - weight) * loss(x) + weight * loss(x + epsilon * sign(grad_x loss(x)))`` (their ``alpha = 0.5``)
regularizes beyond dropout on MNIST. Kadra et al. (NeurIPS 2021) count FGSM adversarial training among the
regularizers of their tabular "cocktail".

``epsilon`` is in the units of the model's inputs: fitguard standardizes table columns (so 0.1 is a tenth of a
column's spread) and scales images to [0, 1]. The perturbation's gradient is taken at the current weights in
training mode, with respect to the inputs only: it adds no gradient to the weights by itself, and the
perturbed rows are not clipped (a standardized column has no range to clip to). Inputs that are codes of learned
embeddings have no gradient (the embedding rounds them), so they are left as they are.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]])), model.bias.zero_()
    >>> x, y = torch.tensor([[0.5, 0.0]]), torch.tensor([0])
    >>> FGSM(epsilon=0.1).perturb(model, torch.nn.functional.cross_entropy, x, y)   # away from class 0
    tensor([[0.4000, 0.1000]])
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fitguard._validation import check_number


class FGSM:
    """Adversarial training on FGSM examples (see the module docstring).

    Args:
        epsilon: the perturbation's size per input value (max norm), > 0, in the inputs' units.
        weight: the adversarial loss's share of the training objective, in (0, 1]; 0.5 (default) as Goodfellow
            et al.; 1 trains on the perturbed rows alone.

    Raises:
        ValueError: ``epsilon`` or ``weight`` out of range, named with what is allowed.
    """

    def __init__(self, epsilon: float = 0.03, weight: float = 0.5) -> None:
        self.epsilon = check_number("epsilon", epsilon, low=0, closed="neither", finite=True)
        self.weight = check_number("weight", weight, low=0, high=1, closed="right")

    def __repr__(self) -> str:
        return f"FGSM(epsilon={self.epsilon!r}, weight={self.weight!r})"

    def perturb(self, model: Callable[[torch.Tensor], torch.Tensor],
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x + epsilon * sign(grad_x loss_fn(model(x), y))``, detached (no graph kept, no weight gradient).

        Args:
            model: the network (called on ``x``).
            loss_fn: the training loss, ``loss_fn(output, y)``.
            x: a batch of inputs (floating point).
            y: its targets.
        """
        inputs = x.detach().requires_grad_(True)
        loss = loss_fn(model(inputs), y)
        (gradient,) = torch.autograd.grad(loss, inputs)
        return (x.detach() + self.epsilon * gradient.sign()).detach()

    def objective(self, model: Callable[[torch.Tensor], torch.Tensor],
                  loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  x: torch.Tensor, y: torch.Tensor, clean_loss: torch.Tensor) -> torch.Tensor:
        """The training objective ``(1 - weight) * clean_loss + weight * loss_fn(model(x_adv), y)``.

        Args:
            model: the network.
            loss_fn: the training loss.
            x: the batch the clean loss was computed on.
            y: its targets.
            clean_loss: ``loss_fn(model(x), y)``, with its graph.
        """
        adversarial = loss_fn(model(self.perturb(model, loss_fn, x, y)), y)
        return (1 - self.weight) * clean_loss + self.weight * adversarial
