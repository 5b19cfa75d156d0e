from __future__ import annotations

import numpy as np
import pytest
from sklearn.impute import SimpleImputer

from fitguard.data.missing import check_missing, median_fill, missing_mask, most_frequent_fill


def test_blanks_markers_none_and_nan_are_missing_in_text_and_object_cells():
    cells = np.array(["1", "", " ", "NA", "n/a", "NaN", "null", "None", "<NA>", "?", "x", "0", "nA", None, np.nan,
                      float("nan"), 2.5, "NAN", "nano"], dtype=object)
    assert missing_mask(cells).tolist() == [False, True, True, True, True, True, True, True, True, True, False,
                                            False, True, True, True, True, False, True, False]


def test_numeric_arrays_use_nan_and_integer_arrays_have_no_gaps():
    assert missing_mask(np.array([1.0, np.nan, 3.0])).tolist() == [False, True, False]
    assert missing_mask(np.array([1, 2, 3])).tolist() == [False, False, False]
    assert missing_mask(np.array(["a", "", "NA"])).tolist() == [False, True, True]  # numpy text (dtype <U)


@pytest.mark.parametrize("seed", range(5))
def test_fills_equal_scikit_learn_simple_imputer(seed):
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=int(rng.integers(1, 30)))
    oracle = SimpleImputer(strategy="median").fit(numbers[:, None]).statistics_[0]
    assert median_fill(numbers) == pytest.approx(oracle, abs=1e-12)
    # few categories and rows: ties are frequent, and both must take the smallest of them
    texts = rng.choice(["b", "a", "d", "c"], size=int(rng.integers(1, 9))).astype(object)
    oracle = SimpleImputer(strategy="most_frequent").fit(texts[:, None]).statistics_[0]
    assert most_frequent_fill(list(texts)) == oracle


def test_most_frequent_ties_go_to_the_smallest_whatever_the_order():
    assert most_frequent_fill(["y", "x", "y", "x", "z"]) == "x"
    assert most_frequent_fill(["x", "y", "x", "y", "z"]) == "x"


def test_bad_choice_is_named():
    with pytest.raises(ValueError) as error:
        check_missing("drop")
    assert str(error.value) == "`missing` must be 'impute' or 'error', got 'drop'"
