"""Train one configuration and score it: the validation metric, the generalization gap, size and time.

Every search (grid, study, ablation) scores runs here, so "score" means one thing: the metric measured in
eval mode on the validation part after training (with ``restore_best`` early stopping, of the best epoch).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fitguard.config import TrainConfig
from fitguard.data import Dataset, TensorData
from fitguard.models import count_parameters
from fitguard.recipe import build_run
from fitguard.train import Callback, History, Trainer
from fitguard.train.callbacks.monitor import resolve_mode


@dataclass(frozen=True)
class Score:
    """What one training run measured. ``gap`` > 0 means validation is worse than training.

    Args:
        value: The validation metric at the end of training (after any restored best weights).
        train_value: The same metric on the training rows.
        gap: How much worse validation is than training, in the metric's units.
        epochs: Epochs trained.
        parameters: Parameters of the model.
        seconds: Wall time of building, training and scoring.
    """

    value: float
    train_value: float
    gap: float
    epochs: int
    parameters: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The fields by name, as plain data."""
        return asdict(self)


def resolve_metric(metric: str, task: str) -> tuple[str, str]:
    """``(name, mode)`` of a validation metric; 'auto' is val_accuracy for classes, val_loss otherwise.

    Args:
        metric: ``"auto"`` or a metric name starting with ``val_`` (e.g. ``"val_loss"``).
        task: The data's task, ``"classification"`` or ``"regression"`` (decides ``"auto"``).

    Raises:
        ValueError: a metric that is neither ``"auto"`` nor a ``val_`` name.
    """
    if metric == "auto":
        metric = "val_accuracy" if task == "classification" else "val_loss"
    if not isinstance(metric, str) or not metric.startswith("val_"):
        raise ValueError(f"`metric` must be 'auto' or a validation metric such as 'val_loss', got {metric!r}")
    return metric, resolve_mode(metric, "auto")


def gap_of(train_value: float, val_value: float, mode: str) -> float:
    """How much worse validation is than training, in the metric's units (positive = overfitting).

    Args:
        train_value: the metric on the training rows.
        val_value: the metric on the validation rows.
        mode: "max" when larger is better, anything else when smaller is.
    """
    return train_value - val_value if mode == "max" else val_value - train_value


def add_callbacks(trainer: Trainer, callbacks: Sequence[Callback]) -> None:
    """Attach callbacks to a trainer built by the recipe (before ``fit``).

    Args:
        trainer: the trainer.
        callbacks: the callbacks to add to its own.
    """
    trainer.add_callbacks(callbacks)


def fit_and_score(
    config: TrainConfig,
    data: Dataset,
    train: TensorData,
    val: TensorData,
    metric: str = "auto",
    callbacks: Sequence[Callback] = (),
) -> tuple[Score, History]:
    """Build the run from ``config`` (model shapes from ``data``), fit on ``train``, score on ``val``.

    Args:
        config: The recipe to train.
        data: The dataset the model's input and output shapes come from.
        train: Rows to train on (e.g. one CV fold's training part).
        val: Rows that validate each epoch and are scored at the end.
        metric: ``"auto"`` (default) or a ``val_*`` metric (see :func:`resolve_metric`).
        callbacks: Extra callbacks for the trainer (e.g. a :class:`PruningCallback`). Default none.

    Returns:
        The :class:`Score` and the training :class:`~fitguard.train.History`.

    Raises:
        ValueError: ``metric`` is no validation metric, or one the trainer does not measure on this task (known
            only once it has evaluated, i.e. after training).
    """
    name, mode = resolve_metric(metric, data.task)
    started = time.perf_counter()
    run = build_run(config, data=data)
    add_callbacks(run.trainer, callbacks)
    history = run.trainer.fit(train, val)
    key = name[len("val_"):]
    val_scores = run.trainer.evaluate(val)
    if key not in val_scores:  # val_accuracy on regression data, or a misspelt name: say so, not KeyError
        measured = ", ".join(f"val_{k}" for k in val_scores) or "nothing (the validation part is empty)"
        raise ValueError(f"cannot score {name!r}: it is not measured on this {data.task} data; measured: {measured}")
    val_value = val_scores[key]
    train_value = run.trainer.evaluate(train)[key]
    score = Score(
        value=val_value,
        train_value=train_value,
        gap=gap_of(train_value, val_value, mode),
        epochs=len(history),
        parameters=count_parameters(run.model),
        seconds=time.perf_counter() - started,
    )
    return score, history
