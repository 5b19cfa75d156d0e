"""The one look at the test split: each model's test figure with a 95% interval, and the kept model against the
baseline (and the reference models) on the same test rows with a paired test.

- classification: accuracy with its Wilson interval, balanced accuracy (the mean of the per-class recalls, which a
  model that ignores a rare class cannot fake) with a bootstrap interval, and each class's recall; the exact
  McNemar test on the rows one model gets right and the other wrong;
- regression: the mean squared error, its root (RMSE, in the target's units) and R², each with a bootstrap
  interval over the same resampled rows; a paired bootstrap of the per-row squared errors.

The word in ``verdict`` ("better", "worse", "not distinguishable") is the second model's against the first at
p < 0.05 -- the only place the report and the terminal say "better".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fitguard.diagnose.significance import (
    bootstrap_interval,
    decide,
    mcnemar_exact,
    paired_bootstrap,
    wilson_interval,
)

#: resamples of every bootstrap interval of a test figure
ROUNDS = 2000
BOOTSTRAP = f"95% bootstrap interval ({ROUNDS:,} resamples of the test rows)"


def _from_outputs(outputs: Any, task: str) -> np.ndarray:
    """Class indices (classification) or values (regression) from a model's raw outputs."""
    if task == "classification":
        return outputs.argmax(1).numpy()
    return outputs.reshape(len(outputs), -1).numpy()


def figure(task: str, y: np.ndarray, predicted: np.ndarray, *, seed: int = 0,
           class_names: Sequence[str] = ()) -> dict[str, Any]:
    """A model's test figures with their 95% intervals.

    Args:
        task: "classification" or "regression".
        y: the test rows' classes (int) or values, in the units the figures are to be read in.
        predicted: the model's classes or values for the same rows, shaped like ``y``.
        seed: seed of the bootstrap resamples; default 0.
        class_names: the classes' names, index by index (classification); default: the indices as text.

    Returns:
        classification: ``metric`` "accuracy" with its Wilson interval (``value``, ``low``, ``high``), plus
        ``balanced_accuracy`` (``value``, ``low``, ``high``; as ``sklearn.metrics.balanced_accuracy_score``) and
        ``recall`` (per class: ``class``, ``value`` -- None without test rows -- and ``rows``).
        regression: ``metric`` "mse" with its interval, plus ``rmse`` and ``r2`` (``value``, ``low``, ``high``; R² as
        ``sklearn.metrics.r2_score``, the mean over target columns).

    Example:
        >>> y, predicted = np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 0, 0, 0, 1])
        >>> found = figure("classification", y, predicted, class_names=("no", "yes"))
        >>> round(found["value"], 3), found["balanced_accuracy"]["value"], [r["value"] for r in found["recall"]]
        (0.833, 0.75, [1.0, 0.5])
    """
    if task == "classification":
        return _classification_figure(np.asarray(y).reshape(-1), np.asarray(predicted).reshape(-1), seed, class_names)
    errors = _squared_errors(y, predicted)
    columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    guesses = np.asarray(predicted, dtype=np.float64).reshape(columns.shape)
    statistic = _regression_statistics(columns, guesses)
    value = statistic(np.arange(len(columns))[None])[0]
    (mse_low, rmse_low, r2_low), (mse_high, rmse_high, r2_high) = bootstrap_interval(
        statistic, len(columns), rounds=ROUNDS, seed=seed)
    return {"metric": "mse", "value": float(errors.mean()), "low": float(mse_low), "high": float(mse_high),
            "rows": len(y), "interval": BOOTSTRAP,
            "rmse": {"value": float(value[1]), "low": float(rmse_low), "high": float(rmse_high)},
            "r2": {"value": float(value[2]), "low": float(r2_low), "high": float(r2_high)}}


def _classification_figure(y: np.ndarray, predicted: np.ndarray, seed: int,
                           class_names: Sequence[str]) -> dict[str, Any]:
    classes = len(class_names) or int(max(y.max(initial=0), predicted.max(initial=0))) + 1
    names = [str(n) for n in class_names] or [str(c) for c in range(classes)]
    hits = (predicted == y).astype(np.float64)
    correct = int(hits.sum())
    low, high = wilson_interval(correct, len(y))
    statistic = _balanced_accuracy(y.astype(np.int64), hits, classes)
    balanced_low, balanced_high = bootstrap_interval(statistic, len(y), rounds=ROUNDS, seed=seed)
    rows = np.bincount(y, minlength=classes)
    right = np.bincount(y, weights=hits, minlength=classes)
    return {"metric": "accuracy", "value": correct / len(y), "low": low, "high": high, "rows": len(y),
            "interval": "95% Wilson score interval",
            "balanced_accuracy": {"value": float(statistic(np.arange(len(y))[None])[0]), "low": float(balanced_low),
                                  "high": float(balanced_high), "interval": BOOTSTRAP},
            "recall": [{"class": names[c], "value": float(right[c] / rows[c]) if rows[c] else None,
                        "rows": int(rows[c])} for c in range(classes)]}


def _balanced_accuracy(y: np.ndarray, hits: np.ndarray, classes: int):
    """Balanced accuracy of each resample (a line of row indices): the mean recall over the classes it holds."""

    def statistic(rows: np.ndarray) -> np.ndarray:
        count = rows.shape[0]
        # one bincount for every (resample, class) pair: key = resample * classes + class
        keys = (np.arange(count)[:, None] * classes + y[rows]).ravel()
        totals = np.bincount(keys, minlength=count * classes).reshape(count, classes)
        right = np.bincount(keys, weights=hits[rows].ravel(), minlength=count * classes).reshape(count, classes)
        present = totals > 0
        return (right / np.maximum(totals, 1)).sum(1) / present.sum(1)

    return statistic


def _regression_statistics(y: np.ndarray, predicted: np.ndarray):
    """(MSE, RMSE, R²) of each resample; R² per target column as scikit-learn's ``r2_score`` (1 when the column is
    constant and predicted exactly, 0 when constant and not), averaged over the columns."""

    def statistic(rows: np.ndarray) -> np.ndarray:
        truth = y[rows]  # (resamples, rows, columns)
        squared = (predicted[rows] - truth) ** 2
        mse = squared.mean(axis=(1, 2))
        residual = squared.sum(1)
        total = ((truth - truth.mean(1, keepdims=True)) ** 2).sum(1)
        r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1.0), np.where(residual == 0, 1.0, 0.0))
        return np.stack([mse, np.sqrt(mse), r2.mean(1)], axis=1)

    return statistic


def paired(task: str, y: np.ndarray, first: np.ndarray, second: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """``second`` against ``first`` on the same test rows: the paired test and its verdict.

    Args:
        task: "classification" (exact McNemar on correctness) or "regression" (paired bootstrap of squared errors).
        y: the test targets.
        first: the first model's predictions.
        second: the second model's predictions.
        seed: seeds the bootstrap (default 0).
    """
    if task == "classification":
        test = mcnemar_exact(first == y, second == y)
        difference = (test.only_second - test.only_first) / len(y)
        return {"test": "exact McNemar", "difference": difference, "only_first": test.only_first,
                "only_second": test.only_second, "p_value": test.p_value,
                "verdict": decide(test.p_value, difference, higher_is_better=True)}
    result = paired_bootstrap(_squared_errors(y, first), _squared_errors(y, second), seed=seed)
    return {"test": "paired bootstrap of squared errors (2,000 resamples)", "difference": result.mean_difference,
            "low": result.low, "high": result.high, "p_value": result.p_value,
            "verdict": decide(result.p_value, result.mean_difference, higher_is_better=False)}


def test_section(data: Any, baseline: Any, kept: Any, references: list[dict[str, Any]], *,
                 seed: int = 0, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary's ``test`` section: both models' test figures with intervals, the paired verdicts, and (under
    ``arrays``) the values behind them.

    Regression figures are in the target's own units: the networks' outputs and the test targets (standardized for
    training) are mapped back with ``data.preprocessor.decode_target``; ``scores`` (loss = MSE, MAE, RMSE, R²)
    are computed from the same values, so every regression number of the section reads in one unit.

    Args:
        data: the :class:`~fitguard.data.Dataset` whose ``test`` split is read (once).
        baseline: the tested baseline's Trainer.
        kept: the tested kept recipe's Trainer.
        references: :func:`fitguard.doctor.references.reference_models` results (predictions in the target's
            own units); skipped ones are left out.
        seed: seed of the bootstrap resamples; default 0.
        outputs: the two models' raw outputs for the test rows (``"baseline"``, ``"best"``), as their trainers'
            ``predict`` gives them; None (default): predicted here.
    """
    task, names = data.task, data.class_names
    # one forward pass per model over the test rows: its classes (or values) and its scores both come from it
    outputs = outputs or {"baseline": baseline.predict(data.test.X), "best": kept.predict(data.test.X)}
    first, second = (_from_outputs(outputs[name], task) for name in ("baseline", "best"))
    y = data.test.y.cpu().numpy()
    if task != "classification":
        decode = data.preprocessor.decode_target
        y, first, second = decode(y).reshape(first.shape), decode(first), decode(second)

    def tested(trainer: Any, name: str, predicted: np.ndarray) -> dict[str, Any]:
        scores = (trainer.score_outputs(outputs[name], data.test.y) if task == "classification"
                  else regression_scores(y, predicted))
        return {**scores, "figure": figure(task, y, predicted, seed=seed, class_names=names)}

    found: dict[str, Any] = {
        "rows": len(y),
        "baseline": tested(baseline, "baseline", first),
        "best": tested(kept, "best", second),
        "best_vs_baseline": paired(task, y, first, second, seed=seed),
        "references": [],
    }
    if task != "classification":
        found["units"] = "the target's own units (networks trained on it standardized; outputs mapped back)"
    arrays = {"y": y, "baseline": first, "best": second}
    for reference in references:
        if reference["status"] != "done":
            continue
        theirs = np.asarray(reference["predictions"]).reshape(second.shape)
        arrays[f"reference {reference['name']}"] = theirs
        found["references"].append({"name": reference["name"],
                                    "figure": figure(task, y, theirs, seed=seed, class_names=names),
                                    "best_vs_reference": paired(task, y, theirs, second, seed=seed)})
    found["arrays"] = arrays
    return found


def regression_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``loss`` (the mean squared error), ``mae``, ``rmse`` and ``r2`` of ``predicted`` against ``y``, as the
    Trainer names them, in the units the two are given in.

    Args:
        y: (N,) or (N, columns) true values.
        predicted: predictions shaped like ``y``.

    Example:
        >>> regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
        {'loss': 1.3333333333333333, 'mae': 0.6666666666666666, 'rmse': 1.1547005383792515, 'r2': -1.0}
    """
    columns = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    guesses = np.asarray(predicted, dtype=np.float64).reshape(columns.shape)
    mse, rmse, r2 = _regression_statistics(columns, guesses)(np.arange(len(columns))[None])[0]
    return {"loss": float(mse), "mae": float(np.abs(guesses - columns).mean()), "rmse": float(rmse), "r2": float(r2)}


def _squared_errors(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return ((predicted.reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2).mean(1)
