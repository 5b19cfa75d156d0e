from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fitguard.data import BUILTIN, from_arrays, from_csv, from_npz, load


def write_csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_a_categorical_column(tmp_path):
    rows = "".join(f"{i},{'ab'[i % 2]},{i % 3}\n" for i in range(30))
    data = load(write_csv(tmp_path, "x,kind,label\n" + rows), target="label", val=0.2, test=0.2, seed=0)
    assert data.task == "classification" and data.kind == "table"
    assert data.class_names == ("0", "1", "2")
    assert data.feature_names == ("x", "kind=a", "kind=b")
    assert data.input_shape == (3,) and data.in_features == 3 and data.out_features == 3
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)
    assert data.train.X.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.raw_test.inputs.dtype == object  # the CSV's own text cells


def test_csv_target_task_inference_and_override(tmp_path):
    rows = "".join(f"{i},{i * 0.5 + 0.25}\n" for i in range(20))
    path = write_csv(tmp_path, "x,y\n" + rows)
    regression = from_csv(path, "y", val=0.2, test=0.2)
    assert regression.task == "regression" and regression.train.y.dtype == torch.float32
    assert regression.num_classes is None and regression.out_features == 1
    whole = write_csv(tmp_path, "x,y\n" + "".join(f"{i},{i}\n" for i in range(40)), "whole.csv")
    assert from_csv(whole, "y", stratify=False).task == "regression"  # 40 distinct whole numbers > 20
    assert from_csv(whole, "y", task="classification", stratify=False, val=0, test=0).num_classes == 40


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a,b\n1,2\n", {"target": "label"}, "column 'label' not found in {p}; available columns: 'a', 'b'"),
        ("a,b\n1,2\n", {"target": None},
         "`target` (`--target` on the command line) is required for CSV files; available columns: 'a', 'b'"),
        ("label\n1\n2\n", {"target": "label"}, "CSV file {p} has no feature columns besides the target 'label'"),
        ("a,label\n1,x\n2,x\n3,x\n", {"target": "label"},
         "target has a single class ('x'); classification needs at least 2 classes"),
        ("a,label\n1,x\nnan,y\n", {"target": "label", "missing": "error"},
         "column 'a' has no value at line 3 of {p}; with missing='error' every value must be filled in "
         "(missing='impute' fills gaps from the training rows)"),
        ("a,label\n1,x\ninf,y\n", {"target": "label"},
         "column 'a' has inf at line 3 of {p}; every value must be a finite number"),
        ("a,label\n1,x\n2,\n", {"target": "label"},
         "target has no value at line 3 of {p}; every row needs one: fill it in or remove the row"),
        ("a,label\n1,x\n2,y\n", {"target": "label", "missing": "drop"},
         "`missing` must be 'impute' or 'error', got 'drop'"),
        ("a,label\n1,x\n2,y\n", {"target": "label", "max_categories": 1},
         "`max_categories` must be None or an integer >= 2, got 1"),
        ("a,label\n1,0.5\n2,oops\n", {"target": "label", "task": "regression"},
         "target column 'label' has 'oops' at line 3 of {p}; regression needs numbers"),
        ("a,label\n1,0.5\n2,x\n", {"target": "label", "task": "ordinal"},
         "`task` must be 'classification' or 'regression', got 'ordinal'"),
    ],
)
def test_csv_errors(tmp_path, text, kwargs, message):
    path = write_csv(tmp_path, text)
    with pytest.raises(ValueError) as error:
        from_csv(path, **kwargs)
    assert str(error.value) == message.format(p=path)


def test_npz_tables_signals_and_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, X=rng.normal(size=(50, 4)), y=np.arange(50) % 2)
    data = load(path, val=0.2, test=0.2)
    assert data.name == "d" and data.kind == "table" and data.feature_names == ("x0", "x1", "x2", "x3")
    np.savez(path, X=rng.integers(0, 256, size=(20, 5, 5), dtype=np.uint8), y=rng.normal(size=(20, 2)))
    images = from_npz(path, kind="image", val=0.2, test=0.2)
    assert images.kind == "image" and images.input_shape == (1, 5, 5)
    assert images.task == "regression" and images.out_features == 2 and images.train.y.shape == (12, 2)
    assert images.preprocessor.pixel_scale == 255.0


def test_npz_errors(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, features=np.zeros((2, 2)))
    with pytest.raises(ValueError) as error:
        from_npz(path)
    assert str(error.value) == f"NPZ file {path} must hold arrays 'X' and 'y'; found 'features'"
    np.savez(path, X=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError) as error:
        from_npz(path)
    assert str(error.value) == f"NPZ file {path} holds object arrays, which fitguard never unpickles"
    with pytest.raises(FileNotFoundError) as error:
        from_npz(tmp_path / "none.npz")
    assert str(error.value) == f"NPZ file {tmp_path / 'none.npz'} does not exist"


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "message"),
    [
        (np.zeros((3, 2)), np.zeros(2), {}, "`X` and `y` must have the same number of rows, got X: (3, 2) and y: (2,)"),
        (np.zeros((3, 2, 2, 2, 2)), np.zeros(3), {},
         "`X` must be 2-D (table), 3-D (signal) or 4-D (image), got shape (3, 2, 2, 2, 2)"),
        (np.zeros((3, 2)), np.zeros(3), {"kind": "video"},
         "`kind` must be one of 'table', 'signal', 'image', got 'video'"),
        (np.zeros((3, 2, 2)), np.zeros(3), {"kind": "table"}, "`X` of shape (3, 2, 2) cannot be a table"),
        (np.zeros((3, 2)), np.array([0, 1, 5]), {"class_names": ["a", "b"]},
         "with `class_names`, `y` must hold integer indices in [0, 2)"),
        (np.zeros((3, 2)), np.zeros(3), {"feature_names": ["a"]},
         "`feature_names` must name all 2 columns, got 1 names"),
        (np.array([[1.0], [np.inf], [2.0]]), np.zeros(3), {},
         "column 'x0' has inf at row 1; every value must be a finite number"),
        (np.zeros((3, 1, 2)), np.array([1.0, np.nan, 2.0]), {},
         "target has nan at row 1; every value must be a finite number"),
        (np.zeros((4, 2)), np.array([0, 0, 0, 1]), {},
         "a stratified split needs at least 2 samples of every class, but class '1' has 1; "
         "add samples or pass stratify=False"),
    ],
)
def test_from_arrays_errors(X, y, kwargs, message):
    with pytest.raises(ValueError) as error:
        from_arrays(X, y, **kwargs)
    assert str(error.value) == message


def test_from_arrays_with_class_names_keeps_names_as_raw_labels():
    data = from_arrays(np.arange(20.0)[:, None], np.arange(20) % 2, class_names=["even", "odd"], val=0, test=0.5)
    assert data.class_names == ("even", "odd") and data.val is None
    assert set(data.raw_test.labels.tolist()) == {"even", "odd"}
    assert torch.equal(data.preprocessor.encode_target(data.raw_test.labels), data.test.y)


def test_load_dispatch_errors(tmp_path):
    with pytest.raises(ValueError) as error:
        load("cifar100")
    assert str(error.value) == (
        f"unknown dataset 'cifar100'; built-in datasets: {', '.join(BUILTIN)} "
        "(or give a path to a .csv, .npz, image folder or .zip)"
    )
    with pytest.raises(FileNotFoundError) as error:
        load(tmp_path / "missing.csv")
    assert str(error.value) == f"{tmp_path / 'missing.csv'} does not exist"
    other = write_csv(tmp_path, "x", "notes.txt")
    with pytest.raises(ValueError) as error:
        load(other)
    assert str(error.value) == (f"cannot load {other}: expected a .csv, .parquet or .npz file, "
                                "an image folder or a .zip of one")
    with pytest.raises(ValueError) as error:
        load("digits", limit_per_class=3)
    assert str(error.value) == "unknown option 'limit_per_class' for built-in dataset 'digits'; allowed: none"
    with pytest.raises(ValueError) as error:
        load("synthetic_regression", samples=3)
    assert str(error.value) == (
        "unknown option 'samples' for built-in dataset 'synthetic_regression'; "
        "allowed: data_seed, n_features, n_samples, noise"
    )
    with pytest.raises(ValueError) as error:
        load("wine", target="class")
    assert str(error.value) == "`target` applies to CSV files only, got target='class' for built-in 'wine'"
