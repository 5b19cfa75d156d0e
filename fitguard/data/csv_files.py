"""Read a CSV file into a header and a grid of text cells (the csv module and numpy, no pandas); Parquet too, when
the optional ``pyarrow`` is installed.

Cells stay as read here: ``encoding.infer_columns`` decides which columns are numbers, and blank cells stay blank
for the preprocessing to fill or refuse (``missing="impute"`` or ``"error"``), with the line they came from.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fitguard.errors import FitguardError


@dataclass(frozen=True)
class CsvTable:
    """Header names, cells (N, C) and where each row is in the file (a CSV line, a Parquet row), for messages.

    Args:
        path: the file read.
        header: the column names.
        cells: the cells, stripped text (N, C).
        lines: where each row is in the file (its line, or its Parquet row).
        kind: "CSV" (default) or "Parquet", for messages.
    """

    path: Path
    header: tuple[str, ...]
    cells: np.ndarray
    lines: tuple[int, ...]
    kind: str = "CSV"

    def row_name(self, index: int) -> str:
        """Where row ``index`` is, for messages: ``line L of PATH`` (``row R`` for Parquet).

        Args:
            index: the row's index in ``cells``.
        """
        return f"{'line' if self.kind == 'CSV' else 'row'} {self.lines[index]} of {self.path}"

    def column(self, name: str) -> int:
        """The position of column ``name`` in ``header``.

        Args:
            name: the column's name.

        Raises:
            FitguardError: no such column, listing the available ones.
        """
        if name not in self.header:
            available = ", ".join(repr(h) for h in self.header)
            raise FitguardError(f"column {name!r} not found in {self.path}; available columns: {available}")
        return self.header.index(name)


def read_csv(path: str | Path, delimiter: str = ",") -> CsvTable:
    """Read ``path``; cells are stripped of surrounding spaces.

    Args:
        path: the CSV file.
        delimiter: the one-character cell separator (default ",").

    Raises:
        ValueError: ``delimiter`` is not a single character.

    Example:
        >>> table = read_csv("data.csv")  # doctest: +SKIP
        >>> table.header                  # doctest: +SKIP
        ('age', 'color', 'label')
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"`delimiter` must be a single character, got {delimiter!r}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if row:
                    rows.append([cell.strip() for cell in row])
                    lines.append(reader.line_num)
    except UnicodeDecodeError as error:
        raise FitguardError(
            f"CSV file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}); "
            "save it as UTF-8"
        ) from None
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        raise FitguardError(f"CSV file {path} cannot be parsed: {error}") from None
    if header is None:
        raise FitguardError(f"CSV file {path} is empty; expected a header row and data rows")
    header = [name.strip() for name in header]
    _check_header(header, path)
    if not rows:
        raise FitguardError(f"CSV file {path} has a header but no data rows")
    for row, line in zip(rows, lines):
        if len(row) != len(header):
            raise FitguardError(f"line {line} of {path} has {len(row)} fields, but the header has {len(header)}")
    return CsvTable(path, tuple(header), np.asarray(rows, dtype=object), tuple(lines))


def read_parquet(path: str | Path) -> CsvTable:
    """Read a Parquet file with ``pyarrow`` (an optional extra: ``pip install pyarrow``); nulls become ``None``.

    Args:
        path: the ``.parquet`` file.

    Raises:
        FitguardError: pyarrow is not installed, or the file is not readable Parquet.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Parquet file {path} does not exist")
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise FitguardError(f"reading the Parquet file {path} needs pyarrow: pip install pyarrow") from None
    try:
        columns = parquet.read_table(path).to_pydict()
    except Exception as error:  # pyarrow's own error types for a damaged or foreign file
        raise FitguardError(f"Parquet file {path} cannot be read: {str(error).splitlines()[0]}") from None
    header = [str(name) for name in columns]
    _check_header(header, path)
    rows = len(next(iter(columns.values()), []))
    if not rows:
        raise FitguardError(f"Parquet file {path} has no data rows")
    cells = np.empty((rows, len(header)), dtype=object)
    for j, values in enumerate(columns.values()):
        cells[:, j] = values
    return CsvTable(path, tuple(header), cells, tuple(range(1, rows + 1)), kind="Parquet")


def read_table(path: str | Path) -> CsvTable:
    """A ``.parquet`` file with :func:`read_parquet`, anything else as CSV with :func:`read_csv`.

    Args:
        path: the file.
    """
    return read_parquet(path) if Path(path).suffix.lower() == ".parquet" else read_csv(path)


def _check_header(header: list[str], path: Path) -> None:
    for number, name in enumerate(header, start=1):
        if not name:
            raise FitguardError(f"CSV file {path} has an unnamed column (number {number}) in its header")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FitguardError(f"CSV file {path} has duplicate column names: {', '.join(repr(d) for d in duplicates)}")
