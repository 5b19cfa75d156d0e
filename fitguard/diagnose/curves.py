"""Training curves: per epoch (from a ``History``) and over training-set size (learning curves).

``epoch_curves`` reads train/val loss and one metric, the generalization gap ``val_loss - loss`` per epoch and
the best epoch (lowest validation loss). ``learning_curve`` trains at several fractions of the training set,
several seeds each (or over k folds), through any ``fit_fn(train, val, seed) -> (train_score, val_score)``;
``trainer_fit_fn`` builds one on ``fitguard.Trainer``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fitguard._validation import check_int
from fitguard.data.tensors import TensorData
from fitguard.train.history import History

FitFn = Callable[[TensorData, TensorData, int], tuple[float, float]]
_METRICS = ("accuracy", "r2", "mae", "rmse")


@dataclass(frozen=True)
class EpochCurves:
    """Per-epoch curves of one run; ``metric`` names the metric curves (None when the history has none).

    Args:
        epochs: Epoch numbers (from the history's ``epoch``, else 1..N).
        train_loss: Training loss per epoch.
        val_loss: Validation loss per epoch.
        gap: ``val_loss - train_loss`` per epoch.
        metric: Name of the extra metric (e.g. ``"accuracy"``), or None.
        train_metric: Its training values (empty without a metric).
        val_metric: Its validation values (empty without a metric).
        best_epoch: The epoch of the lowest finite validation loss (the first on ties).
        best_val_loss: That loss.
    """

    epochs: list[int]
    train_loss: list[float]
    val_loss: list[float]
    gap: list[float]
    metric: str | None
    train_metric: list[float]
    val_metric: list[float]
    best_epoch: int
    best_val_loss: float


def epoch_curves(history: History, metric: str | None = None) -> EpochCurves:
    """Curves of ``history``; ``metric`` defaults to the first of accuracy, r2, mae, rmse it logged for train and val.

    Args:
        history: A training :class:`~fitguard.train.History` that logged ``loss`` and ``val_loss`` every epoch.
        metric: A metric logged for both train and val (``"accuracy"`` needs ``accuracy`` and
            ``val_accuracy``); None (default): the first of accuracy, r2, mae, rmse found.

    Raises:
        ValueError: a history without the losses or a finite validation loss, or an unlogged ``metric``.

    Example:
        >>> h = History([{"epoch": 1, "loss": 1.0, "val_loss": 1.5}, {"epoch": 2, "loss": 0.5, "val_loss": 1.2}])
        >>> c = epoch_curves(h)
        >>> c.gap, c.best_epoch
        ([0.5, 0.7], 2)
    """
    keys = history.keys()
    for name in ("loss", "val_loss"):
        if name not in keys:
            raise ValueError(f"`history` must log {name!r} every epoch to draw curves; "
                             f"it has: {', '.join(keys) or 'nothing'}")
    if metric is None:
        metric = next((m for m in _METRICS if m in keys and f"val_{m}" in keys), None)
    elif metric not in keys or f"val_{metric}" not in keys:
        raise ValueError(f"`metric` {metric!r} needs {metric!r} and 'val_{metric}' in the history; "
                         f"it has: {', '.join(keys)}")
    train, val = history["loss"], history["val_loss"]
    epochs = [int(e) for e in history["epoch"]] if "epoch" in keys else list(range(1, len(history) + 1))
    finite = [i for i, v in enumerate(val) if math.isfinite(v)]
    if not finite:
        raise ValueError("`history` has no finite 'val_loss'; cannot pick a best epoch")
    best = min(finite, key=val.__getitem__)
    return EpochCurves(
        epochs=epochs,
        train_loss=train,
        val_loss=val,
        gap=[v - t for t, v in zip(train, val)],
        metric=metric,
        train_metric=history[metric] if metric else [],
        val_metric=history[f"val_{metric}"] if metric else [],
        best_epoch=epochs[best],
        best_val_loss=val[best],
    )


@dataclass(frozen=True)
class LearningCurve:
    """Scores per fraction (rows) and run (columns: seeds, or folds x seeds).

    Args:
        fractions: The training-set fractions, in the order run.
        sizes: Training rows at each fraction (of the last run at it).
        train_scores: ``fit_fn``'s training score per fraction and run.
        val_scores: Its validation score per fraction and run.
    """

    fractions: list[float]
    sizes: list[int]
    train_scores: list[list[float]]
    val_scores: list[list[float]]

    @property
    def train_mean(self) -> list[float]:
        return [sum(row) / len(row) for row in self.train_scores]

    @property
    def val_mean(self) -> list[float]:
        return [sum(row) / len(row) for row in self.val_scores]


def _subsample(train: TensorData, fraction: float, seed: int) -> TensorData:
    if fraction == 1.0:
        return train
    size = max(1, int(round(fraction * len(train))))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return train.subset(order[:size])


def learning_curve(
    fit_fn: FitFn,
    data: Any,
    *,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    folds: int | None = None,
) -> LearningCurve:
    """Train and validation score against training-set size.

    ``data`` is a ``Dataset`` (or anything with ``.train`` and ``.val``); with ``folds=k`` the train and val
    splits are pooled and cut into k folds (``fitguard.data.kfold``; the first seed shuffles them), and each
    fold's training part is subsampled.
    A ``Dataset`` subsamples with ``with_train_fraction`` (stratified, preprocessing refitted).

    Args:
        fit_fn: ``fit_fn(train, val, seed) -> (train_score, val_score)``, e.g. :func:`trainer_fit_fn`.
        data: A :class:`~fitguard.data.Dataset`, or anything with ``.train`` (and ``.val``) TensorData.
        fractions: Shares of the training rows to train on, each in (0, 1]. Default (0.1, 0.25, 0.5, 1.0).
        seeds: One run per seed at each fraction (the seed subsamples and is passed to ``fit_fn``). Default
            (0, 1, 2).
        folds: Cross-validate with this many folds (>= 2) of train + val pooled; None (default): the given
            validation split, which must then exist.

    Raises:
        ValueError: a fraction outside (0, 1], empty ``fractions`` or ``seeds``, or no validation split
            without ``folds``.

    Example:
        >>> from types import SimpleNamespace
        >>> d = SimpleNamespace(train=TensorData(torch.zeros(10, 1), torch.zeros(10)),
        ...                     val=TensorData(torch.zeros(4, 1), torch.zeros(4)))
        >>> learning_curve(lambda tr, va, s: (len(tr), 0.0), d, fractions=[0.5, 1.0], seeds=[0]).train_scores
        [[5], [10]]
    """
    for i, fraction in enumerate(fractions):
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"`fractions[{i}]` = {fraction!r}, must be in (0, 1]")
    if not fractions or not seeds:
        raise ValueError(f"`fractions` and `seeds` must not be empty, got {list(fractions)} and {list(seeds)}")
    check_int("folds", folds, low=2, none_ok=True)
    if folds is None and getattr(data, "val", None) is None:
        raise ValueError("`data` needs a validation split (.val) for a learning curve, or pass `folds=k`")
    splits: list[tuple[Any, TensorData]]
    if folds is None:
        splits = [(data, data.val)]
    else:
        from fitguard.data.splits import kfold

        if hasattr(data, "raw_train"):
            splits = list(kfold(data, k=folds, seed=int(seeds[0])))
        else:
            # the user's own tensors: pooled as given, no refitted standardization
            parts = [p for p in (data.train, getattr(data, "val", None)) if p is not None]
            pool = TensorData(torch.cat([p.X for p in parts]), torch.cat([p.y for p in parts]))
            splits = list(kfold(pool, k=folds, seed=int(seeds[0]), standardize=False))
    train_scores: list[list[float]] = []
    val_scores: list[list[float]] = []
    sizes: list[int] = []
    for fraction in fractions:
        train_row, val_row = [], []
        for source, val in splits:
            for seed in seeds:
                if hasattr(source, "with_train_fraction"):
                    part = source.with_train_fraction(fraction, seed=int(seed)) if fraction < 1.0 else source
                    train, val = part.train, part.val
                else:
                    train = _subsample(source if isinstance(source, TensorData) else source.train, fraction, int(seed))
                train_score, val_score = fit_fn(train, val, int(seed))
                train_row.append(train_score)
                val_row.append(val_score)
        sizes.append(len(train))
        train_scores.append(train_row)
        val_scores.append(val_row)
    return LearningCurve(list(fractions), sizes, train_scores, val_scores)


def trainer_fit_fn(builder: Callable[[], nn.Module], score: str = "loss", **trainer_options: Any) -> FitFn:
    """A ``fit_fn`` that trains ``builder()`` with ``fitguard.Trainer(**trainer_options, seed=seed)``.

    ``score`` is a metric the Trainer evaluates ("loss", "accuracy", ...); returns (train, val) values of it.

    Args:
        builder: A zero-argument callable returning a fresh model (called under ``torch.manual_seed(seed)``).
        score: The metric ``Trainer.evaluate`` reports to return; an unknown one raises ``ValueError`` when
            the function runs. Default ``"loss"``.
        **trainer_options: Keyword arguments for :class:`~fitguard.Trainer` (its ``seed`` is the run's).

    Example:
        >>> fit = trainer_fit_fn(lambda: nn.Linear(2, 2), max_epochs=1, device="cpu")
        >>> d = TensorData(torch.randn(8, 2), torch.arange(8) % 2)
        >>> len(fit(d, d, 0))
        2
    """
    from fitguard.train.trainer import Trainer

    def fit(train: TensorData, val: TensorData, seed: int) -> tuple[float, float]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = builder()
        trainer = Trainer(model, seed=seed, **trainer_options)
        trainer.fit(train, val)
        train_metrics, val_metrics = trainer.evaluate(train), trainer.evaluate(val)
        if score not in train_metrics:
            raise ValueError(f"`score` must be one of {sorted(train_metrics)}, got {score!r}")
        return float(train_metrics[score]), float(val_metrics[score])

    return fit
