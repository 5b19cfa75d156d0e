"""A deep ensemble as one module: several networks of one architecture, trained with different seeds, averaged.

Averaging networks that differ only in their initialization and batch order removes part of the variance term of
the error (the part that depends on the seed) and none of the bias: the mean of M members has the members' bias and
1/M of their seed variance (Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty
Estimation using Deep Ensembles", NeurIPS 2017; on small data it is among the cheapest remedies, since a member
costs one refit).

Classification averages the members' *probabilities* (not their logits) and returns the log of that mean, so the
output is a valid logit vector: ``softmax`` of it is the mean probability, ``argmax`` the ensemble's class, and the
cross-entropy of it the ensemble's log loss. Regression averages the outputs.

With ``mirror=True`` every member also predicts the left-right mirror image of each input (flip test-time
augmentation) and the mean runs over members and both views. It suits images whose classes do not depend on
their orientation (CIFAR's animals and vehicles face either way) and hurts where they do (a mirrored 3 is no digit);
``fitguard doctor`` decides it on validation data (``fitguard.doctor.phases.mirror_helps``).

Example:
    >>> import torch
    >>> from torch import nn
    >>> a, b = nn.Linear(2, 3), nn.Linear(2, 3)
    >>> ensemble = MeanEnsemble([a, b], task="classification")
    >>> x = torch.randn(4, 2)
    >>> mean = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
    >>> torch.allclose(torch.softmax(ensemble(x), 1), mean, atol=1e-6)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fitguard._validation import check_in

TASKS = ("classification", "regression")


def mean_prediction(outputs: torch.Tensor, task: str) -> torch.Tensor:
    """Several predictions of the same rows, stacked on dimension 0, as one: the mean of the outputs (regression),
    or the log of the mean of their probabilities (classification; a valid logit vector, see the module).

    Args:
        outputs: (predictions, rows, outputs) raw outputs.
        task: "classification" or "regression".

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0]], [[0.0, 2.0]]])
        >>> torch.softmax(mean_prediction(logits, "classification"), -1)
        tensor([[0.5000, 0.5000]])
    """
    if task == "regression":
        return outputs.mean(dim=0)
    return torch.logsumexp(torch.log_softmax(outputs, dim=-1), dim=0) - math.log(len(outputs))


class MeanEnsemble(nn.Module):
    """The mean of ``members``' predictions: of probabilities for classification (returned as log-probabilities),
    of outputs for regression.

    Args:
        members: one or more networks with the same input and output shapes (usually one architecture trained with
            different seeds). Their ``state_dict`` keys become ``members.<i>.<key>``.
        task: "classification" or "regression".
        mirror: also average each member's prediction for the inputs mirrored left-right (their last dimension
            reversed: the width of an image batch (N, C, H, W)); default False.

    Raises:
        ValueError: no members, or an unknown task.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> images = torch.randn(2, 1, 2, 2)
        >>> both = torch.softmax(net(images), 1) + torch.softmax(net(images.flip(-1)), 1)
        >>> mirrored = MeanEnsemble([net], task="classification", mirror=True)
        >>> torch.allclose(torch.softmax(mirrored(images), 1), both / 2, atol=1e-6)
        True
    """

    def __init__(self, members: Sequence[nn.Module], task: str, mirror: bool = False) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member network")
        check_in("task", task, TASKS)
        self.members = nn.ModuleList(members)
        self.task = task
        self.mirror = bool(mirror)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the members' outputs (regression), or log of the mean of their probabilities (over both views of
        ``x`` with ``mirror``).

        Args:
            x: a batch of inputs, which every member takes.
        """
        views = (x, x.flip(-1)) if self.mirror else (x,)
        return mean_prediction(torch.stack([member(view) for member in self.members for view in views]), self.task)

    def extra_repr(self) -> str:
        """The number of members, the task and the mirror views, for the module's ``repr``."""
        return f"members={len(self.members)}, task={self.task!r}" + (", mirror=True" if self.mirror else "")
