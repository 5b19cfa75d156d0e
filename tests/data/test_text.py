"""The fortunes text set: entries between '%' lines, labelled by their file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fitguard.data.text import FORTUNES_FOLDER, parse_fortunes, read_fortunes
from fitguard.errors import FitguardError


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def test_parse_splits_on_lines_holding_only_a_percent_sign():
    text = "First line\n  second line\n%\n\n%\n100% sure\n%\nlast, no trailing separator"
    assert parse_fortunes(text) == ["First line\n  second line", "100% sure", "last, no trailing separator"]


def test_read_labels_each_entry_by_its_file_with_limits(tmp_path: Path):
    write(tmp_path, "food", "pie\n%\na very long recipe indeed\n%\ncake\n%\n")
    write(tmp_path, "law", "sue\n%\n")
    write(tmp_path, "law.dat", "binary index")
    assert read_fortunes(["food", "law"], folder=tmp_path) == (
        ["pie", "a very long recipe indeed", "cake", "sue"], ["food", "food", "food", "law"])
    assert read_fortunes(["food", "law"], folder=tmp_path, limit_per_class=1, max_chars=10) == (
        ["pie", "sue"], ["food", "law"])


def test_errors_name_what_is_missing(tmp_path: Path):
    write(tmp_path, "food", "pie\n")
    with pytest.raises(FitguardError) as error:
        read_fortunes(["food", "sport"], folder=tmp_path)
    assert str(error.value) == f"no fortune file 'sport' in {tmp_path}; available: food"
    with pytest.raises(FileNotFoundError) as missing:
        read_fortunes(folder=tmp_path / "nowhere")
    assert str(missing.value) == (f"no fortune files in {tmp_path / 'nowhere'}: "
                                  "install them with `apt-get install fortunes`")
    with pytest.raises(ValueError) as invalid:
        read_fortunes("food", folder=tmp_path)
    assert str(invalid.value) == "`categories` must be a non-empty list of fortune file names, got 'food'"
    with pytest.raises(ValueError) as invalid:
        read_fortunes(["food"], folder=tmp_path, limit_per_class=0)
    assert str(invalid.value) == "`limit_per_class` must be None or an integer >= 1, got 0"


@pytest.mark.skipif(not (FORTUNES_FOLDER / "science").is_file(), reason="Debian's fortunes package is not installed")
def test_the_installed_fortunes_give_six_real_categories():
    texts, labels = read_fortunes(limit_per_class=50, max_chars=400)
    assert sorted(set(labels)) == ["art", "computers", "food", "law", "science", "sports"]
    assert len(texts) == 300 and all(0 < len(t) <= 400 for t in texts)
