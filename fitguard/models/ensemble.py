"""A deep ensemble as one module: several networks of one architecture, trained with different seeds, averaged.

Averaging networks that differ only in their initialization and batch order removes part of the variance term of
the error (the part that depends on the seed) and none of the bias: the mean of M members has the members' bias and
1/M of their seed variance (Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty
Estimation using Deep Ensembles", NeurIPS 2017; on small data it is among the cheapest remedies, since a member
costs one refit).

Classification averages the members' *probabilities* (not their logits) and returns the log of that mean, so the
output is a valid logit vector: ``softmax`` of it is the mean probability, ``argmax`` the ensemble's class, and the
cross-entropy of it the ensemble's log loss. Regression averages the outputs.

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


class MeanEnsemble(nn.Module):
    """The mean of ``members``' predictions: of probabilities for classification (returned as log-probabilities),
    of outputs for regression.

    Args:
        members: one or more networks with the same input and output shapes (usually one architecture trained with
            different seeds). Their ``state_dict`` keys become ``members.<i>.<key>``.
        task: "classification" or "regression".

    Raises:
        ValueError: no members, or an unknown task.
    """

    def __init__(self, members: Sequence[nn.Module], task: str) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member network")
        check_in("task", task, TASKS)
        self.members = nn.ModuleList(members)
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the members' outputs (regression), or log of the mean of their probabilities.

        Args:
            x: a batch of inputs, which every member takes.
        """
        outputs = torch.stack([member(x) for member in self.members])
        if self.task == "regression":
            return outputs.mean(dim=0)
        return torch.logsumexp(torch.log_softmax(outputs, dim=-1), dim=0) - math.log(len(self.members))

    def extra_repr(self) -> str:
        """The number of members and the task, for the module's ``repr``."""
        return f"members={len(self.members)}, task={self.task!r}"
