"""Table columns and their encoding: numbers stay numbers, categories become one-hot columns, gaps get filled.

Everything is learned from the training rows only (:func:`fit_columns`); :func:`encode_table` applies it to any rows:

- a numeric column keeps its value; a missing cell gets the column's median (see ``missing.py``);
- a categorical column becomes one 0/1 column per category; a missing cell gets the most frequent category;
- past ``max_categories`` categories, the ``max_categories - 1`` most frequent keep a column each and the rarer ones
  share one ``<other>`` column (scikit-learn's ``OneHotEncoder(max_categories=...)``, ties broken as it breaks them);
- a category first seen after training (in validation, test or prediction rows) goes to the ``<other>`` column when
  the column has one and encodes as all zeros otherwise (scikit-learn's ``handle_unknown="infrequent_if_exist"``):
  the model learned nothing about it, and it never stops a prediction;
- a column with gaps in the training rows gets a 0/1 ``<missing>`` indicator after its own features (scikit-learn's
  ``SimpleImputer(add_indicator=True)``), so that a gap that means something can be learned;
- a column with no value in any training row is dropped with a warning (nothing to fill it from) and recorded so.

Why a capped one-hot and not learned embeddings for many categories: an embedding needs a lookup layer in every
model builder, the reference models and the linear tools, which all take one float matrix. The cap keeps the width
bounded instead. ``DEFAULT_MAX_CATEGORIES = 20``: at 20 categories a one-hot is about twice as wide as the embedding
fastai would give the column (``min(600, round(1.6 * n**0.56))`` = 9), the categorical columns of UCI-style tables
(yes/no answers, grades, 1-10 scales, regions) stay whole, and an identifier-like column adds 20 inputs, not one per
row. Pass ``max_categories=None`` to keep every category.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fitguard.data.missing import check_missing, median_fill, missing_mask, most_frequent_fill
from fitguard.errors import FitguardError

RowName = Callable[[int], str]

#: categories one column keeps before the rarer ones share an ``<other>`` column (see the module docstring)
DEFAULT_MAX_CATEGORIES = 20
OTHER = "<other>"
MISSING = "<missing>"


def row_label(index: int) -> str:
    return f"row {index}"


@dataclass(frozen=True)
class Column:
    """One raw input column and what its encoding learned from the training rows.

    Args:
        name: the column's name.
        categorical: one-hot encoded (else a number).
        categories: the categories that keep their own one-hot column, sorted.
        other: how many rarer categories share the ``<other>`` column (0: the column has none).
        fill: what fills a missing cell: the median (numbers) or most frequent category; ``None`` refuses gaps.
        indicator: a 0/1 ``<missing>`` column follows, because the training rows had gaps here.
        dropped: no training row had a value; the column gives no feature.

    Example:
        >>> Column("color", categorical=True, categories=("blue", "red"), indicator=True).feature_names
        ('color=blue', 'color=red', 'color=<missing>')
    """

    name: str
    categorical: bool = False
    categories: tuple[str, ...] = ()
    other: int = 0
    fill: float | str | None = None
    indicator: bool = False
    dropped: bool = False

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the encoded features: ``age``, ``color=red``, ``color=<other>``, ``age=<missing>``."""
        if self.dropped:
            return ()
        if self.categorical:
            names = [f"{self.name}={c}" for c in self.categories] + ([f"{self.name}={OTHER}"] if self.other else [])
        else:
            names = [self.name]
        return tuple(names + ([f"{self.name}={MISSING}"] if self.indicator else []))

    @property
    def width(self) -> int:
        return len(self.feature_names)

    def describe(self) -> str:
        """What the encoding does to this column, in a few words (the report's "Columns" table).

        Example:
            >>> Column("age", fill=41.5, indicator=True).describe()
            'number; a gap gets the median 41.5; missing indicator'
        """
        if self.dropped:
            return "dropped: no value in any training row"
        if self.categorical:
            parts = [f"one-hot, {len(self.categories)} categor{'y' if len(self.categories) == 1 else 'ies'}"]
            if self.other:
                parts.append(f"{self.other} rarer share {OTHER}")
            if self.fill is not None:
                parts.append(f"a gap gets the most frequent {self.fill!r}")
        else:
            parts = ["number"] + ([f"a gap gets the median {self.fill:g}"] if self.fill is not None else [])
        if self.fill is None:
            parts.append("gaps refused")
        return "; ".join(parts + (["missing indicator"] if self.indicator else []))


def numeric_columns(names: Sequence[str]) -> tuple[Column, ...]:
    return tuple(Column(str(name)) for name in names)


def infer_columns(names: Sequence[str], cells: np.ndarray) -> tuple[Column, ...]:
    """A column is numeric when every cell that is not missing parses as a number, categorical otherwise."""
    return tuple(Column(str(name), categorical=not _all_numbers(cells[:, j])) for j, name in enumerate(names))


def _all_numbers(values: np.ndarray) -> bool:
    try:
        np.asarray(values[~missing_mask(values)], dtype=np.float64)
    except (ValueError, TypeError):
        return False
    return True


def check_max_categories(max_categories: object) -> None:
    """Refuse a ``max_categories`` that is not an integer >= 2 or ``None``.

    Args:
        max_categories: the value given.

    Raises:
        ValueError: naming what is allowed and what was received.
    """
    if max_categories is None:
        return
    if isinstance(max_categories, bool) or not isinstance(max_categories, (int, np.integer)) or max_categories < 2:
        raise ValueError(f"`max_categories` must be an integer >= 2 or None, got {max_categories!r}")


def category_text(value: object) -> str:
    """A cell as a category: text as it is, 3.0 as '3' (so a CSV's '3' and a DataFrame's 3.0 agree)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def fit_columns(
    columns: Sequence[Column],
    cells: np.ndarray,
    *,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
    row_name: RowName = row_label,
) -> tuple[Column, ...]:
    """Learn every column's categories, fill and indicator from ``cells``, the training rows (N, len(columns)).

    Args:
        columns: the columns (name and numeric/categorical); anything learned before is learned anew.
        cells: the raw training cells.
        missing: ``"impute"`` learns fills, indicators and drops empty columns; ``"error"`` learns no fill (gaps
            are refused when encoding).
        max_categories: categories kept per column before the rarer share ``<other>``; ``None``: no limit.
        row_name: names a row in error messages.

    Raises:
        ValueError: a numeric column holds text or an infinite number (named with its row).

    Example:
        >>> cells = np.array([["1", "red"], ["", "blue"], ["5", "red"]], dtype=object)
        >>> fit_columns((Column("size"), Column("color", True)), cells)[0]
        Column(name='size', categorical=False, categories=(), other=0, fill=3.0, indicator=True, dropped=False)
    """
    check_missing(missing)
    check_max_categories(max_categories)
    impute = missing == "impute"
    fitted = []
    for j, column in enumerate(columns):
        values = cells[:, j]
        gaps = missing_mask(values)
        plain = Column(column.name, column.categorical)
        if impute and gaps.all():
            warnings.warn(f"column {column.name!r} has no value in any training row; it is dropped", stacklevel=2)
            fitted.append(replace(plain, dropped=True))
            continue
        indicator = impute and bool(gaps.any())
        if column.categorical:
            texts = [category_text(v) for v in values[~gaps].tolist()]
            fill = most_frequent_fill(texts) if impute else None
            categories, other = _kept_categories(texts + [fill] * int(gaps.sum()) if impute else texts, max_categories)
            fitted.append(replace(plain, categories=categories, other=other, fill=fill, indicator=indicator))
        else:
            numbers = _numbers(values, gaps, column.name, row_name)
            fill = median_fill(numbers[~gaps]) if impute else None
            fitted.append(replace(plain, fill=fill, indicator=indicator))
    return tuple(fitted)


def _kept_categories(texts: list[str], max_categories: int | None) -> tuple[tuple[str, ...], int]:
    """The categories that keep a column (sorted) and how many rarer ones are pooled."""
    values, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
    if max_categories is None or len(values) <= max_categories:
        return tuple(str(v) for v in values.tolist()), 0
    # scikit-learn's rule: a stable ascending sort of the counts (categories in sorted order); all but the last
    # max_categories - 1 are pooled, so among equal counts the later categories keep their column
    kept = np.sort(np.argsort(counts, kind="stable")[len(values) - (max_categories - 1):])
    return tuple(str(v) for v in values[kept].tolist()), len(values) - len(kept)


def encoded_names(columns: Sequence[Column]) -> tuple[str, ...]:
    """Names of the encoded features, column by column (see :attr:`Column.feature_names`)."""
    return tuple(name for column in columns for name in column.feature_names)


def standardized_features(columns: Sequence[Column]) -> np.ndarray:
    """True for each encoded feature that is a number to standardize; one-hot and indicator columns stay 0/1."""
    flags = [flag for c in columns for flag in ([not c.categorical] * (c.width - c.indicator) + [False] * c.indicator)]
    return np.asarray(flags, dtype=bool)


def check_table(cells: np.ndarray, columns: Sequence[Column], *, missing: str = "impute",
                row_name: RowName = row_label) -> None:
    """Refuse what no encoding can take, naming column and row: text or infinity in a numeric column, and (with
    ``missing="error"``) any missing cell."""
    _check_width(cells, columns)
    for j, column in enumerate(columns):
        gaps = missing_mask(cells[:, j])
        if missing == "error" and gaps.any():
            _refuse_gap(column.name, gaps, row_name)
        if not column.categorical:
            _numbers(cells[:, j], gaps, column.name, row_name)


def encode_table(cells: np.ndarray, columns: Sequence[Column], row_name: RowName = row_label) -> np.ndarray:
    """Raw cells (N, len(columns)) -> float64 features (N, sum of widths), as the module docstring describes."""
    _check_width(cells, columns)
    parts = []
    for j, column in enumerate(columns):
        if column.dropped:
            continue
        values = cells[:, j]
        gaps = missing_mask(values)
        if gaps.any() and column.fill is None:
            _refuse_gap(column.name, gaps, row_name)
        if column.categorical:
            text = np.asarray([column.fill if gap else category_text(v) for v, gap in zip(values.tolist(), gaps)],
                              dtype=object)
            onehot = text[:, None] == np.asarray(column.categories, dtype=object)[None, :]
            parts.append(onehot.astype(np.float64))
            if column.other:
                parts.append((~onehot.any(axis=1)).astype(np.float64)[:, None])
        else:
            numbers = _numbers(values, gaps, column.name, row_name)
            numbers[gaps] = column.fill if gaps.any() else 0.0
            parts.append(numbers[:, None])
        if column.indicator:
            parts.append(gaps.astype(np.float64)[:, None])
    if not parts:
        return np.zeros((cells.shape[0], 0))
    return np.concatenate(parts, axis=1)


def _check_width(cells: np.ndarray, columns: Sequence[Column]) -> None:
    if cells.ndim != 2 or cells.shape[1] != len(columns):
        got = cells.shape[1] if cells.ndim == 2 else f"an array of shape {cells.shape}"
        names = ", ".join(repr(c.name) for c in columns)
        raise FitguardError(f"expected {len(columns)} columns ({names}), got {got}")


def _refuse_gap(name: str, gaps: np.ndarray, row_name: RowName) -> None:
    raise FitguardError(
        f"column {name!r} has no value at {row_name(int(np.flatnonzero(gaps)[0]))}; with missing='error' every value "
        "must be filled in (missing='impute' fills gaps from the training rows)"
    )


def _numbers(values: np.ndarray, gaps: np.ndarray, name: str, row_name: RowName) -> np.ndarray:
    """The column as float64, NaN at its gaps; text or an infinite number elsewhere is refused."""
    if values.dtype.kind in "fiub":
        numbers = values.astype(np.float64)
    else:
        cells = values.astype(object)
        cells[gaps] = np.nan
        try:
            numbers = np.asarray(cells, dtype=np.float64)
        except (ValueError, TypeError):
            for i, value in enumerate(cells.tolist()):
                try:
                    float(value)
                except (ValueError, TypeError):
                    raise FitguardError(
                        f"column {name!r} has {value!r} at {row_name(i)}, expected a number"
                    ) from None
            raise
    bad = np.flatnonzero(~np.isfinite(numbers) & ~gaps)
    if bad.size:
        i = int(bad[0])
        raise FitguardError(f"column {name!r} has {numbers[i]} at {row_name(i)}; every value must be a finite number")
    return numbers
