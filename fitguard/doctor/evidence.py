"""The one look at the test split: each model's test figure with a 95% interval, and the kept model against the
baseline (and the reference models) on the same test rows with a paired test.

- classification: accuracy with its Wilson interval; the exact McNemar test on the rows one model gets right and
  the other wrong;
- regression: the mean squared error with a bootstrap interval; a paired bootstrap of the per-row squared errors.

The word in ``verdict`` ("better", "worse", "not distinguishable") is the second model's against the first at
p < 0.05 -- the only place the report and the terminal say "better".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fitguard.diagnose.significance import decide, mcnemar_exact, paired_bootstrap, wilson_interval


def predictions(trainer: Any, X: Any, task: str) -> np.ndarray:
    """Class indices (classification) or predicted values (regression) of ``trainer``'s model for ``X``."""
    outputs = trainer.predict(X)
    if task == "classification":
        return outputs.argmax(1).numpy()
    return outputs.reshape(len(outputs), -1).numpy()


def figure(task: str, y: np.ndarray, predicted: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """A model's test figure with its 95% interval: accuracy (Wilson) or mean squared error (bootstrap)."""
    if task == "classification":
        correct = int((predicted == y).sum())
        low, high = wilson_interval(correct, len(y))
        return {"metric": "accuracy", "value": correct / len(y), "low": low, "high": high, "rows": len(y),
                "interval": "95% Wilson score interval"}
    errors = _squared_errors(y, predicted)
    rng = np.random.default_rng(seed)
    means = errors[rng.integers(0, len(errors), size=(2000, len(errors)))].mean(1)
    return {"metric": "mse", "value": float(errors.mean()), "low": float(np.quantile(means, 0.025)),
            "high": float(np.quantile(means, 0.975)), "rows": len(y), "interval": "95% bootstrap interval (2,000 resamples)"}


def paired(task: str, y: np.ndarray, first: np.ndarray, second: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """``second`` against ``first`` on the same test rows: the paired test and its verdict."""
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


def _squared_errors(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return ((predicted.reshape(len(y), -1) - y.reshape(len(y), -1)) ** 2).mean(1)
