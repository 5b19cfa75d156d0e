"""Lasso and elastic-net regularization paths with k-fold CV for λ and a sparsity report.

The solver is scikit-learn's coordinate descent (``enet_path``, warm-started from the largest λ down), minimizing
``‖y - Xw - b‖² / (2n) + λ·l1_ratio·‖w‖₁ + λ·(1 - l1_ratio)·‖w‖² / 2``. What is added here is the selection:
on the same contiguous folds and the same grid, the CV errors and the chosen λ are those of ``LassoCV`` /
``ElasticNetCV`` (each fold centered on its own training part, error = mean squared error on the held-out part,
averaged over folds), plus the full-data coefficient path, so that the sparsity of every λ is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import enet_path

from fitguard._validation import check_int, check_number
from fitguard.linear.inputs import as_numpy
from fitguard.linear.lambdas import check_lambdas


@dataclass(frozen=True, eq=False)
class SparsePath:
    """The path and its CV, λ in decreasing order (the order warm starts run in).

    ``coefs_`` (L, p) and ``intercepts_`` (L,) are fitted on all the data; ``cv_fold_errors_`` (folds, L) is
    ``LassoCV.mse_path_.T``; ``nonzeros_`` (L,) counts the weights that are not exactly zero.

    Args:
        lambdas: The λ grid, float64, decreasing.
        l1_ratio: The L1 share of the penalty (1: lasso).
        cv: Number of CV folds.
        fit_intercept: Whether an unpenalized intercept was fitted.
        coefs_: Coefficients per λ, fitted on all the data.
        intercepts_: Intercepts per λ.
        cv_errors_: Mean squared CV error per λ, averaged over folds.
        cv_fold_errors_: Held-out mean squared error per fold and λ.
        nonzeros_: Weights not exactly zero per λ.
        best_index_: Position of the λ with the lowest CV error.
        best_lambda_: That λ.
    """

    lambdas: torch.Tensor
    l1_ratio: float
    cv: int
    fit_intercept: bool
    coefs_: torch.Tensor
    intercepts_: torch.Tensor
    cv_errors_: torch.Tensor
    cv_fold_errors_: torch.Tensor
    nonzeros_: torch.Tensor
    best_index_: int
    best_lambda_: float

    @property
    def best_coef_(self) -> torch.Tensor:
        return self.coefs_[self.best_index_]

    @property
    def best_intercept_(self) -> torch.Tensor:
        return self.intercepts_[self.best_index_]

    def sparsity_report(self) -> list[dict[str, float | int]]:
        """One row per λ: the λ, its nonzero count, the fraction of zero weights and the CV error."""
        features = self.coefs_.shape[1]
        return [
            {
                "lambda": float(lam),
                "nonzeros": int(count),
                "zero_fraction": 1.0 - int(count) / features,
                "cv_error": float(error),
            }
            for lam, count, error in zip(self.lambdas, self.nonzeros_, self.cv_errors_)
        ]


def elastic_net_path(
    X: Any,
    y: Any,
    l1_ratio: float = 0.5,
    lambdas: Any = None,
    n_lambdas: int = 100,
    eps: float = 1e-3,
    cv: int = 5,
    fit_intercept: bool = True,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> SparsePath:
    """Elastic-net path with ``cv``-fold CV; without ``lambdas``, ``n_lambdas`` log-spaced from λ_max down to
    ``eps``·λ_max, where λ_max (the smallest λ with all weights zero) comes from the data, as in scikit-learn.

    Args:
        X: Design matrix (n, p), an array or tensor of finite numbers.
        y: Targets (n,) (or (n, 1)).
        l1_ratio: The L1 share of the penalty, in (0, 1] (1: lasso; 0 would be ridge, see
            :func:`~fitguard.linear.ridge_path`). Default 0.5.
        lambdas: Penalty strengths λ, each finite and > 0, in the units of the objective above; sorted into
            decreasing order. None (default): ``n_lambdas`` log-spaced from λ_max down to ``eps``·λ_max.
        n_lambdas: Size of the default grid, >= 1. Default 100.
        eps: Smallest default λ as a fraction of λ_max, in (0, 1). Default 1e-3.
        cv: Number of contiguous CV folds, >= 2 and at most the number of samples. Default 5.
        fit_intercept: Fit an unpenalized intercept (each fold centered on its own training part). Default True.
        max_iter: Coordinate-descent iterations per λ (scikit-learn's ``max_iter``). Default 1000.
        tol: Coordinate-descent tolerance on the dual gap (scikit-learn's ``tol``). Default 1e-4.

    Raises:
        ValueError: an argument out of range, a ``y`` with more than one column, or non-finite inputs.

    Example:
        >>> g = np.random.default_rng(0)
        >>> X = g.normal(size=(60, 5))
        >>> path = elastic_net_path(X, 3 * X[:, 0] + 0.1 * g.normal(size=60), l1_ratio=1.0, n_lambdas=20)
        >>> int(path.nonzeros_[0]), int(path.nonzeros_[path.best_index_]) >= 1
        (0, True)
    """
    if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float)) or not 0 < l1_ratio <= 1:
        raise ValueError(f"`l1_ratio` must be in (0, 1] (0 is ridge: use ridge_path), got {l1_ratio!r}")
    check_int("cv", cv, low=2)
    check_int("n_lambdas", n_lambdas, low=1)
    check_number("eps", eps, low=0, high=1, closed="neither")
    features = as_numpy(X, "X")
    targets = as_numpy(y, "y", rows=features.shape[0])
    if targets.ndim == 2:
        if targets.shape[1] != 1:
            raise ValueError(f"`y` must have one output for lasso/elastic net, got {targets.shape[1]} columns")
        targets = targets[:, 0]
    if cv > features.shape[0]:
        raise ValueError(f"`cv` = {cv} folds needs at least {cv} samples, got {features.shape[0]}")

    if lambdas is None:
        grid = _default_grid(features, targets, l1_ratio, n_lambdas, eps, fit_intercept)
    else:
        grid = np.sort(check_lambdas(lambdas).numpy())[::-1].copy()
    settings = {"l1_ratio": float(l1_ratio), "max_iter": max_iter, "tol": tol}

    fold_errors = []
    for train, test in _contiguous_folds(features.shape[0], cv):
        weights, bias = _fit_path(features[train], targets[train], grid, fit_intercept, settings)
        residuals = features[test] @ weights + bias - targets[test][:, None]
        fold_errors.append((residuals**2).mean(axis=0))
    errors = np.mean(fold_errors, axis=0)
    best = int(np.argmin(errors))
    weights, bias = _fit_path(features, targets, grid, fit_intercept, settings)
    return SparsePath(
        lambdas=torch.from_numpy(grid),
        l1_ratio=float(l1_ratio),
        cv=cv,
        fit_intercept=fit_intercept,
        coefs_=torch.from_numpy(np.ascontiguousarray(weights.T)),
        intercepts_=torch.from_numpy(bias),
        cv_errors_=torch.from_numpy(errors),
        cv_fold_errors_=torch.from_numpy(np.asarray(fold_errors)),
        nonzeros_=torch.from_numpy(np.count_nonzero(weights, axis=0)),
        best_index_=best,
        best_lambda_=float(grid[best]),
    )


def lasso_path(
    X: Any,
    y: Any,
    lambdas: Any = None,
    n_lambdas: int = 100,
    eps: float = 1e-3,
    cv: int = 5,
    fit_intercept: bool = True,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> SparsePath:
    """The lasso is the elastic net with ``l1_ratio=1``; see ``elastic_net_path``.

    Args:
        X: Design matrix (n, p), an array or tensor of finite numbers.
        y: Targets (n,) (or (n, 1)).
        lambdas: Penalty strengths λ, each finite and > 0, in the units of the objective above; sorted into
            decreasing order. None (default): ``n_lambdas`` log-spaced from λ_max down to ``eps``·λ_max.
        n_lambdas: Size of the default grid, >= 1. Default 100.
        eps: Smallest default λ as a fraction of λ_max, in (0, 1). Default 1e-3.
        cv: Number of contiguous CV folds, >= 2 and at most the number of samples. Default 5.
        fit_intercept: Fit an unpenalized intercept (each fold centered on its own training part). Default True.
        max_iter: Coordinate-descent iterations per λ (scikit-learn's ``max_iter``). Default 1000.
        tol: Coordinate-descent tolerance on the dual gap (scikit-learn's ``tol``). Default 1e-4.

    Raises:
        ValueError: an argument out of range, a ``y`` with more than one column, or non-finite inputs.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(40, 3))
        >>> lasso_path(X, X[:, 1], n_lambdas=10).best_coef_.abs().argmax().item()
        1
    """
    return elastic_net_path(X, y, 1.0, lambdas, n_lambdas, eps, cv, fit_intercept, max_iter, tol)


def _default_grid(
    X: np.ndarray, y: np.ndarray, l1_ratio: float, count: int, eps: float, fit_intercept: bool
) -> np.ndarray:
    centered_x = X - X.mean(axis=0) if fit_intercept else X
    centered_y = y - y.mean() if fit_intercept else y
    largest = float(np.abs(centered_x.T @ centered_y).max()) / (X.shape[0] * l1_ratio)
    if largest <= np.finfo(float).resolution:
        # y is constant (after centering): every λ gives w = 0; keep a valid, tiny grid.
        return np.full(count, np.finfo(float).resolution)
    return np.geomspace(largest, largest * eps, num=count)


def _contiguous_folds(n: int, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds of scikit-learn's ``KFold(folds)``: contiguous, the first ``n % folds`` one sample larger."""
    sizes = [n // folds + (1 if fold < n % folds else 0) for fold in range(folds)]
    bounds = np.cumsum([0, *sizes])
    rows = np.arange(n)
    return [(np.r_[rows[:start], rows[stop:]], rows[start:stop]) for start, stop in pairwise(bounds)]


def _fit_path(
    X: np.ndarray, y: np.ndarray, grid: np.ndarray, fit_intercept: bool, settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (p, L) and intercepts (L,) along ``grid`` on centered data."""
    x_mean = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
    y_mean = float(y.mean()) if fit_intercept else 0.0
    centered = np.asfortranarray(X - x_mean)
    centered_y = np.ascontiguousarray(y - y_mean)
    gram, xy = None, None
    if X.shape[0] > X.shape[1]:
        # Like LassoCV's precompute="auto": with more samples than features the Gram matrix is cheaper to sweep.
        gram, xy = np.ascontiguousarray(centered.T @ centered), np.ascontiguousarray(centered.T @ centered_y)
    # Inputs are already validated, float64 and laid out as the solver wants; re-checking them costs a
    # validation of the Gram matrix per λ.
    _, weights, _ = enet_path(
        centered, centered_y, alphas=grid, precompute=gram if gram is not None else False, Xy=xy,
        check_input=False, **settings,
    )
    return weights, y_mean - x_mean @ weights
