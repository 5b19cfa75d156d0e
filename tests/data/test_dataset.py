from __future__ import annotations

import numpy as np
import pytest
import torch

from fitguard.data import Dataset, load


def test_properties_and_repr():
    data = load("digits", val=0.2, test=0.2, seed=0)
    assert isinstance(data, Dataset)
    assert (data.in_features, data.out_features, data.num_classes) == (64, 10, 10)
    assert data.feature_names is None and data.class_names[:2] == ("0", "1")
    assert repr(data) == (
        "Dataset('digits', classification, image, input_shape=(1, 8, 8), train=1079, val=359, test=359)"
    )


def test_splits_are_stratified_and_deterministic():
    a, b = load("wine", seed=7), load("wine", seed=7)
    assert torch.equal(a.train.X, b.train.X) and torch.equal(a.test.y, b.test.y)
    full = np.bincount(np.concatenate([a.train.y, a.val.y, a.test.y])) / 178
    np.testing.assert_allclose(np.bincount(a.test.y.numpy()) / len(a.test), full, atol=0.03)
    assert not torch.equal(load("wine", seed=8).test.y, a.test.y)


def test_standardization_uses_training_statistics_only():
    data = load("breast_cancer", seed=0)
    raw = data.raw_train.inputs
    np.testing.assert_allclose(data.preprocessor.mean, raw.mean(axis=0))
    np.testing.assert_allclose(data.preprocessor.std, raw.std(axis=0))
    expected_test = (data.raw_test.inputs - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(data.test.X.numpy(), expected_test, rtol=1e-5, atol=1e-5)


def test_standardize_false_keeps_raw_values_scaled_to_unit_pixels():
    data = load("digits", standardize=False)
    np.testing.assert_allclose(data.train.X.numpy(), data.raw_train.inputs / 16.0)
    assert data.preprocessor.mean == ()


def test_with_train_fraction_keeps_a_stratified_part_and_refits():
    data = load("digits", seed=0)
    small = data.with_train_fraction(0.1, seed=0)
    assert len(small.train) == 108
    assert torch.bincount(small.train.y, minlength=10).min() >= 9
    assert len(small.val) == len(data.val) and torch.equal(small.val.y, data.val.y)
    pixels = small.raw_train.inputs / 16.0
    assert small.preprocessor.mean == pytest.approx((pixels.mean(),))
    assert torch.equal(small.preprocessor.transform(small.raw_test.inputs), small.test.X)
    assert data.with_train_fraction(1.0).train.X.shape == data.train.X.shape


def test_seed_is_validated():
    with pytest.raises(ValueError) as error:
        load("wine", seed=1.5)
    assert str(error.value) == "`seed` must be an integer, got 1.5"
