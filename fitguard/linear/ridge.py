"""The whole ridge path from one decomposition, with λ chosen by closed-form leave-one-out, GCV or k-fold CV.

Ridge minimizes ``‖y - Xw - b‖² + λ‖w‖²`` (the intercept ``b`` unpenalized), so ``w = (XcᵀXc + λI)⁻¹ Xcᵀ yc`` on
the centered data — exactly scikit-learn's ``Ridge(alpha=λ)``. With the hat matrix ``H(λ)`` (``ŷ = H y``),
leave-one-out needs no refits: the error on sample i when it is left out is ``(y_i - ŷ_i) / (1 - H_ii)``;
GCV replaces every ``H_ii`` by their mean ``tr(H) / n``. Both come from the same decomposition as the
coefficients (see ``fitguard.linear.spectrum``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fitguard.linear.inputs import as_matrix, as_targets
from fitguard.linear.lambdas import check_lambdas
from fitguard.linear.spectrum import (
    Spectrum,
    coefficients,
    condition_numbers,
    decompose,
    fitted,
    intercepts,
    shrinkage,
)

# (λ × samples × outputs) entries handled at once: bounds memory for long grids and many one-hot classes.
_CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True, eq=False)
class RidgePath:
    """Everything ``ridge_path`` measured; fitted values end in ``_``.

    Shapes, for L λs, p features and k outputs: ``coefs_`` (L, p), or (L, k, p) for a 2-D ``y`` (scikit-learn's
    ``coef_`` layout per λ); ``intercepts_`` (L,) or (L, k); ``cv_errors_`` (L,) mean squared CV error;
    ``cv_fold_errors_`` (folds, L) for k-fold CV, else ``None``; ``condition_numbers_`` (L,) is
    cond(XᵀX + λI) of the Gram matrix the fit regularizes (centered when ``fit_intercept``) and
    ``condition_gram_`` is cond(XᵀX) itself (``inf`` when singular).

    Args:
        lambdas: The λ grid, float64, in the order given.
        cv: How λ was chosen: ``"loo"``, ``"gcv"`` or a number of folds.
        fit_intercept: Whether an unpenalized intercept was fitted (on centered data).
        coefs_: Coefficients per λ (shapes above).
        intercepts_: Intercepts per λ (zeros without ``fit_intercept``).
        cv_errors_: Mean squared CV error per λ.
        cv_fold_errors_: Held-out mean squared error per fold and λ for k-fold CV; None otherwise.
        best_index_: Position of the chosen λ (lowest CV error; ties to the first).
        best_lambda_: The chosen λ.
        condition_gram_: Condition number of the (centered) Gram matrix XᵀX.
        condition_numbers_: Condition number of XᵀX + λI per λ.
        singular_values_: Singular values of the (centered) design matrix, largest first.
    """

    lambdas: torch.Tensor
    cv: str | int
    fit_intercept: bool
    coefs_: torch.Tensor
    intercepts_: torch.Tensor
    cv_errors_: torch.Tensor
    cv_fold_errors_: torch.Tensor | None
    best_index_: int
    best_lambda_: float
    condition_gram_: float
    condition_numbers_: torch.Tensor
    singular_values_: torch.Tensor

    @property
    def best_coef_(self) -> torch.Tensor:
        return self.coefs_[self.best_index_]

    @property
    def best_intercept_(self) -> torch.Tensor:
        return self.intercepts_[self.best_index_]

    def predict(self, X: Any, index: int | None = None) -> torch.Tensor:
        """Predictions of the model at ``lambdas[index]``.

        Args:
            X: the inputs (n, features), anything :func:`torch.as_tensor` takes.
            index: the position in ``lambdas`` (negative counts from the end); None (default): the best lambda.

        Raises:
            ValueError: when ``index`` is out of range or ``X`` has the wrong number of columns.
        """
        position = self.best_index_ if index is None else index
        if not -len(self.lambdas) <= position < len(self.lambdas):
            raise ValueError(f"`index` must be in [0, {len(self.lambdas)}), got {index}")
        weights = self.coefs_[position]
        features = as_matrix(X, "X", dtype=weights.dtype, device=weights.device)
        if features.shape[1] != weights.shape[-1]:
            raise ValueError(f"`X` must have {weights.shape[-1]} columns, got {features.shape[1]}")
        return features @ (weights.mT if weights.ndim == 2 else weights) + self.intercepts_[position]


def ridge_path(
    X: Any,
    y: Any,
    lambdas: Any,
    fit_intercept: bool = True,
    cv: str | int = "loo",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> RidgePath:
    """Fit ridge for every λ from one decomposition and pick λ by ``cv`` ('loo', 'gcv' or k folds).

    ``y`` may be 2-D (several outputs, e.g. one-hot classes from ``one_hot``): all are fitted in the same pass and
    the CV error is the mean over samples and outputs, as in ``RidgeCV``. k-fold uses contiguous folds, the same
    as scikit-learn's ``KFold(k)``. Ties go to the first λ in the order given.

    Args:
        X: Design matrix (n, p), a tensor or array of finite numbers.
        y: Targets (n,) or (n, k).
        lambdas: Penalty strengths λ, each finite and > 0 (:func:`check_lambdas`), in the units of ``‖y - Xw‖²``
            (scikit-learn's ``alpha``).
        fit_intercept: Fit an unpenalized intercept (needs n >= 2). Default True.
        cv: ``"loo"`` (default, closed-form leave-one-out), ``"gcv"`` or a number of contiguous folds >= 2
            (at most n).
        dtype: ``torch.float64`` (default) or ``torch.float32`` for the computation.
        device: Where to compute; None (default): where ``X`` already is.

    Raises:
        ValueError: a bad λ, ``cv``, dtype or input shape, or non-finite inputs.

    Example:
        >>> X = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> path = ridge_path(X, X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), [1e-3, 1.0, 1e3])
        >>> path.best_lambda_
        0.001
    """
    grid = check_lambdas(lambdas)
    _check_cv(cv)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"`dtype` must be torch.float32 or torch.float64, got {dtype}")
    features = as_matrix(X, "X", dtype=dtype, device=device)
    targets = as_targets(y, "y", rows=features.shape[0], dtype=dtype, device=features.device)
    matrix_targets = targets[:, None] if targets.ndim == 1 else targets
    n = features.shape[0]
    if isinstance(cv, int) and cv > n:
        raise ValueError(f"`cv` = {cv} folds needs at least {cv} samples, got {n}")
    if fit_intercept and n < 2:
        raise ValueError(f"`X` must have at least 2 samples to fit an intercept, got {n}")

    lam = grid.to(device=features.device, dtype=dtype)
    spectrum = decompose(features, matrix_targets, fit_intercept)
    weights = coefficients(spectrum, lam)
    fold_errors = None
    if cv == "loo" or cv == "gcv":
        errors = _closed_form_errors(spectrum, lam, leave_one_out=cv == "loo")
    else:
        fold_errors = _kfold_errors(features, matrix_targets, lam, int(cv), fit_intercept)
        errors = fold_errors.mean(dim=0)
    # NaN (0/0 at λ → 0 with an exact fit) must never win the argmin.
    best = int(torch.argmin(torch.nan_to_num(errors, nan=float("inf"))))
    gram_condition, conditions = condition_numbers(spectrum, lam)

    coefs = weights.mT  # (L, k, p)
    bias = intercepts(spectrum, weights)
    if targets.ndim == 1:
        coefs, bias = coefs[:, 0, :], bias[:, 0]
    return RidgePath(
        lambdas=grid,
        cv=cv,
        fit_intercept=fit_intercept,
        coefs_=coefs,
        intercepts_=bias,
        cv_errors_=errors,
        cv_fold_errors_=fold_errors,
        best_index_=best,
        best_lambda_=float(grid[best]),
        condition_gram_=gram_condition,
        condition_numbers_=conditions,
        singular_values_=spectrum.squared.flip(0).sqrt() if spectrum.right is None else spectrum.squared.sqrt(),
    )


def _check_cv(cv: object) -> None:
    if isinstance(cv, str) and cv in ("loo", "gcv"):
        return
    if isinstance(cv, int) and not isinstance(cv, bool) and cv >= 2:
        return
    raise ValueError(f"`cv` must be 'loo', 'gcv' or a number of folds >= 2, got {cv!r}")


def _closed_form_errors(spectrum: Spectrum, lambdas: torch.Tensor, leave_one_out: bool) -> torch.Tensor:
    """Mean squared LOO (or GCV) error for every λ, chunked over λ to bound memory."""
    n, k = spectrum.centered_targets.shape
    # The unpenalized intercept adds the averaging matrix 11ᵀ/n to the hat matrix (centered columns ⟂ 1).
    offset = 1.0 / n if spectrum.fit_intercept else 0.0
    squared_basis = spectrum.basis.square()
    chunk = max(1, _CHUNK_ENTRIES // (n * k))
    errors = []
    for start in range(0, lambdas.shape[0], chunk):
        factors = shrinkage(spectrum, lambdas[start : start + chunk])  # (c, r)
        residuals = spectrum.centered_targets[None] - fitted(spectrum, factors)  # (c, n, k)
        if leave_one_out:
            leverage = (squared_basis @ factors.mT).mT + offset  # (c, n)
        else:
            leverage = (factors.sum(dim=1, keepdim=True) + n * offset).expand(-1, n) / n
        errors.append((residuals / (1.0 - leverage)[:, :, None]).square().mean(dim=(1, 2)))
    return torch.cat(errors)


def _kfold_errors(
    X: torch.Tensor, Y: torch.Tensor, lambdas: torch.Tensor, folds: int, fit_intercept: bool
) -> torch.Tensor:
    """Held-out mean squared error of every λ on each of ``folds`` contiguous folds: (folds, L)."""
    n = X.shape[0]
    sizes = [n // folds + (1 if fold < n % folds else 0) for fold in range(folds)]
    rows = torch.arange(n, device=X.device)
    errors, start = [], 0
    for size in sizes:
        held_out = (rows >= start) & (rows < start + size)
        start += size
        spectrum = decompose(X[~held_out], Y[~held_out], fit_intercept)
        weights = coefficients(spectrum, lambdas)  # (L, p, k)
        predictions = X[held_out] @ weights + intercepts(spectrum, weights)[:, None, :]
        errors.append((predictions - Y[held_out][None]).square().mean(dim=(1, 2)))
    return torch.stack(errors)
