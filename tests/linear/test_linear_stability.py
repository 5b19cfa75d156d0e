"""stability(): least squares swings on nearly collinear columns, ridge does not."""

from __future__ import annotations

import numpy as np
import pytest

from fitguard.linear import stability


def _collinear(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=200)
    X = np.column_stack([a, a + 1e-3 * rng.normal(size=200), rng.normal(size=200)])
    return X, a + X[:, 2] + 0.1 * rng.normal(size=200)


def test_ridge_moves_far_less_than_least_squares_on_collinear_data() -> None:
    X, y = _collinear()
    result = stability(X, y, lam=1.0, noise=0.01, rounds=10, seed=0)
    assert result.coef_change_unregularized > 1.0  # the two twin columns trade weight wildly
    assert result.coef_change < 0.05
    assert result.coef_change_ratio > 20
    assert result.prediction_change < result.prediction_change_unregularized
    assert result.condition_gram > 1e5 > result.condition_regularized


def test_well_conditioned_data_is_stable_either_way() -> None:
    X = np.random.default_rng(1).normal(size=(200, 3))
    result = stability(X, X.sum(axis=1), lam=1.0, noise=0.01, rounds=10, seed=0)
    assert result.coef_change_unregularized < 0.05
    assert result.coef_change_ratio == pytest.approx(1.0, abs=0.2)


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    X, y = _collinear()
    first = stability(X, y, lam=0.1, rounds=3, seed=7)
    assert first == stability(X, y, lam=0.1, rounds=3, seed=7)
    assert first.coef_change != stability(X, y, lam=0.1, rounds=3, seed=8).coef_change


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lam": 0.0}, "`lam` must be a finite number > 0, got 0.0"),
        ({"noise": -1.0}, "`noise` must be a finite number > 0, got -1.0"),
        ({"rounds": 0}, "`rounds` must be an integer >= 1, got 0"),
        ({"X": np.ones((2, 2)), "y": np.ones(2)}, "`X` must have at least 3 samples to perturb and refit, got 2"),
    ],
)
def test_bad_input_is_one_clear_message(kwargs: dict, message: str) -> None:
    X, y = _collinear()
    arguments = {"X": X, "y": y, "lam": 1.0, **kwargs}
    with pytest.raises(ValueError) as error:
        stability(**arguments)
    assert str(error.value) == message
