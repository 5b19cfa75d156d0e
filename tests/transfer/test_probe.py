"""The linear probe against scikit-learn's ridge on the same frozen features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from torch import nn

from fitguard.data import from_arrays
from fitguard.transfer.backbones import extract_features
from fitguard.transfer.probe import linear_probe

LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def test_probe_matches_sklearn_ridge_with_leave_one_out_lambda_on_the_frozen_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=150) > 0).astype(int) + (X[:, 2] > 1)
    data = from_arrays(X, y, val=0.2, test=0.2, seed=0)
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3))
    result = linear_probe(backbone, data, lambdas=LAMBDAS)

    train = extract_features(backbone, data.train.X).double().numpy()
    mean, std = train.mean(axis=0), train.std(axis=0, ddof=1)
    oracle = RidgeCV(alphas=LAMBDAS).fit((train - mean) / std, np.eye(3)[data.train.y.numpy()])
    assert result.best_lambda == pytest.approx(oracle.alpha_)
    for name, part in (("train", data.train), ("val", data.val), ("test", data.test)):
        features = (extract_features(backbone, part.X).double().numpy() - mean) / std
        expected = float((oracle.predict(features).argmax(axis=1) == part.y.numpy()).mean())
        assert result.accuracy[name] == pytest.approx(expected), name
    assert result.accuracy["test"] > 0.5
    assert backbone[0].weight.requires_grad  # probing never touches the backbone's own state


def test_probe_rejects_regression_data():
    data = from_arrays(np.random.default_rng(0).normal(size=(20, 2)), np.linspace(0, 1, 20))
    with pytest.raises(ValueError) as error:
        linear_probe(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), data)
    assert str(error.value) == "linear_probe needs a classification dataset, got task 'regression'"
