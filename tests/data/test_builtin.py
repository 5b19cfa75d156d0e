from __future__ import annotations

import gzip
import importlib.metadata
import random
from pathlib import Path

import mnist1d.data
import numpy as np
import pytest
import torch

from fitguard.data import builtin, load
from fitguard.data.fashion_mnist import CLASS_NAMES, DEFAULT_FOLDER, read_idx


def test_digits_is_the_image_default():
    data = load("digits")
    assert (data.kind, data.task, data.input_shape, data.num_classes) == ("image", "classification", (1, 8, 8), 10)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert data.raw_train.inputs.max() == 16 and data.preprocessor.pixel_scale == 16.0
    pixels = data.raw_train.inputs / 16.0
    np.testing.assert_allclose(data.train.X.numpy(), (pixels - pixels.mean()) / pixels.std(), atol=1e-5)


@pytest.mark.parametrize(
    ("name", "task", "features", "rows", "classes"),
    [("breast_cancer", "classification", 30, 569, 2), ("wine", "classification", 13, 178, 3),
     ("diabetes", "regression", 10, 442, None)],
)
def test_sklearn_tables(name, task, features, rows, classes):
    data = load(name, val=0.2, test=0.2)
    assert (data.kind, data.task, data.in_features, data.num_classes) == ("table", task, features, classes)
    assert len(data.train) + len(data.val) + len(data.test) == rows
    assert len(data.feature_names) == features


def test_diabetes_raw_rows_are_unscaled():
    data = load("diabetes")
    assert data.feature_names[0] == "age"
    assert data.raw_train.inputs[:, 0].max() > 50  # ages in years, not scikit-learn's scaled version


def test_mnist1d_keeps_its_test_split():
    data = load("mnist1d", val=0.25)
    assert data.kind == "signal" and data.input_shape == (1, 40) and data.class_names == tuple("0123456789")
    assert (len(data.train), len(data.val), len(data.test)) == (3000, 1000, 1000)


def test_mnist1d_generation_leaves_the_global_generators_alone(monkeypatch, tmp_path):
    def fake_make_dataset(args):  # seeds the globals as mnist1d's make_dataset does, but returns at once
        random.seed(args.seed)
        np.random.seed(args.seed)
        return {"x": np.zeros((4, 40)), "y": np.arange(4), "x_test": np.zeros((1, 40)), "y_test": np.arange(1)}

    monkeypatch.setattr(mnist1d.data, "make_dataset", fake_make_dataset)
    monkeypatch.setattr(builtin, "cache_root", lambda: tmp_path)  # an empty cache: the loader generates
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    source = builtin.mnist1d()
    assert source.pool.inputs.shape == (4, 1, 40) and source.test.inputs.shape == (1, 1, 40)
    assert (random.random(), np.random.rand()) == expected
    assert [p.name for p in tmp_path.iterdir()] == [f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"]


def test_synthetic_regression_exposes_its_truth():
    data = load("synthetic_regression", n_samples=2000, n_features=2, noise=0.5, data_seed=1, val=0, test=0.5)
    truth = data.truth
    assert truth.noise_sigma == 0.5
    X = data.raw_test.inputs
    residual = data.raw_test.labels - truth.function(X)
    assert abs(residual.std() - 0.5) < 0.03 and abs(residual.mean()) < 0.05
    np.testing.assert_allclose(truth.function(np.array([[0.25, 1.0]])), [1.5])
    X1, y1 = truth.sample(10, 3)
    _, y2 = truth.sample(10, 3)
    assert X1.shape == (10, 2) and np.array_equal(y1, y2)
    with pytest.raises(ValueError) as error:
        load("synthetic_regression", noise=-1)
    assert str(error.value) == "`noise` must be a number >= 0, got -1"


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def idx_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_fashion_mnist_from_a_folder_with_official_test_split_and_limit(idx_folder):
    data = load("fashion_mnist", path=idx_folder, limit_per_class=3, val=0.0)
    assert data.class_names == CLASS_NAMES and data.input_shape == (1, 28, 28)
    assert len(data.train) == 30 and len(data.test) == 20 and data.val is None
    assert torch.bincount(data.train.y).tolist() == [3] * 10
    images = read_idx(idx_folder / "train-images-idx3-ubyte.gz")
    expected = np.concatenate([images[np.flatnonzero(np.arange(40) % 10 == c)[:3]] for c in range(10)])
    assert np.array_equal(np.sort(data.raw_train.inputs.reshape(30, -1), axis=0),
                          np.sort(expected.reshape(30, -1), axis=0))


def test_fashion_mnist_missing_and_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load("fashion_mnist", path=tmp_path)
    assert str(error.value) == (
        f"Fashion-MNIST not found in {tmp_path}: install it with `apt-get install dataset-fashion-mnist` or pass "
        "path= a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
        "and t10k-labels-idx1-ubyte.gz"
    )
    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x0d\x01"))
    with pytest.raises(ValueError) as error:
        read_idx(bad)
    assert str(error.value) == f"{bad} is not an IDX file of unsigned bytes"


@pytest.mark.skipif(not DEFAULT_FOLDER.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist_first_images_per_class():
    data = load("fashion_mnist", limit_per_class=10, test_limit_per_class=5, val=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 50)
    assert torch.bincount(data.test.y).tolist() == [5] * 10
