"""Bias–variance on a Dataset whose target the data layer standardized: the known truth (f and σ²) is mapped into
the units the models learn, so the measured noise agrees with σ² there."""

import pytest
from sklearn.neighbors import KNeighborsRegressor

from fitguard.data import load
from fitguard.diagnose import bias_variance


def test_known_truth_is_mapped_into_the_standardized_units():
    data = load("synthetic_regression", n_samples=2000, n_features=1, noise=0.3, data_seed=0, val=0, test=0.5, seed=0)
    std = data.preprocessor.target_std[0]
    assert std > 0.5  # sin(2πx) has spread ~0.7: the target really was rescaled
    bv = bias_variance(KNeighborsRegressor(n_neighbors=15), data, rounds=3, loss="mse", seed=0)
    assert bv.noise == pytest.approx(0.3**2 / std**2, rel=1e-12)
    # (y - f)² measured on 1,000 test rows, both in training units: σ²/std² up to sampling (relative SE ~4.5%)
    assert bv.decomposition.noise == pytest.approx(bv.noise, rel=0.15)
    assert bv.expected_loss == pytest.approx(bv.bias2 + bv.variance + bv.decomposition.noise, rel=0.1)
