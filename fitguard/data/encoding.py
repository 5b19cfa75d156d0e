"""Table columns and their encoding: numbers stay numbers, categories become one-hot columns.

Categories are learned on the training rows only; a category first seen in validation or test rows encodes as
all zeros (as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``), because an unseen category carries no
information the model could have learned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fitguard.errors import FitguardError

RowName = Callable[[int], str]


def row_label(index: int) -> str:
    return f"row {index}"


@dataclass(frozen=True)
class Column:
    """One raw input column: numeric, or categorical with the categories seen in training (sorted).

    Example:
        >>> Column("color", categorical=True, categories=("blue", "red")).width
        2
    """

    name: str
    categorical: bool = False
    categories: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.categories) if self.categorical else 1


def numeric_columns(names: Sequence[str]) -> tuple[Column, ...]:
    return tuple(Column(str(name)) for name in names)


def infer_columns(names: Sequence[str], cells: np.ndarray) -> tuple[Column, ...]:
    """A column is numeric when every cell parses as a number, categorical otherwise."""
    return tuple(Column(str(name), categorical=not _all_numbers(cells[:, j])) for j, name in enumerate(names))


def _all_numbers(values: np.ndarray) -> bool:
    try:
        np.asarray(values, dtype=np.float64)
    except ValueError:
        return False
    return True


def learn_categories(columns: Sequence[Column], cells: np.ndarray) -> tuple[Column, ...]:
    """Fill each categorical column's categories from the given (training) rows."""
    return tuple(
        replace(column, categories=tuple(sorted({str(v) for v in cells[:, j].tolist()})))
        if column.categorical
        else column
        for j, column in enumerate(columns)
    )


def encoded_names(columns: Sequence[Column]) -> tuple[str, ...]:
    """Names of the encoded features: ``age`` for a number, ``color=red`` for a one-hot column."""
    names: list[str] = []
    for column in columns:
        names.extend([f"{column.name}={c}" for c in column.categories] if column.categorical else [column.name])
    return tuple(names)


def encode_table(cells: np.ndarray, columns: Sequence[Column], row_name: RowName = row_label) -> np.ndarray:
    """Raw cells (N, len(columns)) -> float64 features (N, sum of widths); non-finite numbers are refused."""
    if cells.ndim != 2 or cells.shape[1] != len(columns):
        got = cells.shape[1] if cells.ndim == 2 else f"an array of shape {cells.shape}"
        names = ", ".join(repr(c.name) for c in columns)
        raise FitguardError(f"expected {len(columns)} columns ({names}), got {got}")
    parts = []
    for j, column in enumerate(columns):
        values = cells[:, j]
        if column.categorical:
            text = np.asarray([str(v) for v in values.tolist()], dtype=object)
            parts.append((text[:, None] == np.asarray(column.categories, dtype=object)[None, :]).astype(np.float64))
        else:
            parts.append(_numbers(values, column.name, row_name)[:, None])
    if not parts:
        return np.zeros((cells.shape[0], 0))
    return np.concatenate(parts, axis=1)


def _numbers(values: np.ndarray, name: str, row_name: RowName) -> np.ndarray:
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        for i, value in enumerate(values.tolist()):
            try:
                float(value)
            except (ValueError, TypeError):
                raise FitguardError(
                    f"column {name!r} has {value!r} at {row_name(i)}, expected a number"
                ) from None
        raise
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        i = int(bad[0])
        raise FitguardError(f"column {name!r} has {numbers[i]} at {row_name(i)}; every value must be a finite number")
    return numbers
