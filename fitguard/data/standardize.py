"""Standardization statistics, fitted on training rows only: z = (x - mean) / std.

Per feature for tables and signals, per channel for images (N, C, H, W). A constant feature (std 0, e.g. the
always-blank corner pixels of digits) keeps std 1 so it maps to 0 instead of NaN.
"""

from __future__ import annotations

import numpy as np


def fit_standardization(X: np.ndarray, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of ``X`` (N, ...) in float64, shaped to broadcast against one sample.

    Args:
        X: the training rows (N, ...), at least one.
        per_channel: one mean and std per channel (axis 1) instead of per feature (default False).

    Raises:
        ValueError: ``X`` has no rows.

    Example:
        >>> mean, std = fit_standardization(np.array([[0.0, 5.0], [2.0, 5.0]]))
        >>> mean.tolist(), std.tolist()
        ([1.0, 5.0], [1.0, 1.0])
    """
    if X.shape[0] == 0:
        raise ValueError("cannot fit standardization on 0 rows")
    axes = (0, *range(2, X.ndim)) if per_channel else (0,)
    # Accumulate in float64 without copying X: images can be hundreds of megabytes.
    mean = X.mean(axis=axes, dtype=np.float64, keepdims=True)[0]
    std = X.std(axis=axes, dtype=np.float64, keepdims=True)[0]
    std = np.where(std > 0, std, 1.0)
    return mean, std


def apply_standardization(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(X - mean) / std in X's precision (float32 input stays float32), returned as float32 (the model's dtype).

    Args:
        X: the rows to standardize.
        mean: what :func:`fit_standardization` returned.
        std: what :func:`fit_standardization` returned.
    """
    if X.dtype == np.float32:
        return (X - mean.astype(np.float32)) / std.astype(np.float32)
    return ((np.asarray(X, dtype=np.float64) - mean) / std).astype(np.float32)
