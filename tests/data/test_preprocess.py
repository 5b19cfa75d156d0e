from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fitguard.data import Preprocessor, from_arrays, from_csv, from_folder, load

CSV = "age,color,size,label\n" + "".join(
    f"{20 + i},{['red', 'blue', 'green'][i % 3]},{(i * 7) % 11 / 2},{['no', 'yes'][i % 2]}\n" for i in range(30)
)


@pytest.fixture
def table(tmp_path: Path):
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    return from_csv(path, target="label", val=0.2, test=0.2, seed=0)


def roundtrip(preprocessor: Preprocessor) -> Preprocessor:
    return Preprocessor.from_dict(json.loads(json.dumps(preprocessor.to_dict())))


def test_table_roundtrip_gives_identical_transform_of_raw_test_rows(table):
    again = roundtrip(table.preprocessor)
    assert again == table.preprocessor
    assert torch.equal(again.transform(table.raw_test.inputs), table.test.X)
    assert torch.equal(again.encode_target(table.raw_test.labels), table.test.y)


def test_table_transform_accepts_dicts_and_a_csv_path(table, tmp_path):
    rows = [{"age": "21", "color": "blue", "size": "3.5"}]
    expected = table.preprocessor.transform(np.array([["21", "blue", "3.5"]], dtype=object))
    assert torch.equal(table.preprocessor.transform(rows), expected)
    path = tmp_path / "new.csv"
    path.write_text("size,color,age,label\n3.5,blue,21,yes\n")  # other column order, target ignored
    assert torch.equal(table.preprocessor.transform(path), expected)


def test_table_mismatches_name_the_difference(table, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("age,colour,size,extra\n1,red,2,3\n")
    with pytest.raises(ValueError) as error:
        table.preprocessor.transform(path)
    assert str(error.value) == (
        f"CSV file {path} does not match the fitted columns: missing columns 'color'; "
        "unexpected columns 'colour', 'extra'"
    )
    with pytest.raises(ValueError) as error:
        table.preprocessor.transform([{"age": 1, "size": 2}])
    assert str(error.value) == "row 0 does not match the fitted columns: missing columns 'color'"
    with pytest.raises(ValueError) as error:
        table.preprocessor.transform(np.zeros((1, 2)))
    assert str(error.value) == "expected 3 columns ('age', 'color', 'size'), got 2"


def test_standardization_is_fitted_on_train_rows_only(table):
    ages = table.raw_train.inputs[:, 0].astype(float)
    index = table.feature_names.index("age")
    assert table.preprocessor.mean[index] == pytest.approx(ages.mean())
    assert table.preprocessor.std[index] == pytest.approx(ages.std())
    one_hot = [i for i, n in enumerate(table.feature_names) if n.startswith("color=")]
    assert [table.preprocessor.mean[i] for i in one_hot] == [0.0, 0.0, 0.0]
    assert set(table.train.X[:, one_hot].unique().tolist()) == {0.0, 1.0}


def test_signal_and_image_arrays_roundtrip_and_shape_errors():
    signals = from_arrays(np.random.default_rng(0).normal(size=(40, 1, 6)), np.arange(40) % 2)
    again = roundtrip(signals.preprocessor)
    assert torch.equal(again.transform(signals.raw_test.inputs), signals.test.X)
    assert torch.equal(again.transform(signals.raw_test.inputs[:, 0]), signals.test.X)  # (N, L) accepted too
    with pytest.raises(ValueError) as error:
        again.transform(np.zeros((2, 1, 5)))
    assert str(error.value) == "expected raw signal data of shape (N, 1, 6), got shape (2, 1, 5)"
    with pytest.raises(ValueError) as error:
        again.transform(np.array([[[0.0, 1.0, 2.0, np.nan, 4.0, 5.0]]]))
    assert str(error.value) == "signal has nan at row 0, position 3; every value must be a finite number"
    digits = load("digits")
    with pytest.raises(ValueError) as error:
        digits.preprocessor.transform(np.zeros((2, 8, 7)))
    assert str(error.value) == "expected raw image data of shape (N, 1, 8, 8), got shape (2, 8, 7)"
    assert torch.equal(roundtrip(digits.preprocessor).transform(digits.raw_test.inputs), digits.test.X)


def test_image_files_transform_like_the_folder_and_mismatches_are_named(class_folder, make_images, tmp_path):
    data = from_folder(class_folder, val=0.0, test=0.2, seed=0)
    again = roundtrip(data.preprocessor)
    files = sorted((class_folder / "dog").glob("*.png"))
    from_files = again.transform(files)
    raw = np.stack([np.asarray(Image.open(f)) for f in files]).transpose(0, 3, 1, 2)
    assert torch.equal(from_files, again.transform(raw))
    make_images(tmp_path / "odd", 1, size=(9, 9))
    odd = tmp_path / "odd" / "000.png"
    with pytest.raises(ValueError) as error:
        again.transform([odd])
    assert str(error.value) == (
        f"image {odd} is 9x9 with 3 channel(s), but the model was fitted on 6x5 images with 3 channel(s)"
    )
    with pytest.raises(FileNotFoundError) as error:
        again.transform([tmp_path / "none.png"])
    assert str(error.value) == f"image file {tmp_path / 'none.png'} does not exist"


def test_unknown_label_and_format_version(table):
    with pytest.raises(ValueError) as error:
        table.preprocessor.encode_target(["maybe"])
    assert str(error.value) == "label 'maybe' is not one of the classes 'no', 'yes'"
    data = table.preprocessor.to_dict()
    data["format_version"] = 99
    with pytest.raises(ValueError) as error:
        Preprocessor.from_dict(data)
    assert str(error.value) == "preprocessor format_version must be one of 1, 2, 3, 4, got 99"


# ------------------------------------------------------------------ missing values, formats and inputs people pass
FIXTURES = Path(__file__).with_name("fixtures")
GAPS_CSV = "age,color,income,label\n" + "".join(
    f"{'' if i % 5 == 0 else 20 + i},{'NA' if i % 7 == 0 else ['red', 'blue', 'green'][i % 3]},"
    f"{'' if i % 4 == 1 else (i * 37) % 50 * 1000},{['no', 'yes'][i % 2]}\n" for i in range(40)
)


@pytest.fixture
def gaps(tmp_path: Path):
    path = tmp_path / "gaps.csv"
    path.write_text(GAPS_CSV)
    return from_csv(path, target="label", val=0.2, test=0.2, seed=0)


def test_imputation_through_the_preprocessor_equals_scikit_learn(gaps):
    """SimpleImputer(median | most_frequent, add_indicator=True) and OneHotEncoder fitted on the same training rows,
    then standardized on them: the model inputs of the test rows are the same numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def numbers(cells):
        return np.where(cells == "", np.nan, cells).astype(float)

    train, test = gaps.raw_train.inputs, gaps.raw_test.inputs
    ages = make_pipeline(SimpleImputer(strategy="median", add_indicator=True)).fit(numbers(train[:, [0]]))
    colors = make_pipeline(SimpleImputer(strategy="most_frequent", missing_values="NA", add_indicator=True))
    colors.fit(train[:, [1]])
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(colors.transform(train[:, [1]])[:, :1])
    incomes = SimpleImputer(strategy="median", add_indicator=True).fit(numbers(train[:, [2]]))

    def oracle(cells):
        age, color, income = ages.transform(numbers(cells[:, [0]])), colors.transform(cells[:, [1]]), \
            incomes.transform(numbers(cells[:, [2]]))
        return np.column_stack([age[:, 0], age[:, 1], onehot.transform(color[:, :1]), color[:, 1].astype(float),
                                income[:, 0], income[:, 1]])

    assert gaps.feature_names == ("age", "age=<missing>", "color=blue", "color=green", "color=red", "color=<missing>",
                                  "income", "income=<missing>")
    scaler = ColumnTransformer([("numbers", StandardScaler(), [0, 6])], remainder="passthrough").fit(oracle(train))
    expected = scaler.transform(oracle(test))[:, [0, 2, 3, 4, 5, 6, 1, 7]]  # back to fitguard's column order
    np.testing.assert_allclose(gaps.test.X.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert roundtrip(gaps.preprocessor) == gaps.preprocessor


def test_a_format_1_file_still_loads_and_transforms_as_it_did():
    stored = json.loads((FIXTURES / "preprocessor_v1.json").read_text())
    old = Preprocessor.from_dict(stored["preprocessor"])
    assert old.missing == "error" and old.max_categories is None
    raw = np.asarray(stored["raw"], dtype=object)
    np.testing.assert_array_equal(old.transform(raw).numpy(), np.asarray(stored["transformed"], dtype=np.float32))
    raw[0, 0] = ""
    with pytest.raises(ValueError) as error:
        old.transform(raw)
    assert str(error.value) == ("column 'age' has no value at row 0; with missing='error' every value must be filled "
                                "in (missing='impute' fills gaps from the training rows)")
    assert roundtrip(old).to_dict()["format_version"] == 4 and roundtrip(old) == old


def test_a_dataframe_is_matched_by_column_name_not_position(gaps):
    pandas = pytest.importorskip("pandas")
    rows = gaps.raw_test.inputs
    frame = pandas.DataFrame({"income": [np.nan if v == "" else float(v) for v in rows[:, 2]],
                              "label": "yes",  # the target column is ignored, as in a CSV
                              "color": [None if v == "NA" else v for v in rows[:, 1]],
                              "age": pandas.array([None if v == "" else int(v) for v in rows[:, 0]], dtype="Int64")})
    assert torch.equal(gaps.preprocessor.transform(frame), gaps.test.X)
    with pytest.raises(ValueError) as error:
        gaps.preprocessor.transform(frame.drop(columns="color"))
    assert str(error.value) == "the DataFrame does not match the fitted columns: missing columns 'color'"


def test_grayscale_images_without_a_channel_axis_equal_those_with_one():
    digits = load("digits", val=0.2, test=0.2, seed=0)
    raw = digits.raw_test.inputs
    assert raw.shape[1] == 1
    assert torch.equal(digits.preprocessor.transform(raw[:, 0]), digits.preprocessor.transform(raw))


def test_parquet_without_pyarrow_is_refused_in_one_line_naming_the_install(gaps, tmp_path, monkeypatch):
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on a machine without the optional extra
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    for call in (lambda: gaps.preprocessor.transform(path), lambda: load(path, target="label")):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == f"reading the Parquet file {path} needs pyarrow: pip install pyarrow"


def test_parquet_rows_transform_like_the_same_csv_rows(gaps, tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    rows = gaps.raw_test.inputs
    table = pyarrow.table({"color": [None if v == "NA" else v for v in rows[:, 1]],
                           "age": [None if v == "" else int(v) for v in rows[:, 0]],
                           "income": [None if v == "" else float(v) for v in rows[:, 2]]})
    parquet.write_table(table, tmp_path / "rows.parquet")
    assert torch.equal(gaps.preprocessor.transform(tmp_path / "rows.parquet"), gaps.test.X)
    labelled = table.append_column("label", pyarrow.array(gaps.raw_test.labels.tolist()))
    parquet.write_table(labelled, tmp_path / "labelled.parquet")
    data = load(tmp_path / "labelled.parquet", target="label", val=0.0, test=0.0)
    assert data.feature_names[:2] == ("color=blue", "color=green") and data.class_names == ("no", "yes")
