from __future__ import annotations

import numpy as np

from fitguard.data.standardize import apply_standardization, fit_standardization


def test_per_feature_matches_numpy_and_constant_features_keep_std_one():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4))
    X[:, 2] = 7.0
    mean, std = fit_standardization(X)
    np.testing.assert_allclose(mean, X.mean(axis=0))
    np.testing.assert_allclose(std, np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0))
    Z = apply_standardization(X, mean, std)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, [0, 1, 3]].mean(axis=0), 0.0, atol=1e-6)
    assert np.all(Z[:, 2] == 0.0)


def test_per_channel_for_images():
    X = np.random.default_rng(1).uniform(size=(10, 3, 4, 5))
    mean, std = fit_standardization(X, per_channel=True)
    assert mean.shape == (3, 1, 1)
    np.testing.assert_allclose(mean.ravel(), X.transpose(1, 0, 2, 3).reshape(3, -1).mean(axis=1))
    np.testing.assert_allclose(std.ravel(), X.transpose(1, 0, 2, 3).reshape(3, -1).std(axis=1))
