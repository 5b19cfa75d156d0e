from __future__ import annotations

import numpy as np
import pytest

from fitguard.data.encoding import Column, encode_table, encoded_names, fit_columns, infer_columns


def test_numbers_stay_and_categories_become_one_hot_learned_from_given_rows():
    cells = np.array([["1.5", "red"], ["2", "blue"], ["3", "red"]], dtype=object)
    columns = fit_columns(infer_columns(["size", "color"], cells), cells, missing="error")
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
        ("nan", "column 'size' has no value at row 1; with missing='error' every value must be filled in "
                "(missing='impute' fills gaps from the training rows)"),
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


# ------------------------------------------------------------------ missing values and many categories
def _oracle(train: np.ndarray, rows: np.ndarray, columns, max_categories) -> dict[str, np.ndarray]:
    """scikit-learn's encoding of ``rows`` fitted on ``train``, each feature keyed by fitguard's name for it."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    features = {}
    for j, column in enumerate(columns):
        fit, new = train[:, j : j + 1], rows[:, j : j + 1]
        if column.categorical:
            imputer = SimpleImputer(strategy="most_frequent", missing_values=None, add_indicator=True).fit(fit)
            filled, encoder_input = imputer.transform(new), imputer.transform(fit)[:, :1]
            encoder = OneHotEncoder(max_categories=max_categories, handle_unknown="infrequent_if_exist",
                                    sparse_output=False).fit(encoder_input)
            onehot = encoder.transform(filled[:, :1])
            for k, name in enumerate(encoder.get_feature_names_out([column.name])):
                label = name.removeprefix(f"{column.name}_").replace("infrequent_sklearn", "<other>")
                features[f"{column.name}={label}"] = onehot[:, k]
        else:
            imputer = SimpleImputer(strategy="median", add_indicator=True).fit(fit.astype(float))
            filled = imputer.transform(new.astype(float))
            features[column.name] = filled[:, 0]
        if filled.shape[1] == 2:
            features[f"{column.name}=<missing>"] = filled[:, 1]
    return features


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_categories", [None, 2, 3, 4])
def test_fills_indicators_and_capped_one_hot_equal_scikit_learn(seed, max_categories):
    rng = np.random.default_rng(seed)
    n = 40
    size = rng.normal(10, 3, n).round(2).astype(object)
    size[rng.random(n) < 0.25] = None
    grade = rng.integers(1, 6, n).astype(float)  # whole numbers, no gaps in training
    color = rng.choice(["red", "blue", "green", "teal", "gray", "pink"], n, p=[.3, .2, .2, .1, .1, .1]).astype(object)
    color[rng.random(n) < 0.2] = None
    cells = np.column_stack([size, grade, color])
    columns = (Column("size"), Column("grade"), Column("color", True))
    train, rows = cells[:30], cells[30:].copy()
    rows[0, 2], rows[1, 1], rows[2, 0] = "violet", None, None  # an unseen category; a gap in a gap-free column
    fitted = fit_columns(columns, train, max_categories=max_categories, embed=False)
    oracle = _oracle(train, rows, columns, max_categories)
    encoded = encode_table(rows, fitted)
    names = encoded_names(fitted)
    assert sorted(names) == sorted(oracle)
    for k, name in enumerate(names):
        np.testing.assert_allclose(encoded[:, k], oracle[name].astype(float), err_msg=name)


def test_unknown_categories_go_to_other_when_there_is_one_else_to_zeros():
    cells = np.array([["a"], ["a"], ["a"], ["b"], ["b"], ["c"], ["d"]], dtype=object)
    capped = fit_columns((Column("letter", True),), cells, max_categories=3, embed=False)
    assert capped == (Column("letter", True, ("a", "b"), other=2, fill="a"),)
    assert encode_table(np.array([["c"], ["z"], ["b"]], dtype=object), capped).tolist() == [
        [0, 0, 1], [0, 0, 1], [0, 1, 0]]
    whole = fit_columns((Column("letter", True),), cells, max_categories=None)
    assert encode_table(np.array([["z"]], dtype=object), whole).tolist() == [[0, 0, 0, 0]]


def test_a_column_with_no_training_value_is_dropped_with_a_warning():
    cells = np.array([["1", ""], ["2", "NA"], ["3", None]], dtype=object)
    with pytest.warns(UserWarning, match=r"^column 'notes' has no value in any training row; it is dropped$"):
        fitted = fit_columns((Column("age"), Column("notes", True)), cells)
    assert fitted[1] == Column("notes", True, dropped=True)
    assert fitted[1].describe() == "dropped: no value in any training row"
    assert encoded_names(fitted) == ("age",)
    # whatever a later row holds there, it is ignored
    assert encode_table(np.array([["5", "anything"]], dtype=object), fitted).tolist() == [[5.0]]


def test_missing_error_learns_no_fill_and_refuses_a_gap_with_its_row():
    cells = np.array([["1", "x"], ["2", "y"]], dtype=object)
    fitted = fit_columns((Column("a"), Column("b", True)), cells, missing="error")
    assert [c.fill for c in fitted] == [None, None] and not any(c.indicator for c in fitted)
    with pytest.raises(ValueError) as error:
        encode_table(np.array([["1", "x"], ["3", "?"]], dtype=object), fitted, lambda i: f"line {i + 2} of t.csv")
    assert str(error.value) == ("column 'b' has no value at line 3 of t.csv; with missing='error' every value must "
                                "be filled in (missing='impute' fills gaps from the training rows)")


def test_descriptions_say_what_was_done_to_each_column():
    assert (Column("age", fill=41.5, indicator=True).describe()
            == "number; a gap gets the median 41.5; missing indicator")
    assert Column("color", True, ("blue", "red"), other=7, fill="red").describe() == (
        "one-hot, 2 categories; 7 rarer share <other>; a gap gets the most frequent 'red'")
    assert Column("size").describe() == "number; gaps refused"


def test_numbers_and_categories_from_a_dataframe_match_those_from_text():
    assert infer_columns(["a", "b"], np.array([[1.0, "x"], [np.nan, None]], dtype=object)) == (
        Column("a"), Column("b", True))
    fitted = fit_columns((Column("grade", True),), np.array([["3"], ["4"]], dtype=object))
    assert encode_table(np.array([[3.0], [4]], dtype=object), fitted).tolist() == [[1, 0], [0, 1]]


@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "20"])
def test_max_categories_must_be_an_integer_of_at_least_two(bad):
    with pytest.raises(ValueError) as error:
        fit_columns((Column("a", True),), np.array([["x"]], dtype=object), max_categories=bad)
    assert str(error.value) == f"`max_categories` must be None or an integer >= 2, got {bad!r}"
