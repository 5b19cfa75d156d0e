""""Little change in data, little change in result", measured: refit under small perturbations, with and without λ.

Each round adds Gaussian noise of ``noise`` × (each column's standard deviation) to ``X`` and ``y``, refits least
squares (λ = 0, the minimum-norm solution) and ridge (λ = ``lam``), and measures how far the coefficients and the
predictions on the original ``X`` moved. On nearly collinear columns least squares swings wildly; ridge does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from fitguard._validation import check_int, check_number
from fitguard.linear.inputs import as_matrix, as_targets
from fitguard.linear.spectrum import coefficients, condition_numbers, decompose, intercepts


@dataclass(frozen=True)
class Stability:
    """Mean over rounds of the relative coefficient change ``‖w' - w‖ / ‖w‖`` and of the RMS prediction change
    divided by the standard deviation of ``y``; ``*_unregularized`` are the same for λ = 0. ``condition_gram`` is
    cond(XᵀX) and ``condition_regularized`` cond(XᵀX + λI) (centered when ``fit_intercept``).

    Args:
        lam: The ridge λ compared with least squares.
        noise: The perturbation's size, in standard deviations of each column.
        rounds: Perturbed refits averaged.
        seed: Seed of the perturbations.
        coef_change: Mean relative coefficient change of ridge.
        coef_change_unregularized: The same for least squares (λ = 0, minimum norm).
        prediction_change: Mean RMS prediction change of ridge, over the standard deviation of ``y``.
        prediction_change_unregularized: The same for least squares.
        condition_gram: cond(XᵀX).
        condition_regularized: cond(XᵀX + λI).
    """

    lam: float
    noise: float
    rounds: int
    seed: int
    coef_change: float
    coef_change_unregularized: float
    prediction_change: float
    prediction_change_unregularized: float
    condition_gram: float
    condition_regularized: float

    @property
    def coef_change_ratio(self) -> float:
        """How many times more the least-squares coefficients move than the ridge ones."""
        return self.coef_change_unregularized / self.coef_change if self.coef_change > 0 else math.inf


def stability(
    X: Any,
    y: Any,
    lam: float,
    noise: float = 0.01,
    rounds: int = 20,
    seed: int = 0,
    fit_intercept: bool = True,
) -> Stability:
    """Measure how much coefficients and predictions move under ``rounds`` small perturbations of the data.

    Args:
        X: Design matrix (n, p), n >= 3, finite numbers.
        y: Targets (n,) or (n, k).
        lam: Ridge strength λ, finite and > 0.
        noise: Perturbation size as a fraction (> 0) of each column's (and the targets') standard deviation.
            Default 0.01.
        rounds: Perturbed refits, >= 1. Default 20.
        seed: Seed of the perturbations. Default 0.
        fit_intercept: Fit an unpenalized intercept. Default True.

    Raises:
        ValueError: an argument out of range, fewer than 3 samples, or non-finite inputs.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(100, 1, dtype=torch.float64, generator=g)
        >>> X = torch.cat([a, a + 1e-3 * torch.randn(100, 1, dtype=torch.float64, generator=g)], dim=1)
        >>> result = stability(X, a[:, 0], lam=1.0)
        >>> result.coef_change_ratio > 10
        True
    """
    check_number("lam", lam, low=0, closed="neither", finite=True)
    check_number("noise", noise, low=0, closed="neither", finite=True)
    check_int("rounds", rounds, low=1)
    features = as_matrix(X, "X")
    targets = as_targets(y, "y", rows=features.shape[0], device=features.device)
    targets = targets[:, None] if targets.ndim == 1 else targets
    if features.shape[0] < 3:
        raise ValueError(f"`X` must have at least 3 samples to perturb and refit, got {features.shape[0]}")
    lambdas = torch.tensor([0.0, float(lam)], dtype=features.dtype, device=features.device)

    reference = decompose(features, targets, fit_intercept)
    weights = coefficients(reference, lambdas)  # (2, p, k)
    predictions = features @ weights + intercepts(reference, weights)[:, None, :]
    x_scale, y_scale = features.std(dim=0), targets.std(dim=0)
    spread = float(targets.std()) or 1.0

    generator = torch.Generator().manual_seed(seed)
    coef_changes, prediction_changes = [], []
    for _ in range(rounds):
        x_noise = torch.randn(features.shape, dtype=features.dtype, generator=generator).to(features.device)
        y_noise = torch.randn(targets.shape, dtype=targets.dtype, generator=generator).to(targets.device)
        spectrum = decompose(features + noise * x_scale * x_noise, targets + noise * y_scale * y_noise, fit_intercept)
        moved = coefficients(spectrum, lambdas)
        moved_predictions = features @ moved + intercepts(spectrum, moved)[:, None, :]
        coef_changes.append(torch.linalg.vector_norm(moved - weights, dim=(1, 2)) / _norm(weights))
        rms = (moved_predictions - predictions).square().mean(dim=(1, 2)).sqrt()
        prediction_changes.append(rms / spread)
    coef_change = torch.stack(coef_changes).mean(dim=0)
    prediction_change = torch.stack(prediction_changes).mean(dim=0)

    gram_condition, regularized_condition = condition_numbers(reference, lambdas[1:])
    return Stability(
        lam=float(lam),
        noise=float(noise),
        rounds=rounds,
        seed=seed,
        coef_change=float(coef_change[1]),
        coef_change_unregularized=float(coef_change[0]),
        prediction_change=float(prediction_change[1]),
        prediction_change_unregularized=float(prediction_change[0]),
        condition_gram=gram_condition,
        condition_regularized=float(regularized_condition[0]),
    )


def _norm(weights: torch.Tensor) -> torch.Tensor:
    norms = torch.linalg.vector_norm(weights, dim=(1, 2))
    # An all-zero fit (constant y) has no scale to be relative to; report the absolute change.
    return torch.where(norms > 0, norms, torch.ones_like(norms))
