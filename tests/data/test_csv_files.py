from __future__ import annotations

from pathlib import Path

import pytest

from fitguard.data.csv_files import read_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(text)
    return path


def test_reads_header_cells_and_lines_skipping_blank_lines(tmp_path):
    path = write(tmp_path, "a, b\n1, x\n\n2,y\n")
    table = read_csv(path)
    assert table.header == ("a", "b")
    assert table.cells.tolist() == [["1", "x"], ["2", "y"]]
    assert table.lines == (2, 4)
    assert table.row_name(1) == f"line 4 of {path}"


def test_blank_cells_stay_blank_for_the_preprocessing_to_fill_or_refuse(tmp_path):
    assert read_csv(write(tmp_path, "a,b\n1,2\n3, \n")).cells.tolist() == [["1", "2"], ["3", ""]]


def test_other_delimiter(tmp_path):
    assert read_csv(write(tmp_path, "a;b\n1;2\n"), delimiter=";").cells.tolist() == [["1", "2"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "CSV file {p} is empty; expected a header row and data rows"),
        ("a,b\n", "CSV file {p} has a header but no data rows"),
        ("a,b,a\n1,2,3\n", "CSV file {p} has duplicate column names: 'a'"),
        ("a,,c\n1,2,3\n", "CSV file {p} has an unnamed column (number 2) in its header"),
        ("a,b\n1,2\n3\n", "line 3 of {p} has 1 fields, but the header has 2"),
    ],
)
def test_bad_files_are_explained(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        read_csv(path)
    assert str(error.value) == message.format(p=path)


def test_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        read_csv(tmp_path / "nope.csv")
    assert str(error.value) == f"CSV file {tmp_path / 'nope.csv'} does not exist"
    table = read_csv(write(tmp_path, "a,b\n1,2\n"))
    with pytest.raises(ValueError) as error:
        table.column("label")
    assert str(error.value) == f"column 'label' not found in {table.path}; available columns: 'a', 'b'"


def test_delimiter_is_validated(tmp_path):
    with pytest.raises(ValueError) as error:
        read_csv(write(tmp_path, "a\n1\n"), delimiter=";;")
    assert str(error.value) == "`delimiter` must be a single character, got ';;'"
