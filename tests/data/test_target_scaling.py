"""A regression target standardized on the training rows: statistics against scikit-learn's StandardScaler, saved
with the model (format 3; format 1 and 2 files still read), refit per fold and subsample, and predictions back in the
target's own units."""

import json

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

import fitguard
from fitguard.data import Preprocessor, from_arrays, kfold, load
from fitguard.data.encoding import Column
from fitguard.errors import FitguardError
from fitguard.models import build
from fitguard.runs import save_model
from fitguard.train import Trainer


def test_statistics_and_encoding_equal_a_standard_scaler_fitted_on_the_training_rows():
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    scaler = StandardScaler().fit(np.asarray(data.raw_train.labels, dtype=np.float64).reshape(-1, 1))
    pre = data.preprocessor
    assert pre.target_mean == pytest.approx(tuple(scaler.mean_), rel=1e-12)
    assert pre.target_std == pytest.approx(tuple(scaler.scale_), rel=1e-12)
    for raw, tensor in ((data.raw_train, data.train), (data.raw_val, data.val), (data.raw_test, data.test)):
        expected = scaler.transform(np.asarray(raw.labels, dtype=np.float64).reshape(-1, 1)).ravel()
        assert tensor.y.dtype == torch.float32
        np.testing.assert_allclose(tensor.y.numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pre.decode_target(tensor.y), raw.labels, rtol=1e-5)
    # fitted on the training rows only: every row's statistics differ
    assert pre.target_mean[0] != pytest.approx(float(np.mean(load("diabetes", val=0, test=0).raw_train.labels)))


def test_several_target_columns_are_scaled_one_by_one():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.stack([rng.normal(100, 20, 60), rng.normal(-3, 0.5, 60)], axis=1)
    data = from_arrays(X, y, task="regression", val=0.25, test=0.25, seed=1)
    scaler = StandardScaler().fit(np.asarray(data.raw_train.labels, dtype=np.float64))
    np.testing.assert_allclose(data.test.y.numpy(), scaler.transform(data.raw_test.labels), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.preprocessor.decode_target(data.test.y), data.raw_test.labels, rtol=1e-5)


def test_no_scaling_without_standardize_or_for_classes():
    raw = load("diabetes", standardize=False, seed=0)
    assert raw.preprocessor.target_mean == () and raw.preprocessor.target_std == ()
    np.testing.assert_array_equal(raw.test.y.numpy(), np.asarray(raw.raw_test.labels, dtype=np.float32))
    assert load("wine").preprocessor.target_mean == ()


def test_saved_and_read_back_as_json_with_the_same_scale():
    data = load("diabetes", seed=0)
    written = json.dumps(data.preprocessor.to_dict())
    again = Preprocessor.from_dict(json.loads(written))
    assert json.loads(written)["format_version"] == 4
    assert again == data.preprocessor
    np.testing.assert_array_equal(again.encode_target(data.raw_test.labels).numpy(), data.test.y.numpy())


@pytest.mark.parametrize("version", [1, 2])
def test_older_files_still_load_and_leave_targets_as_they_are(version):
    # what fitguard wrote before targets were standardized (format 2 added fills): its model learned raw targets
    old = {"format_version": version, "kind": "table", "task": "regression", "raw_shape": [1],
           "columns": [{"name": "x", "categorical": False, "categories": []}], "class_names": [], "target": "y",
           "pixel_scale": 1.0, "image_size": None, "standardize": True, "mean": [2.0], "std": [4.0]}
    if version == 2:
        old.update(missing="impute", max_categories=20)
    pre = Preprocessor.from_dict(old)
    assert pre.target_mean == () and pre.transform(np.array([[6.0]])).tolist() == [[1.0]]
    assert pre.encode_target([150.0]).tolist() == [150.0]
    assert pre.decode_target(np.array([150.0])).tolist() == [150.0]
    assert pre.to_dict()["format_version"] == 4 and Preprocessor.from_dict(pre.to_dict()) == pre


def test_a_target_of_another_width_is_one_clear_line():
    pre = Preprocessor.fit(np.zeros((4, 1)), kind="table", task="regression", columns=(Column("x"),),
                           targets=np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(FitguardError) as error:
        pre.encode_target(np.ones((3, 2)))
    assert str(error.value) == ("regression targets of shape (N, 2) do not fit the 1 target column(s) "
                                "the model was fitted on")


def test_each_fold_and_subsample_refits_the_scale_on_its_own_training_rows():
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    for train, val in kfold(data, k=3, seed=0):
        # standardized with its own training rows: mean 0 and population std 1 exactly there
        assert float(train.y.double().mean()) == pytest.approx(0.0, abs=1e-6)
        assert float(train.y.double().std(unbiased=False)) == pytest.approx(1.0, rel=1e-6)
        assert abs(float(val.y.double().mean())) > 1e-4
    half = data.with_train_fraction(0.5, seed=0)
    scaler = StandardScaler().fit(np.asarray(half.raw_train.labels, dtype=np.float64).reshape(-1, 1))
    assert half.preprocessor.target_mean == pytest.approx(tuple(scaler.mean_), rel=1e-12)
    np.testing.assert_allclose(half.preprocessor.decode_target(half.test.y), half.raw_test.labels, rtol=1e-5)


def test_a_saved_model_predicts_in_the_targets_own_units(tmp_path):
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    torch.manual_seed(0)
    model = build("mlp", data.input_shape, data.out_features, hidden=[32])
    trainer = Trainer(model, loss="mse", lr=3e-3, max_epochs=40, device="cpu")
    trainer.fit(data.train)
    save_model(tmp_path, model, "mlp", {"hidden": [32]}, data)
    predictions = fitguard.load(tmp_path).predict(data.raw_test.inputs)
    standardized = trainer.predict(data.test.X)[:, 0].double().numpy()
    np.testing.assert_allclose(predictions, standardized * data.preprocessor.target_std[0]
                               + data.preprocessor.target_mean[0], rtol=1e-5)
    raw = np.asarray(data.raw_test.labels, dtype=np.float64)
    # the network learned: its error in the target's units is well below the targets' own spread
    assert np.sqrt(np.mean((predictions - raw) ** 2)) < 0.9 * raw.std()
