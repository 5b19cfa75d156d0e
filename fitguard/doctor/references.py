"""Reference models: what off-the-shelf scikit-learn reaches on the same rows, so the doctor's network has a bar.

The inputs arrive preprocessed the way the doctor's networks see them (tables standardized on the training rows,
pixels scaled), so no scaler is added: a per-pixel standardization would blow up the near-constant border pixels of
images and cost an RBF kernel 7 points (test accuracy 0.834 against 0.903 on 50 MNIST digits a class, seed 1).

A network that overfits less than it did is not yet a good model; a logistic regression, an RBF SVM and gradient
boosting say what a few seconds of standard tools reach. To be comparable they are chosen exactly like the
doctor's recipes -- a small grid scored on the *same* folds (or the same train -> val holdout), best mean score
wins, ties to the earlier (more regularized) grid point -- then refit once on train + val and scored once on
the test rows. Scores are "higher is better" as in :mod:`fitguard.doctor.trials`: accuracy for classes, minus
the mean squared error for regression. Inputs are flattened to (rows, features) float64; images and signals
become pixel vectors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.multioutput import MultiOutputRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from threadpoolctl import threadpool_limits

from fitguard.data.tensors import TensorData

SKIPPED = "skipped: budget"
#: below this many train + val rows the models run on one thread (sklearn's own line for "auto" early stopping)
SMALL_ROWS = 10_000


@dataclass(frozen=True)
class Reference:
    """A reference model: its name, how to build it from ``(seed, **params)`` and the grid its params come from.

    Args:
        name: the model's name in the report.
        build: makes the model from ``(seed, **params)``.
        grid: the parameter sets tried.
        cost: a rough upper bound on one fit's seconds from (rows, features, classes); None (default): cheap enough
            to just start.
    """

    name: str
    build: Callable[..., Any]
    grid: tuple[dict[str, Any], ...]
    #: a rough upper bound on one fit's seconds from (rows, features, classes); None: cheap enough to just start
    cost: Callable[[int, int, int], float] | None = None


def _boosting_cost(rows: int, features: int, classes: int) -> float:
    # one tree per class and iteration, each a histogram pass over rows x features: measured ~40-50 ns per
    # row x feature x tree on one thread here (1000 x 784 x 10 classes x 200 trees: about a minute). A fit
    # cannot be stopped in flight, so one that would overrun the deadline is not started.
    return 45e-9 * rows * features * max(1, classes) * 200


def _logistic(seed: int, C: float) -> Any:
    return LogisticRegression(C=C, max_iter=1000)


def _svc(seed: int, C: float, gamma: str) -> Any:
    return SVC(C=C, gamma=gamma)


def _svr(seed: int, C: float, gamma: str) -> Any:
    # SVR's C and epsilon (0.1) are in target units: on a standardized target one grid fits every target's scale
    return TransformedTargetRegressor(SVR(C=C, gamma=gamma), transformer=StandardScaler())


def _ridge(seed: int, alpha: float) -> Any:
    return Ridge(alpha=alpha)


def _boosting(seed: int, *, regression: bool, max_iter: int, early_stopping: str) -> Any:
    kind = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    return kind(max_iter=max_iter, early_stopping=early_stopping, random_state=seed)


# Early stopping "auto" is on only above 10,000 rows: on the small data the doctor cross-validates, a 10% inner
# validation split would cost rows and add noise; on large data it saves most of the 200 iterations.
_BOOSTING = ({"max_iter": 200, "early_stopping": "auto"},)

#: per task, cheapest first on the small data the doctor cross-validates (an SVM's cost grows ~ rows², so on
#: large data it is the slowest; the order is fixed so that a budget always cuts the same models). Each grid
#: runs from the most regularized point, so a tie keeps the simpler model.
REFERENCES: dict[str, tuple[Reference, ...]] = {
    "classification": (
        Reference("logistic regression", _logistic, tuple({"C": c} for c in (0.01, 0.1, 1, 10))),
        Reference("RBF SVC", _svc, tuple({"C": c, "gamma": "scale"} for c in (1, 10, 100))),
        Reference("gradient boosting", partial(_boosting, regression=False), _BOOSTING, _boosting_cost),
    ),
    "regression": (
        Reference("ridge regression", _ridge, tuple({"alpha": a} for a in (100, 10, 1, 0.1))),
        Reference("RBF SVR", _svr, tuple({"C": c, "gamma": "scale"} for c in (1, 10, 100))),
        Reference("gradient boosting", partial(_boosting, regression=True), _BOOSTING, _boosting_cost),
    ),
}


def reference_models(
    task: str,
    folds: list[tuple[TensorData, TensorData]] | None,
    train: TensorData,
    val: TensorData,
    test: TensorData,
    *,
    deadline: float | None = None,
    seed: int = 0,
    target_decode: Callable[[np.ndarray], np.ndarray] | None = None,
    features: Callable[[Any], np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Choose, refit and test each reference model of ``task`` on the rows the doctor used.

    Args:
        task: "classification" or "regression".
        folds: the doctor's (train, val) folds over train + val, or None to score on ``train`` -> ``val``.
        train: the training split; with ``val`` it is what the chosen grid point is refit on.
        val: the validation split.
        test: the test split, predicted once per model.
        deadline: a ``time.perf_counter()`` value; once reached before a model or one of its grid points, that
            model and every later one are ``"skipped: budget"``. None (default): no limit.
        seed: random state of the models that draw (gradient boosting); default 0.
        target_decode: regression: maps targets in the units the models are fitted in (the doctor's standardized
            ones) to the target's own units (``Dataset.preprocessor.decode_target``); the test predictions and
            scores are then in the target's own units, the ``cv_scores`` stay in the fitted units. None: no mapping.
        features: maps a split's inputs to the (rows, features) matrix the models fit: for a table with embedded
            columns, their codes as one-hot columns (``lambda X: data.preprocessor.expand(X)[0]``). None: the
            inputs flattened.

    Returns:
        One dict per model, in ``REFERENCES[task]`` order: ``name``, ``params`` (the chosen grid point),
        ``cv_scores`` (its score per fold, one for a holdout), ``cv_mean``, ``test_accuracy`` or ``test_mse``,
        ``test_rmse`` and ``test_r2``, ``predictions`` (per test row, Python ints or floats), ``seconds`` and
        ``status`` ("done" or "skipped: budget"; a skipped model has None scores and no predictions).

    Raises:
        ValueError: an unknown ``task``, an empty ``folds`` list or an empty ``test`` split.

    Example:
        >>> import fitguard.data as fd
        >>> data = fd.load("wine", seed=0)
        >>> results = reference_models("classification", None, data.train, data.val, data.test)
        >>> [(r["name"], r["status"], len(r["predictions"]) == len(data.test)) for r in results]
        [('logistic regression', 'done', True), ('RBF SVC', 'done', True), ('gradient boosting', 'done', True)]
    """
    if task not in REFERENCES:
        raise ValueError(f"`task` must be 'classification' or 'regression', got {task!r}")
    if folds is not None and len(folds) == 0:
        raise ValueError("`folds` must be None or a non-empty list of (train, val) pairs, got []")
    if len(test) == 0:
        raise ValueError("`test` must have at least one row, got 0")
    arrays = partial(_arrays, features=features)
    splits = [(arrays(t), arrays(v)) for t, v in folds] if folds is not None else [(arrays(train), arrays(val))]
    (X_train, y_train), (X_val, y_val) = arrays(train), arrays(val)
    refit, held_out = (np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])), arrays(test)
    results: list[dict[str, Any]] = []
    # One BLAS/OpenMP thread on small data: the fits are short, and a thread pool's synchronisation dominates them
    # (gradient boosting on 1,400 digits took 15x longer with 2 threads than with 1 on a busy 2-core machine).
    with threadpool_limits(1) if len(refit[0]) < SMALL_ROWS else nullcontext():
        for reference in REFERENCES[task]:
            started = time.perf_counter()
            done = None if (results and results[-1]["status"] == SKIPPED) or _too_slow(
                reference, task, splits, refit, deadline) else _run(reference, task, splits, refit, held_out, deadline,
                                                                    seed, target_decode)
            results.append({**(done or _skipped(reference.name, task)), "seconds": time.perf_counter() - started})
    return results


def _too_slow(reference: Reference, task: str, splits: list, refit: tuple[np.ndarray, np.ndarray],
              deadline: float | None) -> bool:
    """Whether the model's estimated fits (each fold of its grid, then the refit) would end past ``deadline``."""
    if deadline is None or reference.cost is None:
        return False
    X, y = refit
    classes = len(np.unique(y)) if task == "classification" else 1
    fits = len(reference.grid) * len(splits) + 1
    return time.perf_counter() + fits * reference.cost(len(X), X.shape[1], classes if classes > 2 else 1) > deadline


def _run(reference: Reference, task: str, splits: list, refit: tuple[np.ndarray, np.ndarray],
         test: tuple[np.ndarray, np.ndarray], deadline: float | None, seed: int,
         decode: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any] | None:
    """The model chosen on ``splits``, refit and tested; None when ``deadline`` came before a grid point."""
    scored = []
    for params in reference.grid:
        if deadline is not None and time.perf_counter() >= deadline:
            return None
        scored.append((params, [_score(task, _fit(reference.build(seed, **params), *part), *held)
                                for part, held in splits]))
    best_params, best_scores = max(scored, key=lambda item: np.mean(item[1]))  # max keeps the first of ties
    X_test, y_test = test
    predictions = _fit(reference.build(seed, **best_params), *refit).predict(X_test).reshape(y_test.shape)
    if decode is not None and task == "regression":
        y_test, predictions = decode(y_test), decode(predictions)
    return {"name": reference.name, "params": dict(best_params), "cv_scores": [float(s) for s in best_scores],
            "cv_mean": float(np.mean(best_scores)), **_test_scores(task, y_test, predictions),
            "predictions": predictions.tolist(), "status": "done"}


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit on (rows,) targets as they are, one column as (rows,), several columns one model each."""
    if y.ndim == 2 and y.shape[1] > 1:
        estimator = MultiOutputRegressor(estimator)
    return estimator.fit(X, y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y)


def _score(task: str, model: Any, X: np.ndarray, y: np.ndarray) -> float:
    predictions = model.predict(X).reshape(y.shape)
    if task == "classification":
        return float(accuracy_score(y, predictions))
    return -float(mean_squared_error(y, predictions))


def _test_scores(task: str, y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    if task == "classification":
        return {"test_accuracy": float(accuracy_score(y, predictions))}
    mse = float(mean_squared_error(y, predictions))
    # R² of one row is undefined (scikit-learn warns, once per reference, and returns nan)
    r2 = float(r2_score(y, predictions)) if len(y) > 1 else math.nan
    return {"test_mse": mse, "test_rmse": math.sqrt(mse), "test_r2": r2}


def _skipped(name: str, task: str) -> dict[str, Any]:
    tests = ("test_accuracy",) if task == "classification" else ("test_mse", "test_rmse", "test_r2")
    return {"name": name, "params": {}, "cv_scores": [], "cv_mean": None, **dict.fromkeys(tests),
            "predictions": [], "status": SKIPPED}


def _arrays(data: TensorData, features: Callable[[Any], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features) float64 inputs; int64 classes or float64 regression targets (float32 would round the MSE)."""
    X, y = data.X.detach().cpu().numpy(), data.y.detach().cpu().numpy()
    X = features(X) if features is not None else X
    return X.reshape(len(X), -1).astype(np.float64), y.astype(np.float64) if y.dtype.kind == "f" else y
