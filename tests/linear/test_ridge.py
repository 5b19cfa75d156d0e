"""ridge_path against independent oracles: scikit-learn's Ridge / RidgeCV / GridSearchCV and brute-force refits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold

from fitguard.linear import one_hot, ridge_path

LAMBDAS = np.logspace(-3, 3, 25)


def _problem(n: int, p: int, outputs: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Offset columns and target so that the intercept matters.
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + 2.0
    true = rng.normal(size=(p, max(outputs, 1)))
    y = X @ true + rng.normal(scale=3.0, size=(n, max(outputs, 1))) + 5.0
    return X, (y[:, 0] if outputs == 0 else y)


SHAPES = [(60, 8, 0), (30, 50, 0), (60, 8, 3), (30, 50, 3)]


@pytest.mark.parametrize("n, p, outputs", SHAPES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coefficients_equal_sklearn_ridge_for_every_lambda(n: int, p: int, outputs: int, fit_intercept: bool) -> None:
    X, y = _problem(n, p, outputs)
    path = ridge_path(X, y, LAMBDAS, fit_intercept=fit_intercept)
    for index, lam in enumerate(LAMBDAS):
        reference = Ridge(alpha=lam, fit_intercept=fit_intercept, solver="svd").fit(X, y)
        np.testing.assert_allclose(path.coefs_[index].numpy(), reference.coef_, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(path.intercepts_[index].numpy(), reference.intercept_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("n, p, outputs", SHAPES)
@pytest.mark.parametrize("gcv_mode", ["auto", "svd"])
def test_leave_one_out_matches_ridgecv(n: int, p: int, outputs: int, gcv_mode: str) -> None:
    X, y = _problem(n, p, outputs, seed=1)
    reference = RidgeCV(alphas=LAMBDAS, gcv_mode=gcv_mode, store_cv_results=True).fit(X, y)
    path = ridge_path(X, y, LAMBDAS, cv="loo")
    assert path.best_lambda_ == reference.alpha_
    # RidgeCV's score is the mean squared LOO error over samples and outputs (its alphas are Ridge's alphas).
    per_lambda = reference.cv_results_.reshape(-1, len(LAMBDAS)).mean(axis=0)
    np.testing.assert_allclose(path.cv_errors_.numpy(), per_lambda, rtol=1e-6)
    np.testing.assert_allclose(path.best_coef_.numpy(), reference.coef_, rtol=1e-8, atol=1e-12)


def test_ridgecv_choice_is_not_at_the_grid_edge() -> None:
    # Guards the comparison above from passing trivially with both picking an end of the grid.
    X, y = _problem(60, 8, seed=1)
    assert 0 < ridge_path(X, y, LAMBDAS).best_index_ < len(LAMBDAS) - 1


@pytest.mark.parametrize("n, p, fit_intercept", [(25, 4, True), (12, 20, True), (25, 4, False)])
def test_leave_one_out_shortcut_equals_brute_force_refits(n: int, p: int, fit_intercept: bool) -> None:
    X, y = _problem(n, p, seed=2)
    lambdas = [0.01, 1.0, 100.0]
    path = ridge_path(X, y, lambdas, fit_intercept=fit_intercept, cv="loo")
    brute = np.zeros(len(lambdas))
    for index, lam in enumerate(lambdas):
        for left_out in range(n):
            keep = np.arange(n) != left_out
            model = Ridge(alpha=lam, fit_intercept=fit_intercept).fit(X[keep], y[keep])
            brute[index] += (model.predict(X[left_out : left_out + 1])[0] - y[left_out]) ** 2 / n
    np.testing.assert_allclose(path.cv_errors_.numpy(), brute, rtol=1e-9)


@pytest.mark.parametrize("n, p", [(40, 6), (15, 30)])
def test_gcv_equals_the_explicit_hat_matrix_formula(n: int, p: int) -> None:
    X, y = _problem(n, p, seed=3)
    path = ridge_path(X, y, LAMBDAS, cv="gcv")
    design = np.column_stack([np.ones(n), X])
    expected = []
    for lam in LAMBDAS:
        penalty = lam * np.eye(p + 1)
        penalty[0, 0] = 0.0  # the intercept is not penalized
        hat = design @ np.linalg.solve(design.T @ design + penalty, design.T)
        residuals = y - hat @ y
        expected.append(np.mean(residuals**2) / (1 - np.trace(hat) / n) ** 2)
    np.testing.assert_allclose(path.cv_errors_.numpy(), expected, rtol=1e-7)
    assert path.best_lambda_ == LAMBDAS[int(np.argmin(expected))]


def test_kfold_matches_gridsearchcv_on_the_same_folds() -> None:
    X, y = _problem(53, 7, seed=4)
    search = GridSearchCV(Ridge(), {"alpha": LAMBDAS}, cv=KFold(5), scoring="neg_mean_squared_error").fit(X, y)
    path = ridge_path(X, y, LAMBDAS, cv=5)
    np.testing.assert_allclose(path.cv_errors_.numpy(), -search.cv_results_["mean_test_score"], rtol=1e-9)
    assert path.best_lambda_ == search.best_params_["alpha"]
    assert path.cv_fold_errors_ is not None and path.cv_fold_errors_.shape == (5, len(LAMBDAS))


def test_one_hot_classes_fit_in_one_pass_like_separate_fits() -> None:
    rng = np.random.default_rng(5)
    X, labels = rng.normal(size=(80, 5)), rng.integers(0, 3, size=80)
    together = ridge_path(X, one_hot(labels), [0.1, 10.0])
    for column in range(3):
        alone = ridge_path(X, (labels == column).astype(float), [0.1, 10.0])
        np.testing.assert_allclose(together.coefs_[:, column, :].numpy(), alone.coefs_.numpy(), rtol=1e-10)
    assert together.predict(X).shape == (80, 3)


def test_condition_numbers_match_numpy() -> None:
    X, y = _problem(40, 6, seed=6)
    path = ridge_path(X, y, [0.5, 50.0])
    centered = X - X.mean(axis=0)
    gram = centered.T @ centered
    assert path.condition_gram_ == pytest.approx(np.linalg.cond(gram), rel=1e-9)
    for index, lam in enumerate([0.5, 50.0]):
        assert float(path.condition_numbers_[index]) == pytest.approx(np.linalg.cond(gram + lam * np.eye(6)), rel=1e-9)


def test_wide_design_has_a_singular_gram_matrix() -> None:
    X, y = _problem(10, 20, seed=7)
    path = ridge_path(X, y, [1.0])
    assert path.condition_gram_ == float("inf")
    assert np.isfinite(float(path.condition_numbers_[0]))


def test_numpy_and_torch_inputs_agree_and_float32_works() -> None:
    X, y = _problem(30, 4, seed=8)
    from_numpy = ridge_path(X, y, LAMBDAS)
    from_torch = ridge_path(torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(LAMBDAS))
    assert torch.equal(from_numpy.coefs_, from_torch.coefs_)
    single = ridge_path(X, y, LAMBDAS, dtype=torch.float32)
    assert single.coefs_.dtype == torch.float32
    np.testing.assert_allclose(single.coefs_.numpy(), from_numpy.coefs_.numpy(), rtol=1e-3, atol=1e-4)


def test_predict_uses_the_best_lambda_by_default() -> None:
    X, y = _problem(30, 4, seed=9)
    path = ridge_path(X, y, LAMBDAS)
    reference = Ridge(alpha=path.best_lambda_).fit(X, y)
    np.testing.assert_allclose(path.predict(X).numpy(), reference.predict(X), rtol=1e-9)
    first = Ridge(alpha=LAMBDAS[0]).fit(X, y)
    np.testing.assert_allclose(path.predict(X, index=0).numpy(), first.predict(X), rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lambdas": [1.0, -1.0]}, "`lambdas[1]` = -1.0, must be finite and > 0"),
        ({"lambdas": []}, "`lambdas` must be a non-empty 1-D sequence of numbers, got shape (0,)"),
        ({"cv": "kfold"}, "`cv` must be 'loo', 'gcv' or a number of folds >= 2, got 'kfold'"),
        ({"cv": 1}, "`cv` must be 'loo', 'gcv' or a number of folds >= 2, got 1"),
        ({"cv": True}, "`cv` must be 'loo', 'gcv' or a number of folds >= 2, got True"),
        ({"cv": 50}, "`cv` = 50 folds needs at least 50 samples, got 10"),
        ({"y": np.zeros(9)}, "`y` must have as many rows as `X` (10), got 9"),
        ({"X": np.zeros(10)}, "`X` must be 2-D (samples, features), got shape (10,)"),
        ({"X": np.full((10, 2), np.nan)}, "`X` must be finite, got 20 NaN/inf values"),
        ({"dtype": torch.int64}, "`dtype` must be torch.float32 or torch.float64, got torch.int64"),
    ],
)
def test_bad_input_is_one_clear_message(kwargs: dict, message: str) -> None:
    arguments = {"X": np.ones((10, 2)), "y": np.zeros(10), "lambdas": [1.0], **kwargs}
    with pytest.raises(ValueError) as error:
        ridge_path(**arguments)
    assert str(error.value) == message
