"""Losses and metrics the Trainer understands by name, as pure functions on tensors.

Metrics are accumulated as tensor sums over an epoch (no ``.item()`` per step) and turned into floats once, at
the end of the epoch: ``MetricSums`` is that accumulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "mse", "bce")
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _match_regression_shape(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # a model with one output unit returns (B, 1); targets of one column arrive as (B,)
    if output.ndim == 2 and output.shape[1] == 1 and target.ndim == 1:
        return output[:, 0]
    return output


def resolve_loss(loss: str | LossFunction, label_smoothing: float = 0.0,
                 class_weight: torch.Tensor | None = None) -> tuple[LossFunction, str]:
    """Return ``(loss_fn, task)`` where task is 'classification', 'binary', 'regression' or 'custom'.

    Cross-entropy accepts class indices or soft targets (float (B, C) rows summing to 1, e.g. from mixup).

    Args:
        loss: "cross_entropy", "mse", "bce" or a callable ``loss(output, target)`` (task "custom").
        label_smoothing: cross-entropy's label smoothing, in [0, 1) (default 0).
        class_weight: one weight per class for cross-entropy (``F.cross_entropy``'s ``weight``: the batch loss is
            the weighted mean over its rows), e.g. :func:`fitguard.regularize.balanced_class_weights`; None
            (default): unweighted.

    Raises:
        ValueError: ``label_smoothing`` out of range or with another loss, class weights with another loss, or an
            unknown loss.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}")
    if class_weight is not None:
        check_weighted_loss(loss)
    if callable(loss):
        return loss, "custom"
    if loss == "cross_entropy":

        def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(output, target, weight=class_weight, label_smoothing=label_smoothing)

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


def check_weighted_loss(loss: str | LossFunction) -> None:
    """Refuse class weights with a loss that cannot take them (only cross-entropy does).

    Args:
        loss: the loss asked for.

    Raises:
        ValueError: ``loss`` is not "cross_entropy".
    """
    if loss != "cross_entropy":
        shown = "a callable" if callable(loss) else repr(loss)
        raise ValueError(f"`class_weight` applies to loss='cross_entropy' only, got loss={shown}")


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics logged for a task, besides ``loss``.

    Args:
        task: 'classification', 'binary', 'regression' or 'custom' (no metrics).
    """
    if task in ("classification", "binary"):
        return ("accuracy",)
    if task == "regression":
        return ("mae", "rmse", "r2")
    return ()


#: pending output elements after which an epoch's metrics are folded into running sums (bounds memory)
_FOLD_ELEMENTS = 1 << 22


@dataclass
class MetricSums:
    """Epoch metrics with no per-step work: ``add`` only keeps references to the batch's (detached) loss, outputs
    and targets; they are reduced in a few vectorized ops when the epoch ends (or when they grow past
    ``_FOLD_ELEMENTS``), and ``result`` syncs the device once.

    Args:
        task: 'classification', 'binary' or 'regression' (which metrics are kept).
        count: rows added so far (default 0).
    """

    task: str
    count: int = 0
    _losses: list[torch.Tensor] = field(default_factory=list)
    _sizes: list[int] = field(default_factory=list)
    _outputs: list[torch.Tensor] = field(default_factory=list)
    _targets: list[torch.Tensor] = field(default_factory=list)
    _pending: int = 0
    _sums: dict[str, torch.Tensor] = field(default_factory=dict)
    _loss_total: float = 0.0

    def add(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        """Keep one batch's loss, outputs and targets for the epoch's metrics (no device sync).

        Args:
            loss: the batch's mean loss, a 0-d tensor (weighted by the batch's rows).
            output: the batch's model outputs.
            target: its targets.
        """
        n = target.shape[0]
        self.count += n
        self._losses.append(loss.detach())
        self._sizes.append(n)
        if self.task in ("classification", "binary", "regression"):
            self._outputs.append(output.detach())
            self._targets.append(target)
            self._pending += output.numel()
            if self._pending > _FOLD_ELEMENTS:
                self._fold()

    def _accumulate(self, name: str, value: torch.Tensor) -> None:
        self._sums[name] = self._sums[name] + value if name in self._sums else value

    def _fold(self) -> None:
        if self._losses:
            # one sync for all the epoch's losses; summed in order in float64, as `total += loss.item() * n` does,
            # so the logged loss equals a hand-written loop's to the last bit
            # (stacking promotes mixed dtypes exactly; float64 losses are rounded to float32 one by one, as before)
            for value, size in zip(torch.stack(self._losses).float().tolist(), self._sizes):
                self._loss_total += value * size
        if self._outputs:
            output = torch.cat(self._outputs).float()
            target = torch.cat(self._targets)
            if self.task == "classification":
                labels = target.argmax(dim=1) if target.ndim == 2 else target
                self._accumulate("correct", (output.argmax(dim=1) == labels).sum())
            elif self.task == "binary":
                prediction = _match_regression_shape(output, target) > 0
                self._accumulate("correct", (prediction == (target > 0.5)).sum())
            else:
                target = target.float()
                error = _match_regression_shape(output, target) - target
                self._accumulate("abs_error", error.abs().sum())
                self._accumulate("sq_error", error.square().sum())
                self._accumulate("target_sum", target.sum())
                self._accumulate("target_sq_sum", target.square().sum())
        self._losses, self._sizes, self._outputs, self._targets, self._pending = [], [], [], [], 0

    def result(self, prefix: str = "") -> dict[str, float]:
        """The epoch's loss and metrics by name, weighted by rows (empty when nothing was added).

        Args:
            prefix: put before every metric's name (default none; ``"val_"``).
        """
        self._fold()
        if self.count == 0:
            return {}
        n = self.count
        sums = {name: float(value) for name, value in self._sums.items()}
        logs = {f"{prefix}loss": self._loss_total / n}
        if "correct" in sums:
            logs[f"{prefix}accuracy"] = sums["correct"] / n
        if "abs_error" in sums:
            logs[f"{prefix}mae"] = sums["abs_error"] / n
            logs[f"{prefix}rmse"] = (sums["sq_error"] / n) ** 0.5
            # total sum of squares from the running sums: Σy² − (Σy)²/n
            total = sums["target_sq_sum"] - sums["target_sum"] ** 2 / n
            logs[f"{prefix}r2"] = 1.0 - sums["sq_error"] / total if total > 0 else float("nan")
        return logs
