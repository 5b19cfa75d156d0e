"""Multicollinearity made visible: the condition number of XᵀX, and of XᵀX + λI for every λ.

A near-singular XᵀX (nearly dependent columns) has a huge condition number: tiny changes in the data then move
the least-squares solution a lot. Adding λI lifts every eigenvalue by λ, so the condition number
``(s²_max + λ) / (s²_min + λ)`` falls as λ grows. Everything comes from the singular values ``s`` of the design,
never from forming XᵀX, whose own floating-point eigenvalues would be lost below ``s²_max · 1e-16``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from fitguard.linear.inputs import as_matrix
from fitguard.linear.lambdas import check_lambdas


@dataclass(frozen=True, eq=False)
class Conditioning:
    """``design``: cond(X) (statsmodels' "condition number"); ``gram``: cond(XᵀX) = cond(X)²;
    ``regularized``: cond(XᵀX + λI) for each of ``lambdas``. ``inf`` marks a singular matrix.

    Args:
        lambdas: The λs, float64, in the order given.
        design: cond(X) of the design (with the intercept column when asked).
        gram: cond(XᵀX).
        regularized: cond(XᵀX + λI) per λ.
    """

    lambdas: torch.Tensor
    design: float
    gram: float
    regularized: torch.Tensor


def conditioning(X: Any, lambdas: Any, intercept_column: bool = True) -> Conditioning:
    """Condition numbers of the raw design ``[1, X]`` (or ``X``), its Gram matrix, and the Gram matrix + λI.

    λ is added to every diagonal entry, the textbook (XᵀX + λI). ``ridge_path`` reports the matrix it actually
    solves instead: the centered Gram matrix, whose intercept is not penalized.

    Args:
        X: Design matrix (n, p) of finite numbers.
        lambdas: λs, each finite and > 0, added to every diagonal entry of XᵀX.
        intercept_column: Prepend a column of ones, as a model with an intercept sees the data. Default True.

    Raises:
        ValueError: a bad λ or a non-finite or non-2-D ``X``.

    Example:
        >>> X = torch.tensor([[1.0, 1.0], [2.0, 2.001], [3.0, 2.999]], dtype=torch.float64)
        >>> result = conditioning(X, [1.0], intercept_column=False)
        >>> result.gram > 1e6, float(result.regularized[0]) < 30
        (True, True)
    """
    grid = check_lambdas(lambdas)
    design = as_matrix(X, "X")
    if intercept_column:
        design = torch.cat([torch.ones_like(design[:, :1]), design], dim=1)
    squared = torch.linalg.svdvals(design).square()
    largest = float(squared.max())
    # A wide design has p - n exact zero eigenvalues in XᵀX that svdvals does not list.
    smallest = float(squared.min()) if design.shape[0] >= design.shape[1] else 0.0
    gram = largest / smallest if smallest > 0 else float("inf")
    design_condition = (largest / smallest) ** 0.5 if smallest > 0 else float("inf")
    regularized = (largest + grid) / (smallest + grid)
    return Conditioning(lambdas=grid, design=design_condition, gram=gram, regularized=regularized)
