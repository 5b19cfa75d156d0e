"""Class weights for skewed classes: a cross-entropy in which each class's rows weigh alike in total.

With 90% of the rows in one class, a network lowers its loss most by leaning towards that class; the rare class's
recall pays. Weighting each row by ``n_samples / (n_classes * count[class])`` -- scikit-learn's
``class_weight="balanced"`` -- gives every class the same total weight, so the loss is the one a balanced
training set would give. The weights are fitted on the training rows only (``balanced_class_weights``); the
Trainer takes ``class_weight="balanced"`` (or explicit weights) and applies them to its training loss, while its
validation loss and metrics stay unweighted, as Keras' ``class_weight`` does, so scores compare across recipes.

Example:
    >>> balanced_class_weights([0, 0, 0, 1], num_classes=2).tolist()
    [0.6666666865348816, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fitguard._validation import check_int

#: what ``class_weight`` accepts besides explicit weights
BALANCED = "balanced"


def class_counts(labels: Any, num_classes: int) -> np.ndarray:
    """Rows per class of 1-D integer ``labels`` in ``[0, num_classes)``, as an int64 array of length ``num_classes``.

    Args:
        labels: class indices (a tensor, array or list of integers).
        num_classes: number of classes, >= 1.

    Raises:
        ValueError: labels that are not 1-D integers in range, or ``num_classes`` < 1.

    Example:
        >>> class_counts([2, 0, 2], 4).tolist()
        [1, 0, 2, 0]
    """
    check_int("num_classes", num_classes, low=1)
    values = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if values.ndim != 1 or not (np.issubdtype(values.dtype, np.integer) or values.size == 0):
        raise ValueError(f"class weights need 1-D integer class indices, got {values.dtype} of shape {values.shape}")
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = values[(values < 0) | (values >= num_classes)][0]
        raise ValueError(f"class index {int(bad)} is outside [0, {num_classes}) (the model's {num_classes} classes)")
    return np.bincount(values, minlength=num_classes).astype(np.int64)


def balanced_class_weights(labels: Any, num_classes: int) -> torch.Tensor:
    """``n_samples / (n_classes * count)`` for each class of the training ``labels`` (float32, one per class).

    A class with no training row is weighted as if it had one (the largest weight any class can get): it then
    still counts when its rows show up in a loss, where scikit-learn would refuse the data.

    Args:
        labels: the training rows' class indices, 1-D integers in ``[0, num_classes)``, at least one row.
        num_classes: number of classes (the model's outputs), >= 1.

    Returns:
        A float32 tensor of ``num_classes`` weights; their count-weighted mean is 1 when every class has rows.

    Raises:
        ValueError: no labels, or labels that are not 1-D integers in range.

    Example:
        >>> balanced_class_weights(torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2]), 3).tolist()
        [0.5, 1.5, 3.0]
    """
    counts = class_counts(labels, num_classes)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("class weights need at least one training row, got 0")
    return torch.as_tensor(total / (num_classes * np.maximum(counts, 1)), dtype=torch.float32)


def check_class_weight(class_weight: Any) -> None:
    """Refuse a ``class_weight`` that is neither None, ``"balanced"`` nor a list of positive finite numbers.

    Args:
        class_weight: the value a Trainer or a config was given.

    Raises:
        ValueError: naming what was given and what is accepted.

    Example:
        >>> check_class_weight([1.0, -2.0])
        Traceback (most recent call last):
        ...
        ValueError: `class_weight`[1] = -2.0, must be a finite number > 0
    """
    if class_weight is None or (isinstance(class_weight, str) and class_weight == BALANCED):
        return
    if isinstance(class_weight, str) or not isinstance(class_weight, (Sequence, np.ndarray, torch.Tensor)):
        raise ValueError(f"`class_weight` must be None, 'balanced' or one weight per class, got {class_weight!r}")
    values = [float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else v
              for v in (class_weight.tolist() if hasattr(class_weight, "tolist") else class_weight)]
    if not values:
        raise ValueError("`class_weight` must hold one weight per class, got an empty list")
    for index, value in enumerate(values):
        if not isinstance(value, float) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"`class_weight`[{index}] = {value!r}, must be a finite number > 0")


def resolve_class_weight(class_weight: Any, labels: Any, num_classes: int) -> torch.Tensor:
    """The weights ``class_weight`` stands for: balanced ones fitted on ``labels``, or the explicit ones.

    Args:
        class_weight: ``"balanced"`` or one positive weight per class (checked by :func:`check_class_weight`).
        labels: the training rows' class indices (used for ``"balanced"`` only).
        num_classes: the model's number of classes.

    Returns:
        A float32 tensor of ``num_classes`` weights.

    Raises:
        ValueError: a bad ``class_weight``, or explicit weights whose count is not ``num_classes``.

    Example:
        >>> resolve_class_weight([1, 4], None, 2).tolist()
        [1.0, 4.0]
    """
    check_class_weight(class_weight)
    if isinstance(class_weight, str):
        return balanced_class_weights(labels, num_classes)
    weights = torch.as_tensor([float(v) for v in (class_weight.tolist() if hasattr(class_weight, "tolist")
                                                  else class_weight)], dtype=torch.float32)
    if len(weights) != num_classes:
        raise ValueError(f"`class_weight` has {len(weights)} weights but the model has {num_classes} classes; "
                         "give one weight per class")
    return weights
