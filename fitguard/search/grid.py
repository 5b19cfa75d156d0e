"""Grid search with k-fold cross-validation: every point scored as mean ± std over folds, the best refitted.

The folds cover the dataset's train and val splits together (the test split stays untouched), each fold's
preprocessing refitted on its own training part (``fitguard.data.kfold``), the same folds for every point.
With ``shared_stopping`` the folds share one stopping epoch: each fold trains ``max_epochs`` without early
stopping, and the epoch where the *mean* validation curve is best scores every fold and sets the refit's
epochs — one decision from k curves instead of k noisy ones.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fitguard._validation import check_int
from fitguard.config import TrainConfig
from fitguard.data import Dataset, kfold
from fitguard.recipe import Run, build_run, load_data
from fitguard.search.evaluate import Evaluator, as_recipe, fold_mean, recipe_config
from fitguard.search.scoring import Trial, resolve_metric
from fitguard.search.space import Choice, SearchSpace, apply_point


def expand_grid(grid: Mapping[str, Sequence[Any]] | SearchSpace) -> list[dict[str, Any]]:
    """Every combination of the grid's values, first parameter slowest.

    Args:
        grid: Parameter name -> list of values, or a :class:`SearchSpace` of :class:`Choice` parameters only;
            names and values are checked as a search space's are.

    Raises:
        ValueError: a space with a range, or an unknown name or value out of range.

    Example:
        >>> expand_grid({"l2": [0, 1e-3], "dropout": [0.0, 0.5]})  # doctest: +NORMALIZE_WHITESPACE
        [{'l2': 0, 'dropout': 0.0}, {'l2': 0, 'dropout': 0.5},
         {'l2': 0.001, 'dropout': 0.0}, {'l2': 0.001, 'dropout': 0.5}]
    """
    if isinstance(grid, SearchSpace):
        if not grid.is_grid():
            ranges = [n for n, p in grid.params.items() if not isinstance(p, Choice)]
            raise ValueError(f"a grid needs choices for every parameter; ranges given for: {', '.join(ranges)}")
        grid = {name: param.values for name, param in grid.params.items()}  # type: ignore[union-attr]
    space = SearchSpace({name: Choice(tuple(values)) for name, values in dict(grid).items()})
    names = list(space.params)
    values = [space.params[n].values for n in names]  # type: ignore[union-attr]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


@dataclass(frozen=True)
class GridRow:
    """One grid point and its cross-validated :class:`~fitguard.search.Trial`, read in the metric's own units.

    Args:
        point: The grid point, parameter name -> value.
        trial: What the evaluator measured (at the shared epoch with ``shared_stopping``).
    """

    point: dict[str, Any]
    trial: Trial

    @property
    def fold_scores(self) -> tuple[float, ...]:
        """The validation metric of each fold."""
        return self.trial.fold_values

    @property
    def mean(self) -> float:
        """Mean of ``fold_scores``."""
        return self.trial.value

    @property
    def std(self) -> float:
        """Population standard deviation of ``fold_scores``."""
        return self.trial.std

    @property
    def gap(self) -> float:
        """Mean over folds of how much worse validation is than training, in the metric's units."""
        return self.trial.gap

    @property
    def epochs(self) -> int:
        """Epochs trained: the folds' median (the shared epoch with ``shared_stopping``)."""
        return self.trial.epochs

    @property
    def seconds(self) -> float:
        """Wall time of all its folds."""
        return self.trial.seconds


@dataclass
class GridResult:
    """All rows in grid order; ``best_point_``/``best_score_`` by the metric's direction; ``refit_`` the refitted run.

    Args:
        metric: The validation metric scored, e.g. ``"val_accuracy"``.
        mode: ``"max"`` or ``"min"``: the metric's better direction.
        rows: One :class:`GridRow` per grid point, in grid order.
        best_point_: The point with the best mean score.
        best_score_: Its mean score.
        refit_: The run refitted on the train split with the best point; None without refit.
        refit_epochs_: Epochs the refit trained; None without refit.
        folds: ``(train rows, validation rows)`` per fold; :func:`grid_cv` leaves it empty.
    """

    metric: str
    mode: str
    rows: list[GridRow]
    best_point_: dict[str, Any]
    best_score_: float
    refit_: Run | None = None
    refit_epochs_: int | None = None
    folds: list[tuple[list[int], list[int]]] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """Rows as plain dicts ranked best first (what a report or a rich table shows)."""
        ranked = sorted(self.rows, key=lambda r: -r.mean if self.mode == "max" else r.mean)
        return [{**r.point, "mean": r.mean, "std": r.std, "gap": r.gap, "epochs": r.epochs, "seconds": r.seconds}
                for r in ranked]


def _shared_epoch(curves: list[list[float]], mode: str) -> int:
    """The epoch (1-based) where the mean of the folds' validation curves is best (earliest on ties)."""
    length = min(len(c) for c in curves)
    means = [statistics.fmean(c[e] for c in curves) for e in range(length)]
    best = max(means) if mode == "max" else min(means)
    return means.index(best) + 1


def grid_cv(
    recipe: TrainConfig,
    grid: Mapping[str, Sequence[Any]] | SearchSpace,
    folds: int = 5,
    stratified: bool = True,
    *,
    metric: str = "auto",
    seed: int | None = None,
    shared_stopping: bool = False,
    refit: bool = True,
    data: Dataset | None = None,
) -> GridResult:
    """Score every grid point of remedies on the recipe by k-fold CV; refit the best on the train split.

    ``seed`` (default: the recipe's ``data.seed``) fixes the folds; the recipe's ``train.seed`` fixes the
    initial weights and batches, so the fold scores are reproducible.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`; each point is applied to it.
        grid: Parameter name -> values, or a :class:`SearchSpace` of choices (see :func:`expand_grid`).
        folds: Number of CV folds, >= 2. Default 5.
        stratified: Keep class shares in each fold (classification only). Default True.
        metric: ``"auto"`` (default; val_accuracy for classification, val_loss otherwise) or a ``val_*`` metric.
        seed: Seed of the fold split; None (default): the recipe's ``data.seed``.
        shared_stopping: Train every fold without early stopping and score all folds at the one epoch where
            their mean validation curve is best (the refit then trains that many epochs). Default False.
        refit: Train the best point once more on the train split (validated on ``data.val``). Default True.
        data: An already loaded dataset; None (default) loads the recipe's data.

    Raises:
        ValueError: ``folds`` < 2, a bad grid or metric.

    Example:
        >>> result = grid_cv(TrainConfig(), {"l2": [0.0, 1e-3]}, folds=3)   # doctest: +SKIP
        >>> result.best_point_                                              # doctest: +SKIP
        {'l2': 0.001}
    """
    check_int("folds", folds, low=2)
    points = expand_grid(grid)
    data = data if data is not None else load_data(recipe)
    name, mode = resolve_metric(metric, data.task)
    seed = recipe.data.seed if seed is None else seed
    parts = list(kfold(data, folds, stratified=stratified and data.task == "classification", seed=seed))
    evaluate = Evaluator(recipe, data, parts, metric=name)
    rows: list[GridRow] = []
    for index, point in enumerate(points):
        candidate = as_recipe(apply_point(recipe, point, data.kind))
        label = f"grid #{index}"
        if shared_stopping:
            candidate["early_stopping"] = None
            trials = evaluate.fold_trials(candidate, name=label, phase="grid", options={})
            epoch = _shared_epoch([t.history[name] for t in trials if t.history is not None], mode)
            # every fold scored at the shared epoch, read off its validation curve
            trials = [replace(t, val_score=t.history[name][epoch - 1] * (1 if mode == "max" else -1))
                      for t in trials if t.history is not None]
            trial = replace(fold_mean(candidate, label, "grid", trials), epochs=epoch)
        else:
            trial = evaluate(candidate, name=label, phase="grid")
        rows.append(GridRow(point, trial))
    means = [r.mean if math.isfinite(r.mean) else (-math.inf if mode == "max" else math.inf) for r in rows]
    best = means.index(max(means) if mode == "max" else min(means))
    result = GridResult(name, mode, rows, dict(rows[best].point), rows[best].mean)
    if refit:
        chosen = rows[best].trial.recipe
        if shared_stopping:
            chosen = {**chosen, "train": {**chosen["train"], "max_epochs": rows[best].epochs}}
        run = build_run(recipe_config(recipe, chosen, {}), data=data)
        run.trainer.fit(data.train, data.val)
        result.refit_, result.refit_epochs_ = run, len(run.trainer.history)
    return result
