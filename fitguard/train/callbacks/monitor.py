"""One definition of "the monitored metric improved", shared by early stopping, checkpoints and LR schedules.

Keras and Lightning each copied this logic into every callback and the copies drifted; here it lives once.
"""

from __future__ import annotations

import math
from typing import Any

from fitguard._validation import check_in, check_number

_MODES = ("auto", "min", "max")
_DELTA_MODES = ("absolute", "relative")
# metrics where lower is better when mode="auto"
_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "penalty")


def resolve_mode(metric: str, mode: str) -> str:
    """'min' or 'max' for ``metric``; 'auto' picks 'min' for losses and errors, 'max' otherwise.

    Args:
        metric: the metric's name.
        mode: "min", "max" or "auto".

    Raises:
        ValueError: another ``mode``.
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be 'min', 'max' or 'auto', got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if any(word in metric for word in _LOWER_IS_BETTER) else "max"


class Monitor:
    """Tracks the best value of one logged metric, optionally smoothed by an exponential moving average.

    ``min_delta`` is the least change that counts as an improvement: absolute (``best - min_delta``) or
    relative (``best * (1 - min_delta)``, for mode 'min'). ``smoothing`` in [0, 1) is the EMA weight on the past:
    0 means raw values; 0.6 damps jittery validation curves.

    Args:
        metric: Name of the logged metric to watch, e.g. ``"val_loss"`` (default) or ``"val_accuracy"``; an
            empty or non-string name raises ``ValueError``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default): auto is "min" when the name contains loss, error,
            mae, mse, rmse or penalty, "max" otherwise.
        min_delta: Least change that counts as an improvement, >= 0, in the metric's units (absolute) or as a
            fraction of the best value (relative, then < 1). Default 0: any strict improvement counts.
        delta_mode: ``"absolute"`` (default) or ``"relative"``: how ``min_delta`` is applied.
        smoothing: EMA weight on the past in [0, 1); 0 (default) compares raw values.
        baseline: A value a reading must beat (by more than ``min_delta``) before any reading counts as an
            improvement; None (default): the first non-NaN value is the first best.

    Example:
        >>> m = Monitor("val_loss", min_delta=0.01)
        >>> [m.update(v) for v in (1.0, 0.995, 0.9)]
        [True, False, True]
    """

    def __init__(
        self,
        metric: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        delta_mode: str = "absolute",
        smoothing: float = 0.0,
        baseline: float | None = None,
    ) -> None:
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"`monitor` must be a metric name such as 'val_loss', got {metric!r}")
        check_number("min_delta", min_delta, low=0, finite=True)
        check_in("delta_mode", delta_mode, _DELTA_MODES)
        if delta_mode == "relative" and min_delta >= 1:
            raise ValueError(f"`min_delta` must be < 1 with delta_mode='relative', got {min_delta!r}")
        check_number("smoothing", smoothing, low=0, high=1, closed="left")
        self.metric = metric
        self.mode = mode
        self.min_delta = min_delta
        self.delta_mode = delta_mode
        self.smoothing = smoothing
        self.baseline = baseline
        self._direction = resolve_mode(metric, mode)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.smoothed: float | None = None

    def is_better(self, value: float, reference: float) -> bool:
        """Whether ``value`` beats ``reference`` by more than ``min_delta``; NaN never does.

        Args:
            value: the candidate reading.
            reference: the reading to beat (the best so far or the baseline).
        """
        if math.isnan(value):
            return False
        if self.delta_mode == "relative":
            margin = abs(reference) * self.min_delta
        else:
            margin = self.min_delta
        if self._direction == "min":
            return value < reference - margin
        return value > reference + margin

    def smooth(self, value: float) -> float:
        """Fold ``value`` into the exponential moving average (``smoothing`` 0: the value itself) and return it.

        Args:
            value: this epoch's raw reading; a NaN average restarts from it.
        """
        if self.smoothing == 0 or self.smoothed is None or math.isnan(self.smoothed):
            self.smoothed = value
        else:
            self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * value
        return self.smoothed

    def update(self, value: float, epoch: int | None = None) -> bool:
        """Feed one epoch's value; return True and record it as best if it improves on the best so far.

        The value is smoothed first; before any best, it must beat ``baseline`` when one is set (any non-NaN value
        does otherwise).

        Args:
            value: this epoch's raw reading.
            epoch: the epoch to record as ``best_epoch`` on improvement; None (default) records None.
        """
        value = self.smooth(float(value))
        reference = self.best if self.best is not None else self.baseline
        improved = (not math.isnan(value)) if reference is None else self.is_better(value, reference)
        if improved:
            self.best = value
            self.best_epoch = epoch
        return improved

    def value(self, logs: dict[str, float]) -> float:
        """The monitored value in an epoch's logs, as a float.

        Args:
            logs: the epoch's metrics by name.

        Raises:
            ValueError: when ``metric`` is not logged, listing what is.
        """
        if self.metric not in logs:
            available = ", ".join(sorted(k for k in logs if k not in ("epoch", "time")))
            raise ValueError(f"cannot monitor {self.metric!r}: it is not logged; available metrics: {available}")
        return float(logs[self.metric])

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``Monitor(**config)`` builds an equal one."""
        return {
            "metric": self.metric,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "delta_mode": self.delta_mode,
            "smoothing": self.smoothing,
            "baseline": self.baseline,
        }

    def reset(self) -> None:
        """Forget every value seen (a new training begins)."""
        self.best = self.best_epoch = self.smoothed = None

    def state_dict(self) -> dict[str, Any]:
        """The progress a resumed run needs: ``best``, ``best_epoch`` and the ``smoothed`` average."""
        return {"best": self.best, "best_epoch": self.best_epoch, "smoothed": self.smoothed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Args:
            state: a dict with ``best``, ``best_epoch`` and ``smoothed``.
        """
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.smoothed = state["smoothed"]
