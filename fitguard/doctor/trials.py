"""The final trainings of a doctor run: the kept recipe (and the baseline) refit on the tested rows, as one network
or a deep ensemble.

A search trial -- a recipe trained and scored on validation data -- is :class:`fitguard.search.Trial`, made by the
one evaluator every search uses (:mod:`fitguard.search.evaluate`); this module re-exports it and the training
functions under the names the doctor's modules use.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.data.tensors import TensorData
from fitguard.models.ensemble import MeanEnsemble
from fitguard.recipe import Recipe, Run, build_run
from fitguard.search.evaluate import train_candidate, train_keys, train_recipe
from fitguard.search.scoring import Trial, evaluator, members_of
from fitguard.train import Callback, History
from fitguard.train.callbacks.monitor import resolve_mode

__all__ = ["MEMBER_SEED_STEP", "Trial", "as_tested", "evaluator", "joined", "members_of", "mirrored", "refit_epochs",
           "refit_members", "refit_recipe", "train_candidate", "train_recipe"]


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
        **train_options: ``train`` section keys put on top of the recipe's -- except, as when it was scored
            (:func:`~fitguard.search.evaluate.recipe_config`), that a recipe with a fixed schedule keeps every
            ``train`` key it gives (until session 23 the search's passes per epoch, ``repeat`` 2 on 500 rows, were put
            on the VGG recipe's final training: twice the steps it was scored with, and its one cycle over them).
    """
    config = Recipe.parse({**recipe, "early_stopping": None}).apply(base, **{**train_keys(recipe, train_options),
                                                                             "max_epochs": epochs})
    # no validation rows: its logs and checkpoints monitor the training loss
    run = build_run(config, out=out, data=dataclasses.replace(data, val=None), quiet=True)
    for callback in callbacks:
        run.trainer.add_callbacks([callback])
    history = run.trainer.fit(rows)
    return run, history


#: member ``i`` of a refit ensemble trains with seed ``seed + MEMBER_SEED_STEP * i`` (member 0: the run's own seed)
MEMBER_SEED_STEP = 1000


def as_tested(run: Run, task: str, *, mirror: bool = False) -> Run:
    """``run`` as the doctor tests and ships it: predicting with its final model (a snapshot ensemble's snapshots
    averaged, as validation scored it), with the mirror views too where ``mirror``; the run itself when that is its
    one network as trained.

    Args:
        run: a trained Run.
        task: "classification" or "regression".
        mirror: average each network with its left-right mirror view (default False).
    """
    networks = members_of(run.final_model())
    return run if len(networks) == 1 and not mirror else _averaged(run, networks, task, mirror)


def mirrored(run: Run, task: str) -> Run:
    """``run`` predicting each input as the mean over it and its left-right mirror (flip test-time augmentation,
    :class:`~fitguard.models.ensemble.MeanEnsemble` ``mirror``), as :func:`refit_members` builds it with ``mirror``:
    an ensemble's members, or its one network, averaged with their mirror views; the weights stay as trained.

    Args:
        run: a trained Run (one network, or :func:`refit_members`' ensemble).
        task: "classification" or "regression".
    """
    return as_tested(run, task, mirror=True)


def _averaged(run: Run, networks: list[Any], task: str, mirror: bool) -> Run:
    """``run`` whose model is the mean of ``networks`` (with their mirror views where ``mirror``), and a trainer
    that evaluates and predicts with it."""
    ensemble = MeanEnsemble(networks, task, mirror=mirror)
    return dataclasses.replace(run, model=ensemble, trainer=evaluator(run, ensemble))


def refit_members(base: TrainConfig, recipe: dict[str, Any], data: Dataset, *, rows: TensorData, epochs: int,
                  members: int | Callable[[float, Run], int], seed: int, callbacks: tuple[Callback, ...] = (),
                  out: Path | None = None, mirror: bool = False, trained: tuple[Run, History, float] | None = None,
                  partner: tuple[dict[str, Any], int] | None = None,
                  partner_fits: Callable[[float, int], bool] | None = None,
                  partner_kept: Callable[[History], bool] | None = None,
                  seed_instead: Callable[[float, int], bool] | None = None,
                  more: Callable[[float, int], bool] | None = None,
                  more_kept: Callable[[History], bool] | None = None,
                  **train_options: Any) -> tuple[Run, History, list[int]]:
    """:func:`refit_recipe` repeated with different seeds, the members averaged into one
    :class:`~fitguard.models.ensemble.MeanEnsemble` (a deep ensemble); with ``partner``, another network as one
    more member.

    Member 0 trains with ``seed`` (so one member is exactly :func:`refit_recipe`), member ``i`` with
    ``seed + MEMBER_SEED_STEP * i``; all train on ``rows`` for ``epochs`` epochs. ``members`` is the count, or a
    function of member 0's seconds and Run that returns it (how many fit in the time left; at least 1). ``out``
    receives member 0's logs. The partner, a ``(recipe, epochs)``, trains last, with the next seed, when
    ``partner_fits`` (given member 0's seconds and the recipe's member count, asked once those members have
    trained) says so or is None, and joins the members when ``partner_kept`` says so or is None; the Run then names
    each network (:attr:`~fitguard.recipe.Run.member_models`). A partner that did not fit or was not kept leaves its
    place to one more seed of the recipe when ``seed_instead`` (given member 0's seconds and the recipe's member
    count) says so. Then, while ``more`` (given the longest training of a recipe's member so far and the members so
    far, the partner counted) says so, one more seed of the recipe -- the next seed no network here trained with --
    trains and joins when ``more_kept`` (given its History) says so or is None; one that did not join ends the loop.

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
        mirror: average each network's predictions for the image and its left-right mirror too (flip test-time
            augmentation, :class:`~fitguard.models.ensemble.MeanEnsemble` ``mirror``); default False.
        trained: member 0 already trained -- its Run, History and seconds -- exactly as :func:`refit_recipe` would
            train it here (``fitguard doctor``'s tested baseline, when the baseline's recipe is kept): it is not
            trained again, and ``out`` receives no logs. None (default): member 0 is trained.
        partner: another recipe and its epochs, trained on ``rows`` as one more member (``fitguard doctor``: the
            network the kept recipe's validation rows could not tell from it, :func:`~fitguard.doctor.phases.
            tie_partner`); None (default): none.
        partner_fits: whether the partner's training fits, given member 0's seconds and the recipe's member count;
            None (default): it does.
        partner_kept: whether the partner, trained, joins the ensemble, given its History (``fitguard doctor``: not
            when the run's deadline cut it); None (default): it does.
        seed_instead: whether one more seed of the recipe trains where the partner did not join, given member 0's
            seconds and the recipe's member count (``fitguard doctor``: when it fits the time left; the partner's
            place is one of ``--ensemble``'s, which capped the recipe's count); None (default): none. Like every
            member of the recipe, it is averaged in even where the deadline stops its training early.
        more: whether one more seed of the recipe trains after the others, given the longest of the recipe's members'
            trainings here (seconds) and how many members there are so far, a partner counted (``fitguard
            doctor``'s refit on every row: when it fits the time left, up to ``--ensemble``); None (default): none.
        more_kept: whether such a seed, trained, joins the ensemble, given its History (``fitguard doctor``: not when
            the run's deadline cut it); None (default): it does.
        **train_options: ``train`` section keys put on top of the recipe's (and the partner's).

    Returns:
        The Run (with more than one network -- members, or a snapshot ensemble's snapshots, each averaged once --
        or with ``mirror``, its ``model`` is the ensemble and its ``trainer`` one that evaluates and predicts with it,
        with the members' loss), member 0's History, and the seeds of its members in order: the recipe's, the
        partner's where it joined (a partner not averaged in is not listed), then those ``more`` added.
    """
    started = time.perf_counter()
    if trained is not None:
        first, history, seconds = trained
    else:
        first, history = refit_recipe(base, recipe, data, rows=rows, epochs=epochs, callbacks=callbacks, out=out,
                                      **{**train_options, "seed": seed})
        seconds = time.perf_counter() - started
    count = members(seconds, first) if callable(members) else members
    seeds = [seed + MEMBER_SEED_STEP * i for i in range(max(1, int(count)))]
    took = [seconds]  # each of the recipe's members' training seconds

    def trained_member(s: int) -> tuple[list[torch.nn.Module], History]:
        # a snapshot ensemble brings its snapshots: each averaged once
        began = time.perf_counter()
        run, member_history = refit_recipe(base, recipe, data, rows=rows, epochs=epochs, callbacks=callbacks,
                                           **{**train_options, "seed": s})
        took.append(time.perf_counter() - began)
        return members_of(run.final_model()), member_history

    def member(s: int) -> list[torch.nn.Module]:
        return trained_member(s)[0]

    models = members_of(first.final_model()) + [network for s in seeds[1:] for network in member(s)]
    named: tuple[tuple[str, dict[str, Any]], ...] | None = None
    tried = set(seeds)
    if partner is not None and (partner_fits is None or partner_fits(seconds, len(seeds))):
        partner_seed = seed + MEMBER_SEED_STEP * len(seeds)
        tried.add(partner_seed)
        other, trained_history = refit_recipe(base, partner[0], data, rows=rows, epochs=partner[1],
                                              callbacks=callbacks, **{**train_options, "seed": partner_seed})
        if partner_kept is None or partner_kept(trained_history):
            seeds.append(partner_seed)
            networks = members_of(other.final_model())
            named = (((first.model_name, first.model_options),) * len(models)
                     + ((other.model_name, other.model_options),) * len(networks))
            models += networks
    if partner is not None and named is None and seed_instead is not None and seed_instead(seconds, len(seeds)):
        # the partner's place, left to the recipe: its next seed, as the members before it
        seeds.append(seed + MEMBER_SEED_STEP * len(seeds))
        models += member(seeds[-1])
    while more is not None and more(max(took), len(seeds)):
        index = len(seeds)  # the next seed no network here trained with (a partner left out took its own)
        while seed + MEMBER_SEED_STEP * index in tried:
            index += 1
        tried.add(seed + MEMBER_SEED_STEP * index)
        networks, more_history = trained_member(seed + MEMBER_SEED_STEP * index)
        if more_kept is not None and not more_kept(more_history):
            break
        seeds.append(seed + MEMBER_SEED_STEP * index)
        if named is not None:
            named += ((first.model_name, first.model_options),) * len(networks)
        models += networks
    if len(models) == 1 and not mirror:
        return first, history, seeds
    return dataclasses.replace(_averaged(first, models, data.task, mirror), member_models=named), history, seeds
