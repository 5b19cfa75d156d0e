"""Many-category columns become embedding codes, ordered ones positions: each against scikit-learn's encoders."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from fitguard.data.encoding import (
    MISSING,
    Column,
    embedded_features,
    embedding_width,
    encode_table,
    encoded_names,
    expand_codes,
    fit_columns,
    ordered_columns,
    parse_ordinal,
    standardized_features,
)
from fitguard.data.preprocess import Preprocessor
from fitguard.errors import FitguardError


def _towns(seed: int, n: int = 120, gaps: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    towns = rng.choice([f"town{k:02d}" for k in range(45)], n, p=np.linspace(1, 3, 45) / np.linspace(1, 3, 45).sum())
    cells = towns.astype(object)
    cells[rng.random(n) < gaps] = None
    return cells


@pytest.mark.parametrize("seed", range(3))
def test_codes_equal_scikit_learns_ordinal_encoder_with_min_frequency_two(seed):
    cells = _towns(seed)
    train, rows = cells[:90, None], cells[90:, None].copy()
    rows[0, 0], rows[1, 0] = "nowhere", None  # a category first seen after training; a gap
    (town,) = fit_columns((Column("town", True),), train, max_categories=20)
    # the oracle: categories seen twice or more get 0..n-1 in sorted order, the rest (seen once, or unseen) one
    # "infrequent/unknown" value, gaps their own
    known = train[:, 0][train[:, 0] != None]  # noqa: E711 -- object array of text and None
    oracle = OrdinalEncoder(min_frequency=2, handle_unknown="use_encoded_value", unknown_value=-1,
                            encoded_missing_value=-2).fit(known[:, None].astype(str))
    infrequent = set(() if oracle.infrequent_categories_[0] is None else oracle.infrequent_categories_[0].tolist())
    kept = [c for c in oracle.categories_[0].tolist() if c not in infrequent]
    assert town.categories == tuple(kept) and town.other == len(infrequent)
    assert town.indicator and town.fill == MISSING and town.embedding == embedding_width(len(kept) + 2)
    gaps = np.array([v is None for v in rows[:, 0]])
    expected = oracle.transform(np.where(gaps, "x", rows[:, 0]).astype(str)[:, None])[:, 0]
    expected = np.where(expected >= len(kept), -1, expected)  # the pooled infrequent code is "unknown" too
    expected = np.where(gaps, len(kept) + 1, expected + 1)    # ours: 0 unknown, 1..n kept, n + 1 a gap
    np.testing.assert_array_equal(encode_table(rows, (town,))[:, 0], expected)
    assert encoded_names((town,)) == ("town",) and standardized_features((town,)).tolist() == [False]


def test_a_gap_gets_the_unknown_code_when_training_had_none_and_is_refused_with_missing_error():
    train = np.array([[f"c{k % 25}"] for k in range(60)], dtype=object)
    (city,) = fit_columns((Column("city", True),), train)
    assert city.embedding and not city.indicator and city.codes == 26
    code = city.categories.index("c3") + 1  # sorted as text: c0, c1, c10, ..., c19, c2, c20, ...
    assert encode_table(np.array([[None], ["c3"]], dtype=object), (city,)).tolist() == [[0.0], [float(code)]]
    assert city.describe() == "embedding of 25 categories in 10 dimensions; a gap gets the unknown code"
    (strict,) = fit_columns((Column("city", True),), train, missing="error")
    with pytest.raises(FitguardError, match=r"^column 'city' has no value at row 0; with missing='error'"):
        encode_table(np.array([[None]], dtype=object), (strict,))


def test_at_most_max_categories_stay_one_hot_and_no_embed_keeps_the_pooled_other_column():
    twenty = np.array([[f"c{k % 20}"] for k in range(60)], dtype=object)
    assert fit_columns((Column("c", True),), twenty, max_categories=20)[0].embedding == 0
    cells = np.array([[f"c{k % 21}"] for k in range(63)], dtype=object)
    assert fit_columns((Column("c", True),), cells, max_categories=20)[0].embedding > 0        # 21
    pooled = fit_columns((Column("c", True),), cells, max_categories=20, embed=False)[0]
    assert pooled.embedding == 0 and pooled.other == 2 and pooled.width == 20


def test_expanded_codes_equal_a_one_hot_of_the_codes_and_keep_other_features_in_place():
    train = np.column_stack([_towns(0), np.arange(120.0).astype(object)])
    columns = fit_columns((Column("town", True), Column("x")), train)
    features = encode_table(train, columns)
    expanded, names = expand_codes(features, columns)
    codes = columns[0].codes
    oracle = OneHotEncoder(categories=[list(range(codes))], sparse_output=False).fit_transform(
        features[:, :1].astype(int))
    np.testing.assert_array_equal(expanded[:, :codes], oracle)
    np.testing.assert_array_equal(expanded[:, codes:], features[:, 1:])
    assert names[0] == "town=<unknown>" and names[codes - 1] == "town=<missing>"
    assert names[-2:] == ("town=<missing>", "x")
    assert embedded_features(columns) == ((0, codes, columns[0].embedding),)


def test_ordinal_columns_are_positions_equal_to_scikit_learns_ordinal_encoder_with_a_median_fill():
    order = ["low", "mid", "high", "top"]
    rng = np.random.default_rng(1)
    cells = rng.choice(order, 50).astype(object)
    cells[::7] = None
    columns = ordered_columns((Column("grade", True),), {"grade": order})
    (grade,) = fit_columns(columns, cells[:, None])
    oracle = OrdinalEncoder(categories=[order]).fit(np.array(order)[:, None])
    present = cells != None  # noqa: E711
    positions = oracle.transform(cells[present].astype(str)[:, None])[:, 0]
    encoded = encode_table(cells[:, None], (grade,))
    np.testing.assert_array_equal(encoded[present, 0], positions)
    assert grade.fill == float(np.median(positions)) and np.all(encoded[~present, 0] == grade.fill)
    np.testing.assert_array_equal(encoded[:, 1], (~present).astype(float))  # the missing indicator
    assert standardized_features((grade,)).tolist() == [True, False]
    assert grade.describe() == (f"ordinal, low < mid < high < top; a gap gets the median position {grade.fill:g}; "
                                "missing indicator")
    with pytest.raises(FitguardError) as error:
        encode_table(np.array([["mid"], ["huge"]], dtype=object), (grade,))
    assert str(error.value) == ("column 'grade' has 'huge' at row 1, which is not one of its ordered categories "
                                "'low', 'mid', 'high', 'top'")


@pytest.mark.parametrize(("texts", "message"), [
    (["grade"], "an ordinal column is NAME=LOWEST,...,HIGHEST (e.g. grade=low,mid,high), got 'grade'"),
    (["=a,b"], "an ordinal column is NAME=LOWEST,...,HIGHEST (e.g. grade=low,mid,high), got '=a,b'"),
    (["g=a,b", "g=b,a"], "ordinal column 'g' is given twice"),
])
def test_parse_ordinal_refuses_in_one_line(texts, message):
    with pytest.raises(ValueError) as error:
        parse_ordinal(texts)
    assert str(error.value) == message


@pytest.mark.parametrize(("ordinal", "message"), [
    ({"size": ["a", "b"]}, "ordinal column 'size' is not a column of the table; columns: grade"),
    ({"grade": ["a"]}, "the order of ordinal column 'grade' must list 2 or more distinct categories, lowest first, "
                       "got ['a']"),
    ({"grade": ["a", "a"]}, "the order of ordinal column 'grade' must list 2 or more distinct categories, lowest "
                            "first, got ['a', 'a']"),
])
def test_ordered_columns_refuses_a_wrong_name_or_order(ordinal, message):
    with pytest.raises(ValueError) as error:
        ordered_columns((Column("grade", True),), ordinal)
    assert str(error.value) == message


def test_the_preprocessor_saves_embeddings_and_an_older_file_refits_without_them():
    train = np.column_stack([_towns(2), np.linspace(0, 1, 120).astype(object)])
    pre = Preprocessor.fit(train, kind="table", task="classification", columns=(Column("town", True), Column("x")))
    again = Preprocessor.from_dict(pre.to_dict())
    assert again == pre and again.embeddings == pre.embeddings == ((0, pre.columns[0].codes, pre.columns[0].embedding),)
    np.testing.assert_array_equal(again.transform(train).numpy(), pre.transform(train).numpy())
    old = {**pre.to_dict(), "format_version": 3, "embed": True}
    old["columns"] = [{k: v for k, v in c.items() if k not in ("embedding", "ordered")} for c in old["columns"]]
    for column in old["columns"]:
        column.update(categories=[], other=0) if column["categorical"] else None
    legacy = Preprocessor.from_dict(old)
    assert legacy.embed is False and legacy.refit(train).embeddings == ()
    assert legacy.refit(train).columns[0].other > 0  # the format 3 rule: rarer categories pooled
