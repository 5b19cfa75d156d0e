"""Read a CSV file into a header and a grid of text cells (the csv module and numpy, no pandas).

Cells stay text here; ``encoding.infer_columns`` decides which columns are numbers. Every cell must be filled:
a missing value is reported with its column and line rather than guessed (imputation is a modelling choice).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fitguard.errors import FitguardError


@dataclass(frozen=True)
class CsvTable:
    """Header names, text cells (N, C) and the file line of each row, for error messages."""

    path: Path
    header: tuple[str, ...]
    cells: np.ndarray
    lines: tuple[int, ...]

    def row_name(self, index: int) -> str:
        return f"line {self.lines[index]} of {self.path}"

    def column(self, name: str) -> int:
        if name not in self.header:
            available = ", ".join(repr(h) for h in self.header)
            raise FitguardError(f"column {name!r} not found in {self.path}; available columns: {available}")
        return self.header.index(name)


def read_csv(path: str | Path, delimiter: str = ",") -> CsvTable:
    """Read ``path``; cells are stripped of surrounding spaces.

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
    cells = np.asarray(rows, dtype=object)
    empty = np.argwhere(cells == "")
    if empty.size:
        i, j = (int(v) for v in empty[0])
        raise FitguardError(
            f"column {header[j]!r} is empty at line {lines[i]} of {path}; every value must be filled in"
        )
    return CsvTable(path, tuple(header), cells, tuple(lines))


def _check_header(header: list[str], path: Path) -> None:
    for number, name in enumerate(header, start=1):
        if not name:
            raise FitguardError(f"CSV file {path} has an unnamed column (number {number}) in its header")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FitguardError(f"CSV file {path} has duplicate column names: {', '.join(repr(d) for d in duplicates)}")
