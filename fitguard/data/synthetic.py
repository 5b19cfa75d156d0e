"""A regression problem whose truth is known: y = f(x) + Gaussian noise, for bias–variance decompositions.

f(x) = sin(2π·x₀) + 0.5·(x₁ + … + x_{d-1}) with x uniform on [0, 1]^d, noise N(0, σ²). With the true function
and σ known, the noise term of the decomposition is σ² exactly and bias² can be measured against f itself.
"""

from __future__ import annotations

import numpy as np

from fitguard._validation import check_int, check_number
from fitguard.data.encoding import numeric_columns
from fitguard.data.source import RawData, RawSource, Truth


def true_function(X: np.ndarray) -> np.ndarray:
    """The noiseless target of raw inputs X (N, d).

    Args:
        X: raw inputs (N, d), d >= 1.

    Example:
        >>> true_function(np.array([[0.25, 1.0]])).round(6).tolist()
        [1.5]
    """
    X = np.asarray(X, dtype=np.float64)
    return np.sin(2 * np.pi * X[:, 0]) + 0.5 * X[:, 1:].sum(axis=1)


def sample_synthetic(n_samples: int, n_features: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw (X, y): X uniform on [0, 1]^d, y = f(X) + N(0, noise²), from ``np.random.default_rng(seed)``.

    Args:
        n_samples: rows to draw.
        n_features: the inputs' width d.
        noise: the noise's standard deviation.
        seed: seeds the draw.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n_samples, n_features))
    return X, true_function(X) + rng.normal(0.0, noise, size=n_samples)


def synthetic_regression(
    n_samples: int = 200, n_features: int = 1, noise: float = 0.3, data_seed: int = 0
) -> RawSource:
    """The synthetic table; ``Dataset.truth`` then carries f, σ and a sampler of fresh training sets.

    Args:
        n_samples: rows, >= 5 (default 200).
        n_features: the inputs' width, >= 1 (default 1).
        noise: the noise's standard deviation, >= 0 (default 0.3).
        data_seed: seeds the draw (default 0).
    """
    for name, value, low in (("n_samples", n_samples, 5), ("n_features", n_features, 1)):
        check_int(name, value, low=low)
    check_number("noise", noise, low=0)
    X, y = sample_synthetic(n_samples, n_features, float(noise), data_seed)
    truth = Truth(true_function, float(noise), lambda n, seed: sample_synthetic(n, n_features, float(noise), seed))
    columns = numeric_columns([f"x{j}" for j in range(n_features)])
    return RawSource("synthetic_regression", "table", RawData(X, y), "regression", columns=columns, truth=truth)
