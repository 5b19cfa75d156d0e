"""One candidate recipe trained and scored on validation data: the unit every search phase is made of.

A recipe is a plain mapping of the spec sections it changes (``model``, ``remedies``, ``train``) laid over the
doctor's base :class:`~fitguard.config.TrainConfig`, so whatever wins is a spec ``fitguard train`` can rerun.
Scores are "higher is better": validation accuracy for classes, minus the validation loss for regression.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.data.tensors import TensorData
from fitguard.models import count_parameters
from fitguard.models.ensemble import MeanEnsemble
from fitguard.recipe import Recipe, Run, build_run
from fitguard.train import Callback, History, Trainer
from fitguard.train.callbacks.monitor import resolve_mode


@dataclass
class Trial:
    """What one recipe scored: validation score (higher is better), train - val gap, size and cost.

    Args:
        name: the trial's name.
        phase: the search phase.
        recipe: the recipe it trained.
        val_score: its validation score (higher is better).
        gap: its train - validation gap.
        parameters: its model's parameters.
        epochs: epochs it trained.
        seconds: its training time.
        status: how it ended (default "done").
        details: anything else the phase records (default none).
        history: the training's History (the first fold's when cross-validated); None (default): not kept.
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
    #: the training's History (the first fold's when cross-validated): the kept recipe's curves in the report
    history: History | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The fields but the history, as a deep copy."""
        return copy.deepcopy({f.name: getattr(self, f.name) for f in fields(self) if f.name != "history"})


def score_name(task: str) -> str:
    """The score the search ranks by: "accuracy" for classification, "-loss" otherwise.

    Args:
        task: the dataset's task.
    """
    return "accuracy" if task == "classification" else "-loss"


def score_and_gap(task: str, train: dict[str, float], val: dict[str, float]) -> tuple[float, float]:
    """(validation score, train - val gap) in the units the report shows: accuracy, or loss for regression.

    Args:
        task: the dataset's task.
        train: the scores on the training rows (``accuracy``, ``loss``).
        val: the scores on the validation rows (``val_accuracy``, ``val_loss``).
    """
    if task == "classification":
        return val["val_accuracy"], train["accuracy"] - val["val_accuracy"]
    return -val["val_loss"], val["val_loss"] - train["loss"]


def train_recipe(
    base: TrainConfig,
    recipe: dict[str, Any],
    data: Dataset,
    *,
    name: str,
    phase: str,
    out: Path | None = None,
    callbacks: tuple[Callback, ...] = (),
    train: TensorData | None = None,
    val: TensorData | None = None,
    **train_options: Any,
) -> tuple[Trial, Run, History]:
    """Build the recipe through :func:`fitguard.recipe.build_run`, fit on train, score on validation.

    Args:
        base: the base spec.
        recipe: the sections the recipe sets.
        data: the dataset.
        name: the trial's name.
        phase: the search phase.
        out: a folder for the run's logs; None (default): nothing written.
        callbacks: more callbacks for the trainer (default none).
        train: the rows to fit on; None (default): the dataset's training split.
        val: the rows to score on; None (default): its validation split.
        **train_options: ``train`` section keys put on top of the recipe's; a recipe with a fixed schedule
            (``train.max_epochs`` set, :func:`fitguard.doctor.phases.schedules`) keeps its own epoch count.
    """
    fixed = (recipe.get("train") or {}).get("max_epochs")
    config = Recipe.parse(recipe).apply(base, **{**train_options, **({"max_epochs": fixed} if fixed else {})})
    started = time.perf_counter()
    run = build_run(config, out=out, data=data, quiet=True)
    for callback in callbacks:
        run.trainer.add_callbacks([callback])
    train_part = train if train is not None else data.train
    val_part = val if val is not None else data.val
    history = run.trainer.fit(train_part, val_part)
    scorer = evaluator(run)  # a snapshot ensemble is scored as the mean of its snapshots, as it is shipped
    train_scores = scorer.evaluate(train_part)
    timed = time.perf_counter()
    val_scores = scorer.evaluate(val_part, prefix="val_")
    # what one row's forward pass costs this network (the final phase's test evaluation is costed from it)
    forward_row = (time.perf_counter() - timed) / max(1, len(val_part))
    score, gap = score_and_gap(data.task, train_scores, val_scores)
    trial = Trial(
        name=name, phase=phase, recipe=recipe, val_score=float(score), gap=float(gap),
        parameters=count_parameters(run.model), epochs=len(history), seconds=time.perf_counter() - started,
        details={"best_epoch": history.best_epoch, "stop_reason": history.stop_reason,
                 "val_loss": float(val_scores["val_loss"]), "forward_row": forward_row},
    )
    return trial, run, history


def evaluator(run: Run, model: nn.Module | None = None) -> Trainer:
    """A trainer that evaluates and predicts with ``model`` (default: the run's final model,
    :meth:`fitguard.recipe.Run.final_model`), with the run's loss, batch size, device and label smoothing: the run's
    own trainer when that is the model it trains.

    Args:
        run: the trained run.
        model: the model to evaluate; None (default): the run's final model.
    """
    model = run.final_model() if model is None else model
    trainer = run.trainer
    if model is trainer.model:
        return trainer
    return Trainer(model, loss=trainer.loss, batch_size=trainer.batch_size, device=str(trainer.device),
                   label_smoothing=trainer.label_smoothing)


def members_of(model: nn.Module) -> list[nn.Module]:
    """The networks a model averages: a :class:`~fitguard.models.ensemble.MeanEnsemble`'s members, else the model.

    Args:
        model: a network or an ensemble of them.
    """
    return list(model.members) if isinstance(model, MeanEnsemble) else [model]


def train_candidate(base: TrainConfig, data: Dataset, recipe: dict[str, Any], *, name: str, phase: str,
                    fold: int | None, parts: tuple[TensorData, TensorData] | None, options: dict[str, Any],
                    callbacks: tuple[Callback, ...] = ()) -> Trial:
    """One search training of a candidate, its History kept on the trial: what the search's scorer runs for a holdout
    score or for one fold, in this process or in a ``--workers`` process alike.

    Args:
        base: the base spec.
        data: the dataset.
        recipe: the sections the recipe sets.
        name: the candidate's name (the trial is named ``NAME fold I`` for a fold).
        phase: the search phase.
        fold: the fold's number, from 1; None: the holdout training.
        parts: the fold's ``(train, val)`` rows; None: the dataset's training and validation splits.
        options: ``train`` section keys put on top of the recipe's.
        callbacks: more callbacks for the trainer (default none).
    """
    train, val = parts if parts is not None else (None, None)
    label = name if fold is None else f"{name} fold {fold}"
    trial, _, history = train_recipe(base, recipe, data, name=label, phase=phase, train=train, val=val,
                                     callbacks=callbacks, **options)
    trial.history = history
    return trial


def joined(first: TensorData, second: TensorData) -> TensorData:
    """Rows of ``first`` then ``second`` (train + val for the final refit).

    Args:
        first: the first rows.
        second: the rows appended (moved to ``first``'s device).
    """
    return TensorData(torch.cat([first.X, second.X.to(first.X.device)]),
                      torch.cat([first.y, second.y.to(first.y.device)]))


def refit_epochs(history: History, monitor: str = "val_loss") -> int:
    """The epoch count validation chose: early stopping's restored epoch, else the first epoch of the best
    ``monitor`` value (highest for an accuracy, lowest for a loss; a run that kept its last weights), else every
    epoch that ran.

    Args:
        history: the training's History.
        monitor: the metric validation chose by (default "val_loss").

    Example:
        >>> from fitguard.train import History
        >>> h = History([{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.7}, {"epoch": 2, "val_loss": 0.4,
        ...              "val_accuracy": 0.7}, {"epoch": 3, "val_loss": 0.45, "val_accuracy": 0.8}])
        >>> refit_epochs(h), refit_epochs(h, "val_accuracy")
        (2, 3)
    """
    if history.best_epoch:
        return int(history.best_epoch)
    if monitor in history.keys() and len(history):
        values = history[monitor]
        best = min if resolve_mode(monitor, "auto") == "min" else max  # early stopping's own rule
        return 1 + best(range(len(values)), key=values.__getitem__)
    return len(history)


def refit_recipe(base: TrainConfig, recipe: dict[str, Any], data: Dataset, *, rows: TensorData, epochs: int,
                 callbacks: tuple[Callback, ...] = (), out: Path | None = None,
                 **train_options: Any) -> tuple[Run, History]:
    """Train ``recipe`` afresh on ``rows`` for ``epochs`` epochs, with no early stopping.

    Why: validation rows that have done their job (choosing the recipe and the epoch count) can train the model
    too, as scikit-learn's ``GridSearchCV(refit=True)`` does; the doctor refits the baseline and the kept recipe
    the same way, on the same rows, so that their test figures compare like for like. ``out``: a folder for its
    logs (metrics.jsonl, tensorboard/).

    Args:
        base: the base spec.
        recipe: the sections the recipe sets (its early stopping is dropped).
        data: the dataset (its validation split is not used).
        rows: the rows to train on.
        epochs: the epochs to train.
        callbacks: more callbacks for the trainer (default none).
        out: a folder for its logs; None (default): nothing written.
        **train_options: ``train`` section keys put on top of the recipe's.
    """
    config = Recipe.parse({**recipe, "early_stopping": None}).apply(base, **{**train_options, "max_epochs": epochs})
    # no validation rows: its logs and checkpoints monitor the training loss
    run = build_run(config, out=out, data=dataclasses.replace(data, val=None), quiet=True)
    for callback in callbacks:
        run.trainer.add_callbacks([callback])
    history = run.trainer.fit(rows)
    return run, history


#: member ``i`` of a refit ensemble trains with seed ``seed + MEMBER_SEED_STEP * i`` (member 0: the run's own seed)
MEMBER_SEED_STEP = 1000


def refit_members(base: TrainConfig, recipe: dict[str, Any], data: Dataset, *, rows: TensorData, epochs: int,
                  members: int | Callable[[float, Run], int], seed: int, callbacks: tuple[Callback, ...] = (),
                  out: Path | None = None, **train_options: Any) -> tuple[Run, History, list[int]]:
    """:func:`refit_recipe` repeated with different seeds, the members averaged into one
    :class:`~fitguard.models.ensemble.MeanEnsemble` (a deep ensemble).

    Member 0 trains with ``seed`` (so one member is exactly :func:`refit_recipe`), member ``i`` with
    ``seed + MEMBER_SEED_STEP * i``; all train on ``rows`` for ``epochs`` epochs. ``members`` is the count, or a
    function of member 0's seconds and Run that returns it (how many fit in the time left; at least 1). ``out``
    receives member 0's logs.

    Args:
        base: the base spec.
        recipe: the sections the recipe sets.
        data: the dataset.
        rows: the rows every member trains on.
        epochs: the epochs each member trains.
        members: the member count, or a function of member 0's seconds and its Run that returns it.
        seed: member 0's seed.
        callbacks: more callbacks for every member's trainer (default none).
        out: a folder for member 0's logs; None (default): nothing written.
        **train_options: ``train`` section keys put on top of the recipe's.

    Returns:
        The Run (with more than one network -- members, or a snapshot ensemble's snapshots, each averaged once --
        its ``model`` is the ensemble and its ``trainer`` one that evaluates and predicts with it, with the members'
        loss), member 0's History, and the seeds that trained.
    """
    started = time.perf_counter()
    first, history = refit_recipe(base, recipe, data, rows=rows, epochs=epochs, callbacks=callbacks, out=out,
                                  **{**train_options, "seed": seed})
    count = members(time.perf_counter() - started, first) if callable(members) else members
    seeds = [seed + MEMBER_SEED_STEP * i for i in range(max(1, int(count)))]
    # a member that is a snapshot ensemble brings its snapshots: the ensemble averages every network once
    models = members_of(first.final_model()) + [
        network for s in seeds[1:] for network in members_of(refit_recipe(
            base, recipe, data, rows=rows, epochs=epochs, callbacks=callbacks,
            **{**train_options, "seed": s})[0].final_model())]
    if len(models) == 1:
        return first, history, seeds
    ensemble = MeanEnsemble(models, data.task)
    return dataclasses.replace(first, model=ensemble, trainer=evaluator(first, ensemble)), history, seeds
