"""Lasso / elastic-net paths against scikit-learn's LassoCV, ElasticNetCV and single Lasso fits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import ElasticNetCV, Lasso, LassoCV
from sklearn.model_selection import KFold

from fitguard.linear import elastic_net_path, lasso_path


def _sparse_problem(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 1.0
    true = np.zeros(p)
    true[:3] = [2.0, -1.0, 0.5]
    return X, X @ true + rng.normal(scale=0.5, size=n) + 3.0


@pytest.mark.parametrize("n, p", [(83, 10), (40, 60)])
def test_lasso_cv_equals_lassocv_on_the_same_folds_and_grid(n: int, p: int) -> None:
    X, y = _sparse_problem(n, p)
    path = lasso_path(X, y, n_lambdas=30, cv=5)
    reference = LassoCV(alphas=30, cv=KFold(5)).fit(X, y)
    np.testing.assert_allclose(path.lambdas.numpy(), reference.alphas_, rtol=1e-12)
    np.testing.assert_allclose(path.cv_fold_errors_.numpy(), reference.mse_path_.T, rtol=1e-9)
    assert path.best_lambda_ == reference.alpha_
    assert 0 < path.best_index_ < 29
    # LassoCV refits cold at the chosen λ; the path is warm-started: equal within the solver's tolerance.
    np.testing.assert_allclose(path.best_coef_.numpy(), reference.coef_, atol=1e-3)


def test_elastic_net_cv_equals_elasticnetcv() -> None:
    X, y = _sparse_problem(70, 12, seed=1)
    grid = np.logspace(-3, 0.5, 20)
    path = elastic_net_path(X, y, l1_ratio=0.5, lambdas=grid, cv=4)
    reference = ElasticNetCV(l1_ratio=0.5, alphas=grid, cv=KFold(4)).fit(X, y)
    np.testing.assert_allclose(path.cv_fold_errors_.numpy(), reference.mse_path_.T, rtol=1e-9)
    assert path.best_lambda_ == reference.alpha_
    assert path.lambdas[0] > path.lambdas[-1]  # solved from the largest λ down


def test_path_coefficients_equal_independent_lasso_fits() -> None:
    X, y = _sparse_problem(60, 8, seed=2)
    path = lasso_path(X, y, n_lambdas=10, tol=1e-12, max_iter=100_000)
    for index in (0, 4, 9):
        reference = Lasso(alpha=float(path.lambdas[index]), tol=1e-12, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(path.coefs_[index].numpy(), reference.coef_, atol=1e-8)
        assert float(path.intercepts_[index]) == pytest.approx(reference.intercept_, abs=1e-8)


def test_sparsity_report_counts_exact_zeros() -> None:
    X, y = _sparse_problem(60, 8, seed=3)
    path = lasso_path(X, y, n_lambdas=15)
    assert int(path.nonzeros_[0]) == 0  # λ_max zeroes every weight
    assert path.nonzeros_.tolist() == [int(np.count_nonzero(row)) for row in path.coefs_.numpy()]
    report = path.sparsity_report()
    assert len(report) == 15
    assert report[0] == {
        "lambda": float(path.lambdas[0]),
        "nonzeros": 0,
        "zero_fraction": 1.0,
        "cv_error": float(path.cv_errors_[0]),
    }
    # Somewhere on the path exactly the three true features are in and the five noise features are exactly 0.
    supports = [set(np.flatnonzero(row).tolist()) for row in path.coefs_.numpy()]
    assert {0, 1, 2} in supports


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"l1_ratio": 0.0}, "`l1_ratio` must be in (0, 1] (0 is ridge: use ridge_path), got 0.0"),
        ({"cv": 1}, "`cv` must be an integer >= 2, got 1"),
        ({"cv": 30}, "`cv` = 30 folds needs at least 30 samples, got 20"),
        ({"n_lambdas": 0}, "`n_lambdas` must be an integer >= 1, got 0"),
        ({"eps": 2.0}, "`eps` must be a number in (0, 1), got 2.0"),
        ({"lambdas": [0.1, 0.0]}, "`lambdas[1]` = 0.0, must be finite and > 0"),
        ({"y": np.zeros((20, 2))}, "`y` must have one output for lasso/elastic net, got 2 columns"),
    ],
)
def test_bad_input_is_one_clear_message(kwargs: dict, message: str) -> None:
    arguments = {"X": np.random.default_rng(0).normal(size=(20, 3)), "y": np.arange(20.0), **kwargs}
    with pytest.raises(ValueError) as error:
        elastic_net_path(**arguments)
    assert str(error.value) == message
