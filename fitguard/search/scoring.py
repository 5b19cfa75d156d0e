"""Train one recipe and score it: the one typed result every search returns, and the one training that makes it.

Every search -- :func:`fitguard.search.grid_cv`, :func:`fitguard.search.study`'s workers,
:func:`fitguard.search.ablation` and every phase of ``fitguard doctor`` -- scores a training here, so "score" means
one thing: the validation metric measured in eval mode after training (with ``restore_best`` early stopping, of the
best epoch; a snapshot ensemble or weight average as it is shipped), turned so that higher is better.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fitguard.config import TrainConfig
from fitguard.data import Dataset, TensorData
from fitguard.models import count_parameters
from fitguard.models.ensemble import MeanEnsemble, mean_prediction
from fitguard.recipe import Run, build_run
from fitguard.train import Callback, History, Trainer
from fitguard.train.callbacks.monitor import resolve_mode


@dataclass
class Trial:
    """What one recipe scored, by holdout or k-fold: the validation score turned so that higher is better, the
    train - validation gap, size and cost. One type for every search (scikit-learn's ``cv_results_`` row, typed).

    Args:
        name: the trial's name.
        phase: the search (or search phase) it belongs to.
        recipe: the recipe it trained (the spec sections it sets on top of the base spec).
        val_score: its validation score, higher is better: the metric for one whose larger values are better
            (accuracy), minus it otherwise (a loss); the mean over folds when cross-validated.
        gap: how much worse validation is than training, in the metric's units (positive = overfitting).
        parameters: its model's parameters.
        epochs: epochs it trained (the folds' median).
        seconds: its training time (all folds').
        status: how it ended (default "done"; "pruned", "skipped: budget"...).
        details: anything else measured or recorded (``folds``: each fold's score; ``val_loss``, ``best_epoch``,
            ``stop_reason``...; default none).
        metric: the validation metric scored (default "val_accuracy").
        mode: "max" when larger values of ``metric`` are better, "min" otherwise (default "max").
        history: the training's History (the first fold's when cross-validated); None (default): not kept.

    Example:
        >>> trial = Trial("l2", "grid", {}, -0.25, 0.05, 10, 12, 1.5, details={"folds": [-0.2, -0.3]},
        ...               metric="val_loss", mode="min")
        >>> trial.value, trial.fold_values, round(trial.std, 3)
        (0.25, (0.2, 0.3), 0.05)
    """

    name: str
    phase: str
    recipe: dict[str, Any]
    val_score: float
    gap: float
    parameters: int
    epochs: int
    seconds: float
    status: str = "done"
    details: dict[str, Any] = field(default_factory=dict)
    metric: str = "val_accuracy"
    mode: str = "max"
    #: the training's History (the first fold's when cross-validated): the kept recipe's curves in the report
    history: History | None = field(default=None, repr=False, compare=False)

    @property
    def value(self) -> float:
        """The validation metric itself (``val_score`` turned back for a metric where lower is better)."""
        return self.val_score if self.mode == "max" else -self.val_score

    @property
    def fold_scores(self) -> tuple[float, ...]:
        """Each fold's score (higher is better); empty for a holdout score."""
        return tuple(self.details.get("folds") or ())

    @property
    def fold_values(self) -> tuple[float, ...]:
        """Each fold's validation metric; empty for a holdout score."""
        return tuple(s if self.mode == "max" else -s for s in self.fold_scores)

    @property
    def std(self) -> float:
        """The population standard deviation of the fold scores (0.0 with fewer than two)."""
        return statistics.pstdev(self.fold_scores) if len(self.fold_scores) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields but the history, as a deep copy."""
        return copy.deepcopy({f.name: getattr(self, f.name) for f in fields(self) if f.name != "history"})


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


def rank(trial: Trial) -> tuple[float, float]:
    """Sort key of a scored trial: the validation score, then the lower validation loss on ties.

    Args:
        trial: a scored trial.
    """
    loss = trial.details.get("val_loss")
    return trial.val_score, -(loss if loss is not None and math.isfinite(loss) else math.inf)


def evaluator(run: Run, model: nn.Module | None = None) -> Trainer:
    """A trainer that evaluates and predicts with ``model`` (default: the run's final model,
    :meth:`fitguard.recipe.Run.final_model`), with the run's loss, batch size, device, label smoothing (which its
    scores do not take: a Trainer scores the plain loss) and memory layout: the run's own trainer when that is the
    model it trains.

    Args:
        run: the trained run.
        model: the model to evaluate; None (default): the run's final model.
    """
    model = run.final_model() if model is None else model
    trainer = run.trainer
    if model is trainer.model:
        return trainer
    return Trainer(model, loss=trainer.loss, batch_size=trainer.batch_size, device=str(trainer.device),
                   label_smoothing=trainer.label_smoothing, channels_last=trainer.channels_last)


def members_of(model: nn.Module) -> list[nn.Module]:
    """The networks a model averages: a :class:`~fitguard.models.ensemble.MeanEnsemble`'s members, else the model.

    Args:
        model: a network or an ensemble of them.
    """
    return list(model.members) if isinstance(model, MeanEnsemble) else [model]


def fit_and_score(
    config: TrainConfig,
    data: Dataset,
    train: TensorData,
    val: TensorData,
    metric: str = "auto",
    callbacks: Sequence[Callback] = (),
    *,
    name: str = "",
    phase: str = "",
    recipe: dict[str, Any] | None = None,
    out: Path | None = None,
) -> tuple[Trial, Run, History]:
    """Build the run from ``config`` (model shapes from ``data``), fit on ``train``, score on ``val``.

    The model scored is the one the run ships (:meth:`fitguard.recipe.Run.final_model`: a snapshot ensemble's
    mean, the weight average). ``details`` records ``train_value`` (the metric on the training rows), ``val_loss``,
    ``best_epoch``, ``stop_reason`` and ``forward_row`` (seconds of one row's forward pass in eval mode).

    Args:
        config: The spec to train.
        data: The dataset the model's input and output shapes come from.
        train: Rows to train on (e.g. one CV fold's training part).
        val: Rows that validate each epoch and are scored at the end.
        metric: ``"auto"`` (default) or a ``val_*`` metric (see :func:`resolve_metric`).
        callbacks: Extra callbacks for the trainer (e.g. a :class:`PruningCallback`). Default none.
        name: The trial's name (default "").
        phase: The search it belongs to (default "").
        recipe: The recipe recorded on the trial; None (default): none (``{}``).
        out: A folder for the run's logs; None (default): nothing written.

    Returns:
        The :class:`Trial`, the trained :class:`~fitguard.recipe.Run` and its :class:`~fitguard.train.History`.

    Raises:
        ValueError: ``metric`` is no validation metric, or one the trainer does not measure on this task (known
            only once it has evaluated, i.e. after training).
    """
    key, mode = resolve_metric(metric, data.task)
    started = time.perf_counter()
    run = build_run(config, out=out, data=data, quiet=True)
    run.trainer.add_callbacks(callbacks)
    history = run.trainer.fit(train, val)
    scorer = evaluator(run)
    timed = time.perf_counter()
    val_scores = scorer.evaluate(val, prefix="val_")
    # what one row's forward pass costs this network (the doctor costs its final test evaluation from it)
    forward_row = (time.perf_counter() - timed) / max(1, len(val))
    if key not in val_scores:  # val_accuracy on regression data, or a misspelt name: say so, not KeyError
        measured = ", ".join(val_scores) or "nothing (the validation part is empty)"
        raise ValueError(f"cannot score {key!r}: it is not measured on this {data.task} data; measured: {measured}")
    train_value = scorer.evaluate(train)[key[len("val_"):]]
    mirror = mirror_scores(run, val, (key, mode), val_scores)
    trial = scored_trial(name=name, phase=phase, recipe=recipe, metric=(key, mode), train_value=train_value,
                         val_scores=val_scores, model=run.model, history=history,
                         seconds=time.perf_counter() - started, forward_row=forward_row,
                         **({"mirror": mirror} if mirror else {}))
    return trial, run, history


def mirror_scores(run: Run, val: TensorData, metric: tuple[str, str],
                  plain: dict[str, float]) -> dict[str, float] | None:
    """Flip test-time augmentation on ``run``'s final model, measured on its validation rows: the score and loss
    with each prediction the mean over the image and its left-right mirror (``val_score``, ``val_loss``; the mean of
    probabilities for classes, as :class:`~fitguard.models.ensemble.MeanEnsemble` ``mirror`` predicts), the plain
    ones (``plain_val_score``, ``plain_val_loss``, from ``plain``), the mirrored images' score alone
    (``mirrored_val_score``), and ``mirrored_z``: how many standard errors the mirrored images alone score worse
    than the plain ones, paired by row (the mean over rows of mirrored minus plain error -- 0/1 for classes, squared
    for values -- over its standard error; 0 where they never differ). Scores are turned so that higher is better.
    None for data that are not images (N, C, H, W) or an empty validation part. Two forward passes over the
    validation rows, no training: what ``fitguard doctor`` decides the mirror views on
    (:func:`fitguard.doctor.phases.mirror_helps`).

    Args:
        run: the trained run.
        val: its validation rows.
        metric: the ``val_*`` metric's key and mode (:func:`resolve_metric`).
        plain: the final model's validation metrics, ``val_loss`` and ``metric``'s key among them.
    """
    if run.data.kind != "image" or val.X.dim() != 4 or not len(val):
        return None
    key, mode = metric
    scorer = evaluator(run)
    outputs, mirrored = scorer.predict(val.X), scorer.predict(val.X.flip(-1))
    y = val.y.to(outputs.device)
    both = mean_prediction(torch.stack([outputs, mirrored]), run.data.task)
    if run.data.task == "classification":
        difference = (outputs.argmax(-1) == y).float() - (mirrored.argmax(-1) == y).float()
    else:
        difference = ((mirrored - y.view_as(mirrored)) ** 2 - (outputs - y.view_as(outputs)) ** 2).flatten(1).mean(1)
    sign = 1.0 if mode == "max" else -1.0
    scores = scorer.score_outputs(both, val.y, prefix="val_")
    spread = float(difference.std()) if len(difference) > 1 else 0.0
    return {"val_score": sign * float(scores[key]), "val_loss": float(scores["val_loss"]),
            "plain_val_score": sign * float(plain[key]), "plain_val_loss": float(plain["val_loss"]),
            "mirrored_val_score": sign * float(scorer.score_outputs(mirrored, val.y, prefix="val_")[key]),
            "mirrored_z": float(difference.mean()) / (spread / math.sqrt(len(difference))) if spread > 0 else 0.0}


def mirror_mean(records: Sequence[dict[str, float] | None]) -> dict[str, dict[str, float]]:
    """``{"mirror": the figures pooled}`` over ``records`` (:func:`mirror_scores` of several folds or splits): the
    mean of each score and loss, and the folds' ``mirrored_z`` combined as Stouffer's (their sum over the square root
    of their count: independent rows, about as many in each); ``{}`` when any of them has none: the ``details`` entry
    of a trial that pools them.

    Args:
        records: each fold's (or split's) ``details.get("mirror")``.

    Example:
        >>> a = {"val_score": 0.8, "val_loss": 0.5, "plain_val_score": 0.7, "plain_val_loss": 0.6,
        ...      "mirrored_val_score": 0.7, "mirrored_z": 1.5}
        >>> pooled = mirror_mean([a, {**a, "val_score": 0.9}])["mirror"]
        >>> round(pooled["val_score"], 6), round(pooled["mirrored_z"], 4), mirror_mean([a, None])
        (0.85, 2.1213, {})
    """
    if not records or any(r is None for r in records):
        return {}
    found = [r for r in records if r is not None]
    pooled = {k: float(statistics.fmean(r[k] for r in found)) for k in found[0] if k != "mirrored_z"}
    pooled["mirrored_z"] = sum(r["mirrored_z"] for r in found) / math.sqrt(len(found))
    return {"mirror": pooled}


def scored_trial(*, name: str, phase: str, recipe: dict[str, Any] | None, metric: tuple[str, str], train_value: float,
                 val_scores: dict[str, float], model: nn.Module, history: History, seconds: float,
                 forward_row: float, **details: Any) -> Trial:
    """The :class:`Trial` of one training scored on its validation rows -- the one place that turns the metric so
    that higher is better, takes the gap, and fills the ``details`` every search reads.

    Args:
        name: the trial's name.
        phase: the search phase.
        recipe: the sections the recipe sets (None: none).
        metric: the ``val_*`` metric's key and its mode (:func:`resolve_metric`).
        train_value: the metric on the training rows.
        val_scores: the validation metrics by key, ``val_loss`` and the metric's among them.
        model: the trained network (its parameters are counted).
        history: the training's history (kept on the trial).
        seconds: what the training and scoring took.
        forward_row: seconds of one row's forward pass in eval mode.
        **details: more ``details`` (e.g. ``grouped=True``).
    """
    key, mode = metric
    val_value = val_scores[key]
    return Trial(
        name=name, phase=phase, recipe=dict(recipe or {}), val_score=val_value if mode == "max" else -val_value,
        gap=gap_of(train_value, val_value, mode), parameters=count_parameters(model), epochs=len(history),
        seconds=seconds, metric=key, mode=mode, history=history,
        details={"train_value": train_value, "val_loss": float(val_scores["val_loss"]),
                 "best_epoch": history.best_epoch, "stop_reason": history.stop_reason, "forward_row": forward_row,
                 **details},
    )
