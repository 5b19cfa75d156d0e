from __future__ import annotations

import numpy as np
import pytest

from fitguard.data.encoding import Column, encode_table, encoded_names, infer_columns, learn_categories


def test_numbers_stay_and_categories_become_one_hot_learned_from_given_rows():
    cells = np.array([["1.5", "red"], ["2", "blue"], ["3", "red"]], dtype=object)
    columns = learn_categories(infer_columns(["size", "color"], cells), cells)
    assert columns == (Column("size"), Column("color", True, ("blue", "red")))
    assert encoded_names(columns) == ("size", "color=blue", "color=red")
    assert encode_table(cells, columns).tolist() == [[1.5, 0, 1], [2, 1, 0], [3, 0, 1]]


def test_unseen_category_encodes_as_zeros():
    columns = (Column("color", True, ("blue", "red")),)
    assert encode_table(np.array([["green"]], dtype=object), columns).tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", "column 'size' has 'abc' at row 1, expected a number"),
        ("nan", "column 'size' has nan at row 1; every value must be a finite number"),
        ("-inf", "column 'size' has -inf at row 1; every value must be a finite number"),
    ],
)
def test_bad_numbers_name_column_and_row(cell, message):
    cells = np.array([["1"], [cell]], dtype=object)
    with pytest.raises(ValueError) as error:
        encode_table(cells, (Column("size"),))
    assert str(error.value) == message


def test_wrong_column_count_lists_expected_columns():
    with pytest.raises(ValueError) as error:
        encode_table(np.zeros((2, 3)), (Column("a"), Column("b")))
    assert str(error.value) == "expected 2 columns ('a', 'b'), got 3"
