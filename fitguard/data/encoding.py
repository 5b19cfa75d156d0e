"""Table columns and their encoding: numbers stay numbers, categories become one-hot columns or embedding codes,
gaps get filled.

Everything is learned from the training rows only (:func:`fit_columns`); :func:`encode_table` applies it to any rows:

- a numeric column keeps its value; a missing cell gets the column's median (see ``missing.py``);
- a categorical column becomes one 0/1 column per category; a missing cell gets the most frequent category;
- a categorical column with more than ``max_categories`` categories (a zip code, a town, a product id) is not
  one-hot encoded: it becomes one *code* feature, 1..n for its categories, which a lookup layer in front of the
  network turns into a learned vector (an entity embedding, Guo & Berkhahn 2016; fastai's tabular models).
  ``EMBED`` is its width, fastai's rule ``min(600, round(1.6 * n ** 0.56))`` for n codes. Code 0 is "unknown":
  categories seen only once in the training rows share it (so it is learned, and one row is no evidence for a
  vector of its own), and so does any category first seen after training. A gap gets its own learned code
  (n + 1) when the training rows had gaps, the "unknown" code otherwise;
- ``embed=False`` keeps the earlier rule for such columns: the ``max_categories - 1`` most frequent keep a one-hot
  column each and the rarer ones share one ``<other>`` column (scikit-learn's ``OneHotEncoder(max_categories=...)``,
  ties broken as it breaks them);
- a category first seen after training (in validation, test or prediction rows) goes to the ``<other>`` column when
  the column has one and encodes as all zeros otherwise (scikit-learn's ``handle_unknown="infrequent_if_exist"``):
  the model learned nothing about it, and it never stops a prediction;
- an *ordered* categorical column (``ordinal={"grade": ("low", "mid", "high")}``) becomes one number, the
  category's position (0, 1, 2), standardized like any number; a gap gets the median position; a value outside
  the given order is refused, naming it;
- a column with gaps in the training rows gets a 0/1 ``<missing>`` indicator after its own features (scikit-learn's
  ``SimpleImputer(add_indicator=True)``), so that a gap that means something can be learned (an embedded column
  needs none: its gap code is that indicator);
- a column with no value in any training row is dropped with a warning (nothing to fill it from) and recorded so.

Models see one float matrix whatever the columns: a code is a float holding a whole number, and
:class:`fitguard.models.embedding.TableEmbedding` (put in front of any table network by
:func:`fitguard.models.embedding.with_embeddings`) replaces the code features by their vectors. Models without
such a layer (scikit-learn's, the linear tools) get the codes back as one-hot columns (:func:`expand_codes`).
``DEFAULT_MAX_CATEGORIES = 20``: at 20 categories a one-hot is about twice as wide as the embedding fastai would
give the column (9), and the categorical columns of UCI-style tables (yes/no answers, grades, 1-10 scales,
regions) stay one-hot, where a linear layer learns the same thing as an embedding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fitguard._validation import check_int
from fitguard.data.missing import check_missing, median_fill, missing_mask, most_frequent_fill
from fitguard.errors import FitguardError

RowName = Callable[[int], str]

#: categories a column one-hot encodes; above it, an embedding (or, ``embed=False``, a pooled ``<other>`` column)
DEFAULT_MAX_CATEGORIES = 20
OTHER = "<other>"
MISSING = "<missing>"
#: the "unknown" code of an embedded column: categories seen once in training, and any seen after it
UNKNOWN_CODE = 0


def embedding_width(codes: int) -> int:
    """fastai's rule of thumb for an embedding's width from its number of codes: ``min(600, round(1.6 * n**0.56))``.

    Args:
        codes: the column's number of codes.

    Example:
        >>> embedding_width(40), embedding_width(70), embedding_width(100_000)
        (13, 17, 600)
    """
    return min(600, round(1.6 * codes**0.56))


def row_label(index: int) -> str:
    """How messages name a row: ``row {index}``.

    Args:
        index: the row's index.
    """
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
        indicator: a 0/1 ``<missing>`` column follows, because the training rows had gaps here (an embedded
            column: gaps get a code of their own).
        dropped: no training row had a value; the column gives no feature.
        embedding: the width of the column's learned embedding; 0: not embedded. An embedded column is one code
            feature: 0 unknown, 1..n ``categories``, n + 1 a gap (when ``indicator``).
        ordered: ``categories`` is an order; the column is one number, the category's position.

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
    embedding: int = 0
    ordered: bool = False

    @property
    def code_labels(self) -> tuple[str, ...]:
        """What each code of an embedded column stands for, by code: unknown, its categories, a gap if any."""
        return ("<unknown>", *self.categories, *((MISSING,) if self.indicator else ()))

    @property
    def codes(self) -> int:
        """How many codes an embedded column's lookup table has: unknown, its categories, a gap code if any."""
        return len(self.code_labels)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the encoded features: ``age``, ``color=red``, ``color=<other>``, ``age=<missing>``."""
        if self.dropped:
            return ()
        if self.embedding:
            return (self.name,)
        if self.categorical and not self.ordered:
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
        if self.embedding:
            parts = [f"embedding of {len(self.categories)} categories in {self.embedding} dimensions"]
            if self.other:
                parts.append(f"{self.other} seen once share the unknown code")
            if self.fill is None:
                parts.append("gaps refused")
            else:
                parts.append("a gap gets its own vector" if self.indicator else "a gap gets the unknown code")
            return "; ".join(parts)
        if self.ordered:
            parts = [f"ordinal, {' < '.join(self.categories)}"]
            if self.fill is not None:
                parts.append(f"a gap gets the median position {self.fill:g}")
        elif self.categorical:
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
    """One numeric :class:`Column` per name.

    Args:
        names: the columns' names.
    """
    return tuple(Column(str(name)) for name in names)


def infer_columns(names: Sequence[str], cells: np.ndarray,
                  ordinal: Mapping[str, Sequence[str]] | None = None) -> tuple[Column, ...]:
    """A column is numeric when every cell that is not missing parses as a number, categorical otherwise; a column
    named in ``ordinal`` is categorical with that order (see :func:`ordered_columns`).

    Args:
        names: the columns' names.
        cells: the raw cells (N, len(names)).
        ordinal: column name -> its categories, lowest first; None (default): none.
    """
    columns = tuple(Column(str(name), categorical=not _all_numbers(cells[:, j])) for j, name in enumerate(names))
    return ordered_columns(columns, ordinal)


def parse_ordinal(texts: Sequence[str]) -> dict[str, list[str]]:
    """Command-line ordinal columns, ``"NAME=LOWEST,...,HIGHEST"`` each, as ``{NAME: [LOWEST, ..., HIGHEST]}``.

    Args:
        texts: the command line's values.

    Raises:
        ValueError: a text without ``=`` or without a name, or a column given twice.

    Example:
        >>> parse_ordinal(["grade=low,mid,high", "size = S, M, L"])
        {'grade': ['low', 'mid', 'high'], 'size': ['S', 'M', 'L']}
    """
    ordinal: dict[str, list[str]] = {}
    for text in texts:
        name, equals, order = text.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"an ordinal column is NAME=LOWEST,...,HIGHEST (e.g. grade=low,mid,high), got {text!r}")
        if name.strip() in ordinal:
            raise ValueError(f"ordinal column {name.strip()!r} is given twice")
        ordinal[name.strip()] = [part.strip() for part in order.split(",")]
    return ordinal


def ordered_columns(columns: Sequence[Column], ordinal: Mapping[str, Sequence[str]] | None) -> tuple[Column, ...]:
    """``columns`` with those named in ``ordinal`` made ordered categorical columns: one number, the position.

    Args:
        columns: the table's columns.
        ordinal: column name -> its categories from lowest to highest; None or empty: no change.

    Raises:
        ValueError: a name that is not a column, or an order with fewer than 2 or repeated categories.

    Example:
        >>> ordered_columns((Column("grade", True),), {"grade": ["low", "mid", "high"]})[0].describe()
        'ordinal, low < mid < high; gaps refused'
    """
    if not ordinal:
        return tuple(columns)
    names = [c.name for c in columns]
    for name, order in ordinal.items():
        if name not in names:
            raise ValueError(f"ordinal column {name!r} is not a column of the table; columns: {', '.join(names)}")
        texts = [category_text(v) for v in order] if not isinstance(order, str) else [order]
        if len(texts) < 2 or len(set(texts)) != len(texts):
            raise ValueError(f"the order of ordinal column {name!r} must list 2 or more distinct categories, "
                             f"lowest first, got {list(order)!r}")
    return tuple(replace(c, categorical=True, ordered=True, categories=tuple(category_text(v) for v in ordinal[c.name]))
                 if c.name in ordinal else c for c in columns)


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
    check_int("max_categories", max_categories, low=2, none_ok=True)


def category_text(value: object) -> str:
    """A cell as a category: text as it is, 3.0 as '3' (so a CSV's '3' and a DataFrame's 3.0 agree).

    Args:
        value: the cell.
    """
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
    embed: bool = True,
    row_name: RowName = row_label,
) -> tuple[Column, ...]:
    """Learn every column's categories, fill and indicator from ``cells``, the training rows (N, len(columns)).

    Args:
        columns: the columns (name, numeric/categorical, an ordered column's order); anything learned before is
            learned anew.
        cells: the raw training cells.
        missing: ``"impute"`` learns fills, indicators and drops empty columns; ``"error"`` learns no fill (gaps
            are refused when encoding).
        max_categories: categories a column one-hot encodes; ``None``: no limit (every category one-hot).
        embed: a column with more categories gets an embedding; ``False``: the rarer share ``<other>``.
        row_name: names a row in error messages.

    Raises:
        ValueError: a numeric column holds text or an infinite number, an ordered column a value outside its order
            (named with its row).

    Example:
        >>> cells = np.array([["1", "red"], ["", "blue"], ["5", "red"]], dtype=object)
        >>> fit_columns((Column("size"), Column("color", True)), cells)[0]
        Column(name='size', categorical=False, categories=(), other=0, fill=3.0, indicator=True, dropped=False, \
embedding=0, ordered=False)
    """
    check_missing(missing)
    check_max_categories(max_categories)
    impute = missing == "impute"
    fitted = []
    for j, column in enumerate(columns):
        values = cells[:, j]
        gaps = missing_mask(values)
        plain = Column(column.name, column.categorical, column.categories if column.ordered else (),
                       ordered=column.ordered)
        if impute and gaps.all():
            warnings.warn(f"column {column.name!r} has no value in any training row; it is dropped", stacklevel=2)
            fitted.append(replace(plain, dropped=True))
            continue
        indicator = impute and bool(gaps.any())
        if column.ordered:
            positions = _positions(values, gaps, column, row_name)
            fill = median_fill(positions[~gaps]) if impute else None
            fitted.append(replace(plain, fill=fill, indicator=indicator))
        elif column.categorical:
            texts = [category_text(v) for v in values[~gaps].tolist()]
            if embed and max_categories is not None and len(set(texts)) > max_categories:
                fitted.append(_embedded(plain, texts, impute, indicator))
                continue
            fill = most_frequent_fill(texts) if impute else None
            categories, other = _kept_categories(texts + [fill] * int(gaps.sum()) if impute else texts, max_categories)
            fitted.append(replace(plain, categories=categories, other=other, fill=fill, indicator=indicator))
        else:
            numbers = _numbers(values, gaps, column.name, row_name)
            fill = median_fill(numbers[~gaps]) if impute else None
            fitted.append(replace(plain, fill=fill, indicator=indicator))
    return tuple(fitted)


def _embedded(plain: Column, texts: list[str], impute: bool, indicator: bool) -> Column:
    """An embedded column: categories seen twice or more get a code; the ones seen once share the unknown code."""
    values, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
    kept = tuple(str(v) for v in values[counts >= 2].tolist())
    column = replace(plain, categories=kept, other=int((counts < 2).sum()), fill=MISSING if impute else None,
                     indicator=indicator)
    return replace(column, embedding=embedding_width(column.codes))


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
    """Names of the encoded features, column by column (see :attr:`Column.feature_names`).

    Args:
        columns: the table's columns, as fitted.
    """
    return tuple(name for column in columns for name in column.feature_names)


def standardized_features(columns: Sequence[Column]) -> np.ndarray:
    """True for each encoded feature that is a number to standardize; one-hot and indicator columns stay 0/1.

    Args:
        columns: the table's columns, as fitted.
    """
    flags = [flag for c in columns
             for flag in ([_is_number(c)] * (c.width - (c.indicator and not c.embedding)) +
                          [False] * (c.indicator and not c.embedding))]
    return np.asarray(flags, dtype=bool)


def _is_number(column: Column) -> bool:
    return column.ordered or not (column.categorical or column.embedding)


def embedded_features(columns: Sequence[Column]) -> tuple[tuple[int, int, int], ...]:
    """``(feature index, codes, width)`` of each embedded column's code feature among the encoded features.

    Args:
        columns: the table's columns, as fitted.
    """
    found, offset = [], 0
    for column in columns:
        if column.embedding:
            found.append((offset, column.codes, column.embedding))
        offset += column.width
    return tuple(found)


def expand_codes(features: np.ndarray, columns: Sequence[Column]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Encoded features with each embedded column's code feature replaced by one-hot columns, one per code, and
    their names: what a model without a lookup layer (scikit-learn's, the linear tools) takes.

    Args:
        features: encoded features (N, sum of widths).
        columns: the columns that encoded them.

    Example:
        >>> city = Column("city", True, ("a", "b"), other=1, fill=MISSING, embedding=2)
        >>> expand_codes(np.array([[2.0, 0.5], [0.0, 1.5]]), (city, Column("x")))
        (array([[0. , 0. , 1. , 0.5],
               [1. , 0. , 0. , 1.5]]), ('city=<unknown>', 'city=a', 'city=b', 'x'))
    """
    parts, names, offset = [], [], 0
    for column in columns:
        block = features[:, offset:offset + column.width]
        if column.embedding:
            codes = np.clip(np.rint(block[:, 0]).astype(np.int64), 0, column.codes - 1)
            block = (codes[:, None] == np.arange(column.codes)[None, :]).astype(features.dtype)
            names += [f"{column.name}={label}" for label in column.code_labels]
        else:
            names += list(column.feature_names)
        parts.append(block)
        offset += column.width
    return (np.concatenate(parts, axis=1) if parts else features[:, :0]), tuple(names)


def check_table(cells: np.ndarray, columns: Sequence[Column], *, missing: str = "impute",
                row_name: RowName = row_label) -> None:
    """Refuse what no encoding can take, naming column and row: text or infinity in a numeric column, and (with
    ``missing="error"``) any missing cell.

    Args:
        cells: the raw cells (N, len(columns)).
        columns: the table's columns, as fitted.
        missing: "impute" (default) lets missing cells through; "error" refuses them.
        row_name: names a row in messages (default ``row {index}``).

    Raises:
        ValueError: the first cell no encoding can take.
    """
    _check_width(cells, columns)
    for j, column in enumerate(columns):
        gaps = missing_mask(cells[:, j])
        if missing == "error" and gaps.any():
            _refuse_gap(column.name, gaps, row_name)
        if column.ordered:
            _positions(cells[:, j], gaps, column, row_name)
        elif not column.categorical:
            _numbers(cells[:, j], gaps, column.name, row_name)


def encode_table(cells: np.ndarray, columns: Sequence[Column], row_name: RowName = row_label) -> np.ndarray:
    """Raw cells (N, len(columns)) -> float64 features (N, sum of widths), as the module docstring describes.

    Args:
        cells: the raw cells (N, len(columns)).
        columns: the table's columns, as fitted.
        row_name: names a row in messages (default ``row {index}``).
    """
    _check_width(cells, columns)
    parts = []
    for j, column in enumerate(columns):
        if column.dropped:
            continue
        values = cells[:, j]
        gaps = missing_mask(values)
        if gaps.any() and column.fill is None:
            _refuse_gap(column.name, gaps, row_name)
        if column.embedding:
            index = {category: code for code, category in enumerate(column.categories, start=1)}
            gap_code = column.codes - 1 if column.indicator else UNKNOWN_CODE
            codes = [gap_code if gap else index.get(category_text(v), UNKNOWN_CODE)
                     for v, gap in zip(values.tolist(), gaps)]
            parts.append(np.asarray(codes, dtype=np.float64)[:, None])
            continue
        if column.ordered:
            positions = _positions(values, gaps, column, row_name)
            positions[gaps] = column.fill if gaps.any() else 0.0
            parts.append(positions[:, None])
        elif column.categorical:
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


def _positions(values: np.ndarray, gaps: np.ndarray, column: Column, row_name: RowName) -> np.ndarray:
    """An ordered column's cells as their positions in its order (float64, NaN at gaps); other values refused."""
    index = {category: float(i) for i, category in enumerate(column.categories)}
    positions = np.full(len(values), np.nan)
    for i, (value, gap) in enumerate(zip(values.tolist(), gaps)):
        if gap:
            continue
        text = category_text(value)
        if text not in index:
            order = ", ".join(repr(c) for c in column.categories)
            raise FitguardError(f"column {column.name!r} has {text!r} at {row_name(i)}, which is not one of its "
                                f"ordered categories {order}")
        positions[i] = index[text]
    return positions


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
