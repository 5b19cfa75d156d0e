"""Missing values in tables: which cells count as missing, and the values that fill them.

A cell is missing when it is ``None``, a float NaN, or text that spreadsheets, R and pandas write for one: a blank,
``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``<NA>``, ``NaT`` or ``?`` (UCI's marker), in any letter case.

Fills are learned from the training rows only and follow scikit-learn's ``SimpleImputer``: the median of a numeric
column (robust to the skew and outliers of real columns, where a mean is pulled away from typical rows), and the
most frequent category of a categorical one, ties going to the smallest in sorted order so that the choice never
depends on row order.

Example:
    >>> missing_mask(np.array(["1", "", "NA", "x"], dtype=object)).tolist()
    [False, True, True, False]
    >>> median_fill(np.array([3.0, 1.0, 10.0])), most_frequent_fill(["b", "a", "b", "a"])
    (3.0, 'a')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fitguard._validation import check_in

#: what a loader does with missing cells: fill them from the training rows, or refuse them in one line
MISSING_CHOICES = ("impute", "error")
#: text read as a missing cell, compared after stripping spaces and lowering the case
MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>", "nat", "?"})


def check_missing(missing: object) -> None:
    """Refuse anything but one of :data:`MISSING_CHOICES`.

    Args:
        missing: the value given for ``missing``.

    Raises:
        ValueError: naming the allowed values and the one received.
    """
    check_in("missing", missing, MISSING_CHOICES)


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a cell of the 1-D array ``values`` is missing.

    Args:
        values: one column of raw cells: numbers, text or Python objects.
    """
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    return np.fromiter((_is_missing(v) for v in values.tolist()), dtype=bool, count=values.size).reshape(values.shape)


def _is_missing(value: object) -> bool:
    # str() covers float('nan') ('nan'), None ('None'), pandas' NA ('<NA>') and NaT ('NaT') in one comparison
    return value is None or str(value).strip().lower() in MISSING_TEXT


def median_fill(numbers: np.ndarray) -> float:
    """The median of the observed ``numbers`` (NaN-free, at least one).

    Args:
        numbers: a column's observed values in the training rows.
    """
    return float(np.median(np.asarray(numbers, dtype=np.float64)))


def most_frequent_fill(texts: Sequence[str]) -> str:
    """The most frequent of the observed ``texts`` (at least one); the smallest in sorted order among ties.

    Args:
        texts: a column's observed categories in the training rows.
    """
    values, counts = np.unique(np.asarray(list(texts), dtype=object), return_counts=True)
    return str(values[int(np.argmax(counts))])  # np.unique sorts; argmax takes the first of the tied counts
