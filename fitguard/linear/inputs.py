"""Turning user input (numpy arrays or tensors) into validated float tensors for the linear solvers.

Every solver in ``fitguard.linear`` takes ``X`` (n, p) and ``y`` (n,) or (n, k) as numpy arrays or tensors; this
module is the one place that checks shapes and finiteness so that each error names the argument it is about.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def as_matrix(
    value: Any, name: str, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return ``value`` as a finite 2-D tensor of ``dtype`` on ``device`` (default: where it already is).

    Args:
        value: a tensor, an array or nested lists.
        name: the argument's name, for messages.
        dtype: the result's dtype (default float64).
        device: the result's device; None (default): where ``value`` already is.

    Raises:
        ValueError: not 2-D, or a value that is not finite.

    Example:
        >>> as_matrix(np.eye(2), "X").dtype
        torch.float64
    """
    tensor = _as_tensor(value, name, dtype, device)
    if tensor.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (samples, features), got shape {tuple(tensor.shape)}")
    _check_finite(tensor, name)
    return tensor


def as_targets(
    value: Any, name: str, rows: int, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return ``value`` as a finite 1-D or 2-D tensor with ``rows`` rows.

    Args:
        value: a tensor, an array or nested lists.
        name: the argument's name, for messages.
        rows: the rows it must have (the inputs').
        dtype: the result's dtype (default float64).
        device: the result's device; None (default): where ``value`` already is.

    Raises:
        ValueError: not 1-D or 2-D, another number of rows, or a value that is not finite.

    Example:
        >>> as_targets([1.0, 2.0], "y", rows=2).shape
        torch.Size([2])
    """
    tensor = _as_tensor(value, name, dtype, device)
    if tensor.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must be 1-D (samples,) or 2-D (samples, outputs), got shape {tuple(tensor.shape)}"
        )
    if tensor.shape[0] != rows:
        raise ValueError(f"`{name}` must have as many rows as `X` ({rows}), got {tensor.shape[0]}")
    _check_finite(tensor, name)
    return tensor


def as_numpy(value: Any, name: str, rows: int | None = None) -> np.ndarray:
    """The CPU/numpy twin of ``as_matrix`` (``rows is None``) and ``as_targets`` (``rows`` given), same messages.

    For solvers that run in numpy (scikit-learn's coordinate descent), where a round trip through torch would
    cost more than the checks.

    Args:
        value: a tensor, an array or nested lists.
        name: the argument's name, for messages.
        rows: the rows targets must have; None (default): check ``value`` as a matrix.

    Example:
        >>> as_numpy([[1, 2]], "X").dtype
        dtype('float64')
    """
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            kind = type(value).__name__
            raise ValueError(f"`{name}` must be a numeric array or tensor, got {kind}: {error}") from None
    if rows is None and array.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (samples, features), got shape {tuple(array.shape)}")
    if rows is not None:
        if array.ndim not in (1, 2):
            raise ValueError(
                f"`{name}` must be 1-D (samples,) or 2-D (samples, outputs), got shape {tuple(array.shape)}"
            )
        if array.shape[0] != rows:
            raise ValueError(f"`{name}` must have as many rows as `X` ({rows}), got {array.shape[0]}")
    if array.size == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {tuple(array.shape)}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"`{name}` must be finite, got {int(array.size - finite.sum())} NaN/inf values")
    return array


def one_hot(labels: Any, num_classes: int | None = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Integer class labels (n,) as a 0/1 target matrix (n, classes), so that ridge fits every class in one pass.

    Args:
        labels: 1-D integer class codes >= 0 (a list, array or tensor).
        num_classes: Columns of the result, at least the largest label + 1; None (default): exactly that.
        dtype: The result's dtype. Default ``torch.float64``.

    Raises:
        ValueError: labels that are not 1-D integers >= 0, or too small a ``num_classes``.

    Example:
        >>> one_hot([0, 2, 1]).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    codes = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if codes.ndim != 1 or codes.is_floating_point() or codes.is_complex():
        raise ValueError(
            f"`labels` must be a 1-D array of integer class codes, got {codes.dtype} of shape {tuple(codes.shape)}"
        )
    if codes.numel() and int(codes.min()) < 0:
        raise ValueError(f"`labels` must be >= 0, got {int(codes.min())}")
    needed = int(codes.max()) + 1 if codes.numel() else 0
    classes = needed if num_classes is None else num_classes
    if classes < needed:
        raise ValueError(f"`num_classes` must be >= {needed} (largest label + 1), got {num_classes}")
    return torch.nn.functional.one_hot(codes.long(), classes).to(dtype)


def _as_tensor(value: Any, name: str, dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            # A copy, so that read-only arrays stay untouched.
            tensor = torch.from_numpy(np.array(value, dtype=np.float64))
        except (TypeError, ValueError) as error:
            kind = type(value).__name__
            raise ValueError(f"`{name}` must be a numeric array or tensor, got {kind}: {error}") from None
    if tensor.is_complex():
        raise ValueError(f"`{name}` must be real, got {tensor.dtype}")
    return tensor.to(device=device if device is not None else tensor.device, dtype=dtype)


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    if tensor.numel() == 0:
        raise ValueError(f"`{name}` must not be empty, got shape {tuple(tensor.shape)}")
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        raise ValueError(f"`{name}` must be finite, got {int(bad.sum())} NaN/inf values")
