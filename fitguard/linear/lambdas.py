"""Grids of regularization strengths λ: validation and the CLI's ``start:stop:count`` / comma-list syntax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def check_lambdas(lambdas: Any, name: str = "lambdas") -> torch.Tensor:
    """Return ``lambdas`` as a 1-D float64 CPU tensor, every entry finite and > 0, in the order given.

    The order is kept because ties in the CV error go to the first λ, as in scikit-learn's ``RidgeCV``.

    Args:
        lambdas: A number, sequence, array or tensor of λs.
        name: The argument's name in error messages. Default ``"lambdas"``.

    Raises:
        ValueError: an empty or multi-dimensional input, or an entry that is not finite and > 0 (named by
            its index).

    Example:
        >>> check_lambdas([0.1, 1.0]).tolist()
        [0.1, 1.0]
    """
    values = lambdas.detach().cpu() if isinstance(lambdas, torch.Tensor) else torch.as_tensor(
        np.array(lambdas, dtype=np.float64)
    )
    values = values.to(torch.float64).reshape(-1) if values.ndim == 0 else values.to(torch.float64)
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D sequence of numbers, got shape {tuple(values.shape)}")
    for index, value in enumerate(values.tolist()):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"`{name}[{index}]` = {value!r}, must be finite and > 0")
    return values


def parse_lambdas(spec: str) -> list[float]:
    """Parse ``"start:stop:count"`` (``count`` values log-spaced from start to stop) or ``"0.1,1,10"``.

    Args:
        spec: The text, e.g. ``"1e-4:1e4:50"`` (start and stop > 0, count >= 1) or a comma list of λs > 0.

    Raises:
        ValueError: text in neither form, or values out of range.

    Example:
        >>> parse_lambdas("1e-2:1e2:5")
        [0.01, 0.1, 1.0, 10.0, 100.0]
        >>> parse_lambdas("0.5, 2")
        [0.5, 2.0]
    """
    text = spec.strip()
    usage = "'start:stop:count' (log-spaced, e.g. '1e-4:1e4:50') or a comma list (e.g. '0.1,1,10')"
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        if len(parts) != 3:
            raise ValueError(f"`lambdas` must be {usage}, got {spec!r}")
        try:
            start, stop = float(parts[0]), float(parts[1])
            count = int(parts[2])
        except ValueError:
            raise ValueError(f"`lambdas` must be {usage}, got {spec!r}") from None
        if not (math.isfinite(start) and math.isfinite(stop)) or start <= 0 or stop <= 0:
            raise ValueError(f"`lambdas` start and stop must be finite and > 0, got {spec!r}")
        if count < 1:
            raise ValueError(f"`lambdas` count must be >= 1, got {spec!r}")
        grid = np.logspace(math.log10(start), math.log10(stop), count)
        return [float(f"{value:.12g}") for value in grid]
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"`lambdas` must be {usage}, got {spec!r}") from None
    check_lambdas(values)
    return values
