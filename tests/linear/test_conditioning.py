"""Condition numbers on statsmodels' longley data (the classic multicollinear regression), against oracles."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.linear_model import Ridge
from statsmodels.datasets import longley

from fitguard.linear import conditioning, ridge_path

LAMBDAS = [1e-4, 1.0, 1e2, 1e4]


@pytest.fixture(scope="module")
def longley_data() -> tuple[np.ndarray, np.ndarray]:
    data = longley.load()
    return np.asarray(data.exog, dtype=np.float64), np.asarray(data.endog, dtype=np.float64)


def test_longley_design_condition_equals_statsmodels(longley_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = longley_data
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    result = conditioning(X, LAMBDAS)
    assert result.design == pytest.approx(ols.condition_number, rel=1e-6)
    assert result.design == pytest.approx(4.8593e9, rel=1e-4)


def test_longley_gram_condition_is_huge_and_falls_by_orders_with_lambda(
    longley_data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, _ = longley_data
    result = conditioning(X, LAMBDAS)
    # cond([1, X]ᵀ[1, X]) = cond([1, X])²: far beyond 1e9, at the edge of float64.
    assert result.gram == pytest.approx(2.3612e19, rel=1e-3)
    expected = [2.7646e16, 2.7678e12, 2.7678e10, 2.7678e8]
    np.testing.assert_allclose(result.regularized.numpy(), expected, rtol=1e-3)
    design = np.column_stack([np.ones(len(X)), X])
    for lam, value in zip(LAMBDAS[1:], result.regularized[1:].tolist()):
        # Once λ has lifted it out of roundoff, numpy's own cond of the formed matrix is an oracle.
        assert value == pytest.approx(np.linalg.cond(design.T @ design + lam * np.eye(7)), rel=1e-4)


def test_ridge_path_reports_the_centered_system_it_solves(longley_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = longley_data
    path = ridge_path(X, y, LAMBDAS)
    # Centering removes the intercept's collinearity but the columns' own (GNP vs population vs year) remains.
    assert path.condition_gram_ == pytest.approx(3.3283e11, rel=1e-3)
    np.testing.assert_allclose(path.condition_numbers_.numpy(), [3.3275e11, 1.0288e11, 1.4825e9, 1.4890e7], rtol=1e-3)
    assert bool((path.condition_numbers_.diff() < 0).all())


def test_wide_design_is_singular_and_lambda_makes_it_invertible() -> None:
    X = np.random.default_rng(0).normal(size=(3, 5))
    result = conditioning(X, [1.0], intercept_column=False)
    assert result.gram == float("inf") and result.design == float("inf")
    assert np.isfinite(float(result.regularized[0]))


def test_multicollinear_coefficients_stay_exact(longley_data: tuple[np.ndarray, np.ndarray]) -> None:
    # cond(XᵀX) ~ 3e11 sends the decomposition through the SVD itself rather than the Gram matrix.
    X, y = longley_data
    path = ridge_path(X, y, [1e-2, 1.0, 100.0])
    for index, lam in enumerate([1e-2, 1.0, 100.0]):
        reference = Ridge(alpha=lam, solver="svd").fit(X, y)
        np.testing.assert_allclose(path.coefs_[index].numpy(), reference.coef_, rtol=1e-8)
