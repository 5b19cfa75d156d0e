"""Stop training when the monitored metric stops improving, and say why with numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from fitguard._validation import check_int, check_number
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.monitor import Monitor, resolve_mode

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


class EarlyStopping(Callback):
    """Keras/Lightning-style early stopping on one shared :class:`Monitor`.

    - ``patience``: stop at the ``patience``-th epoch in a row without improvement (as Keras and Lightning;
      0 and 1 both stop at the first epoch that does not improve).
    - ``min_delta`` / ``delta_mode``: least improvement that counts, absolute or relative to the best.
    - ``baseline``: the metric must beat this value; without ever beating it the run stops after ``patience``.
    - ``start_from_epoch``: epochs 1..start_from_epoch are not monitored (warm-up).
    - ``smoothing``: EMA weight on the past in [0, 1), for jittery validation curves.
    - ``restore_best``: at the end of the run, load the weights of the best epoch.

    Args:
        monitor: Logged metric to watch (default ``"val_loss"``); the Trainer refuses a name it does not log.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default; "min" for losses and errors), as :class:`Monitor`.
        patience: Epochs in a row without improvement that stop the run, an integer >= 0. Default 10.
        min_delta: Least improvement that counts, >= 0 (metric units, or a fraction < 1 when relative).
            Default 0.
        delta_mode: ``"absolute"`` (default) or ``"relative"`` to the best value.
        baseline: A finite value the metric must beat; None (default): no baseline.
        start_from_epoch: Number of warm-up epochs not monitored, >= 0. Default 0.
        restore_best: Keep a copy of the best epoch's weights and load them when the run ends. Default False.
        smoothing: EMA weight on the past in [0, 1); 0 (default) watches raw values.
        verbose: Kept in :meth:`get_config` only; it changes nothing today (the reason for stopping is always
            in ``History.stop_reason``). Default False.

    Raises:
        ValueError: a negative or non-integer ``patience`` or ``start_from_epoch``, a non-finite ``baseline``,
            or a bad ``monitor``/``mode``/``min_delta``/``delta_mode``/``smoothing`` (see :class:`Monitor`).

    Example:
        >>> stopper = EarlyStopping(monitor="val_loss", patience=3)
        >>> stopper.get_config()["patience"]
        3
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 10,
        min_delta: float = 0.0,
        delta_mode: str = "absolute",
        baseline: float | None = None,
        start_from_epoch: int = 0,
        restore_best: bool = False,
        smoothing: float = 0.0,
        verbose: bool = False,
    ) -> None:
        check_int("patience", patience, low=0)
        check_int("start_from_epoch", start_from_epoch, low=0)
        check_number("baseline", baseline, finite=True, none_ok=True)
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.delta_mode = delta_mode
        self.baseline = baseline
        self.start_from_epoch = start_from_epoch
        self.restore_best = restore_best
        self.smoothing = smoothing
        self.verbose = verbose
        self._monitor = Monitor(monitor, mode, min_delta, delta_mode, smoothing, baseline)
        self._reset()

    def _reset(self) -> None:
        """The state of a training that has seen no epoch yet."""
        self._monitor.reset()
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.reason: str | None = None
        self.restored_epoch: int | None = None
        self._best_weights: dict[str, torch.Tensor] | None = None

    @property
    def best(self) -> float | None:
        return self._monitor.best

    @property
    def best_epoch(self) -> int | None:
        return self._monitor.best_epoch

    def watches(self, metric: str, mode: str) -> bool:
        """Whether this stopper judges ``metric`` in the direction ``mode`` asks for ('auto' resolved for both).

        A :class:`Checkpoint` that watches the same then takes its "best" from here, so the weights restored and
        ``best.safetensors`` come from the same epoch even with ``smoothing``, ``min_delta`` or ``baseline``.

        Args:
            metric: the other callback's monitored metric.
            mode: its direction, 'min', 'max' or 'auto'.

        Example:
            >>> EarlyStopping(monitor="val_loss").watches("val_loss", "min")
            True
            >>> EarlyStopping(monitor="val_loss").watches("val_loss", "max")
            False
        """
        return metric == self.monitor and resolve_mode(metric, mode) == resolve_mode(self.monitor, self.mode)

    def decide(self, epoch: int, value: float) -> tuple[bool, bool, str | None]:
        """Feed one epoch's value; return ``(improved, should_stop, reason)``. Pure of the trainer.

        Args:
            epoch: the epoch the value belongs to; up to ``start_from_epoch`` it is ignored.
            value: the monitored metric's value that epoch (NaN stops at once).

        Returns:
            Whether it improved on the best, whether to stop now, and the reason for stopping (None otherwise).
        """
        if epoch <= self.start_from_epoch:
            return False, False, None
        improved = self._monitor.update(value, epoch)
        if improved:
            self.wait = 0
            return True, False, None
        self.wait += 1
        if self.wait < self.patience and not math.isnan(value):
            return False, False, None
        if math.isnan(value):
            return False, True, f"{self.monitor} is nan at epoch {epoch}"
        monitor = self._monitor
        shown = f"smoothed {self.monitor}" if self.smoothing else self.monitor
        delta = f"{self.min_delta:g}" + (" (relative)" if self.delta_mode == "relative" else "")
        if monitor.best is None:
            return False, True, (
                f"{shown} did not beat the baseline {self.baseline:g} in {self.wait} epochs "
                f"(last {_fmt(monitor.smoothed)} at epoch {epoch})"
            )
        return False, True, (
            f"{shown} did not improve by more than {delta} for {self.wait} epochs "
            f"(best {_fmt(monitor.best)} at epoch {monitor.best_epoch}, last {_fmt(monitor.smoothed)} at epoch {epoch})"
        )

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch == 0:  # a fresh training (a resumed one has loaded its state): forget any earlier one's,
            # as Keras resets in on_train_begin -- one EarlyStopping reused across folds must not carry its best over
            self._reset()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = self._monitor.value(logs)
        improved, stop, reason = self.decide(epoch, value)
        if improved and self.restore_best:
            self._best_weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        if stop:
            self.stopped_epoch = epoch
            self.reason = reason
            trainer.request_stop(f"early stopping: {reason}")

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self._best_weights is not None:
            trainer.model.load_state_dict(self._best_weights)
            self.restored_epoch = self._monitor.best_epoch
            trainer.restored_epoch = self.restored_epoch

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "delta_mode": self.delta_mode,
            "baseline": self.baseline,
            "start_from_epoch": self.start_from_epoch,
            "restore_best": self.restore_best,
            "smoothing": self.smoothing,
            "verbose": self.verbose,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self._monitor.state_dict(),
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "reason": self.reason,
            "best_weights": self._best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state["monitor"])
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.reason = state["reason"]
        self._best_weights = state["best_weights"]
