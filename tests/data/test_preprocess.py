from __future__ import annotations

import json
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
        digits.preprocessor.transform(np.zeros((2, 8, 8)))
    assert str(error.value) == "expected raw image data of shape (N, 1, 8, 8), got shape (2, 8, 8)"
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
    assert str(error.value) == "preprocessor format_version must be 1, got 99"
