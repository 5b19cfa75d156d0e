"""Losses and metrics the Trainer understands by name, as pure functions on tensors.

Metrics are accumulated as tensor sums over an epoch (no ``.item()`` per step) and turned into floats once, at
the end of the epoch: ``MetricSums`` is that accumulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "mse", "bce")
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _match_regression_shape(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # a model with one output unit returns (B, 1); targets of one column arrive as (B,)
    if output.ndim == 2 and output.shape[1] == 1 and target.ndim == 1:
        return output[:, 0]
    return output


def resolve_loss(loss: str | LossFunction, label_smoothing: float = 0.0) -> tuple[LossFunction, str]:
    """Return ``(loss_fn, task)`` where task is 'classification', 'binary' or 'regression'.

    Cross-entropy accepts class indices or soft targets (float (B, C) rows summing to 1, e.g. from mixup).
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}")
    if callable(loss):
        return loss, "custom"
    if loss == "cross_entropy":

        def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(output, target, label_smoothing=label_smoothing)

        return cross_entropy, "classification"
    if label_smoothing:
        raise ValueError(f"`label_smoothing` applies to loss='cross_entropy' only, got loss={loss!r}")
    if loss == "mse":

        def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(_match_regression_shape(output, target), target)

        return mse, "regression"
    if loss == "bce":

        def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(_match_regression_shape(output, target), target.float())

        return bce, "binary"
    raise ValueError(f"`loss` must be one of {', '.join(LOSSES)} or a callable, got {loss!r}")


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics logged for a task, besides ``loss``."""
    if task in ("classification", "binary"):
        return ("accuracy",)
    if task == "regression":
        return ("mae", "rmse", "r2")
    return ()


@dataclass
class MetricSums:
    """Running sums for one epoch; ``add`` stays on the device, ``result`` syncs once."""

    task: str
    count: int = 0
    loss: torch.Tensor | None = None
    correct: torch.Tensor | None = None
    abs_error: torch.Tensor | None = None
    sq_error: torch.Tensor | None = None
    target_sum: torch.Tensor | None = None
    target_sq_sum: torch.Tensor | None = None

    def add(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        n = target.shape[0]
        self.count += n
        batch_loss = loss.detach() * n
        self.loss = batch_loss if self.loss is None else self.loss + batch_loss
        output = output.detach()
        if self.task == "classification":
            labels = target.argmax(dim=1) if target.ndim == 2 else target
            correct = (output.argmax(dim=1) == labels).sum()
            self.correct = correct if self.correct is None else self.correct + correct
        elif self.task == "binary":
            prediction = _match_regression_shape(output, target) > 0
            correct = (prediction == (target > 0.5)).sum()
            self.correct = correct if self.correct is None else self.correct + correct
        elif self.task == "regression":
            error = (_match_regression_shape(output, target).float() - target.float())
            target = target.float()
            sums = (error.abs().sum(), error.square().sum(), target.sum(), target.square().sum())
            if self.abs_error is None:
                self.abs_error, self.sq_error, self.target_sum, self.target_sq_sum = sums
            else:
                self.abs_error = self.abs_error + sums[0]
                self.sq_error = self.sq_error + sums[1]
                self.target_sum = self.target_sum + sums[2]
                self.target_sq_sum = self.target_sq_sum + sums[3]

    def result(self, prefix: str = "") -> dict[str, float]:
        if self.count == 0 or self.loss is None:
            return {}
        n = self.count
        logs = {f"{prefix}loss": float(self.loss) / n}
        if self.correct is not None:
            logs[f"{prefix}accuracy"] = float(self.correct) / n
        if self.abs_error is not None:
            sq_error = float(self.sq_error)
            logs[f"{prefix}mae"] = float(self.abs_error) / n
            logs[f"{prefix}rmse"] = (sq_error / n) ** 0.5
            # total sum of squares from the running sums: Σy² − (Σy)²/n
            total = float(self.target_sq_sum) - float(self.target_sum) ** 2 / n
            logs[f"{prefix}r2"] = 1.0 - sq_error / total if total > 0 else float("nan")
        return logs
