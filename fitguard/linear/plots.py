"""PNG figures of a ridge or lasso path: the CV error against λ, and every coefficient against λ.

Both work on a ``RidgePath`` or a ``SparsePath`` (anything with ``lambdas``, ``cv_errors_``, ``coefs_`` and
``best_lambda_``). They draw on a bare ``matplotlib.figure.Figure`` (Agg canvas), so no pyplot state or GUI
backend is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from matplotlib.figure import Figure

# Beyond this many coefficients a legend hides the plot; only the largest ones get labels.
_LABELLED = 10


class PathResult(Protocol):
    """What the plots read from a fitted regularization path (a ridge or lasso path's result)."""
    lambdas: torch.Tensor
    cv_errors_: torch.Tensor
    cv_fold_errors_: torch.Tensor | None
    coefs_: torch.Tensor
    best_lambda_: float
    best_index_: int


def plot_cv_curve(result: PathResult, path: str | Path, title: str | None = None) -> Path:
    """Save the CV error against λ (log axis), the chosen λ marked; with folds, a ±1 std band across folds.

    Args:
        result: A :class:`RidgePath` or :class:`SparsePath`.
        path: The PNG file to write.
        title: The plot's title; None (default): "Cross-validated error along the regularization path".

    Example:
        >>> import tempfile
        >>> from fitguard.linear.ridge import ridge_path
        >>> X = torch.randn(30, 2, dtype=torch.float64)
        >>> plot_cv_curve(ridge_path(X, X[:, 0], [0.1, 1, 10]), Path(tempfile.mkdtemp()) / "cv.png").suffix
        '.png'
    """
    lambdas = result.lambdas.cpu().numpy()
    errors = result.cv_errors_.cpu().numpy()
    order = np.argsort(lambdas)
    figure = Figure(figsize=(7, 4.5), dpi=110)
    ax = figure.add_subplot()
    ax.plot(lambdas[order], errors[order], color="tab:blue", marker=".", label="CV error")
    if result.cv_fold_errors_ is not None:
        spread = result.cv_fold_errors_.cpu().numpy().std(axis=0)[order]
        ax.fill_between(lambdas[order], errors[order] - spread, errors[order] + spread, color="tab:blue",
                        alpha=0.2, label="±1 std across folds")
    best_error = float(result.cv_errors_[result.best_index_])
    ax.axvline(result.best_lambda_, color="tab:red", linestyle="--",
               label=f"best λ = {result.best_lambda_:.3g} (error {best_error:.4g})")
    ax.set_xscale("log")
    if np.all(errors[np.isfinite(errors)] > 0) and _spans_decades(errors):
        ax.set_yscale("log")
    ax.set_xlabel("λ (regularization strength, log scale)")
    ax.set_ylabel(f"{_cv_name(result)} mean squared error")
    ax.set_title(title or "Cross-validated error along the regularization path")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return Path(path)


def plot_coefficient_paths(
    result: PathResult, path: str | Path, feature_names: Sequence[str] | None = None, title: str | None = None
) -> Path:
    """Save every coefficient against λ (log axis); the largest ones at the chosen λ get legend labels.

    Multi-output coefficients (L, k, p) are drawn for the first output only.

    Args:
        result: A :class:`RidgePath` or :class:`SparsePath`.
        path: The PNG file to write.
        feature_names: One name per coefficient for the legend; None (default): ``x0``, ``x1`` ...
        title: The plot's title; None (default): "Coefficient paths".

    Raises:
        ValueError: ``feature_names`` of the wrong length.

    Example:
        >>> import tempfile
        >>> from fitguard.linear.ridge import ridge_path
        >>> X = torch.randn(30, 2, dtype=torch.float64)
        >>> result = ridge_path(X, X[:, 0], [0.1, 1, 10])
        >>> plot_coefficient_paths(result, Path(tempfile.mkdtemp()) / "paths.png", ["a", "b"]).suffix
        '.png'
    """
    coefs = result.coefs_.cpu().numpy()
    coefs = coefs[:, 0, :] if coefs.ndim == 3 else coefs
    features = coefs.shape[1]
    if feature_names is not None and len(feature_names) != features:
        raise ValueError(f"`feature_names` must have {features} names (one per coefficient), got {len(feature_names)}")
    names = list(feature_names) if feature_names is not None else [f"x{index}" for index in range(features)]
    lambdas = result.lambdas.cpu().numpy()
    order = np.argsort(lambdas)
    labelled = set(np.argsort(-np.abs(coefs[result.best_index_]))[:_LABELLED].tolist())

    figure = Figure(figsize=(7, 4.5), dpi=110)
    ax = figure.add_subplot()
    for index in range(features):
        ax.plot(lambdas[order], coefs[order, index], linewidth=1.2 if index in labelled else 0.6,
                alpha=1.0 if index in labelled else 0.4, label=names[index] if index in labelled else None)
    ax.axvline(result.best_lambda_, color="tab:red", linestyle="--", label=f"best λ = {result.best_lambda_:.3g}")
    ax.axhline(0.0, color="0.4", linewidth=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("λ (regularization strength, log scale)")
    ax.set_ylabel("coefficient")
    ax.set_title(title or "Coefficient paths")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path, format="png")
    return Path(path)


def _cv_name(result: PathResult) -> str:
    cv = getattr(result, "cv", None)
    if cv == "loo":
        return "Leave-one-out"
    if cv == "gcv":
        return "GCV"
    return f"{cv}-fold CV" if isinstance(cv, int) else "CV"


def _spans_decades(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 1 and float(finite.max()) > 30 * float(finite.min())
