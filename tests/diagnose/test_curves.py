"""Epoch curves from a History and learning curves over training-set size."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fitguard.data.tensors import TensorData
from fitguard.diagnose.curves import epoch_curves, learning_curve, trainer_fit_fn
from fitguard.train.history import History


def test_epoch_curves_gap_best_epoch_and_metric() -> None:
    h = History([
        {"epoch": 1, "loss": 1.0, "val_loss": 1.5, "accuracy": 0.5, "val_accuracy": 0.4},
        {"epoch": 2, "loss": 0.5, "val_loss": 1.2, "accuracy": 0.8, "val_accuracy": 0.6},
        {"epoch": 3, "loss": 0.2, "val_loss": math.nan, "accuracy": 0.9, "val_accuracy": 0.6},
        {"epoch": 4, "loss": 0.1, "val_loss": 1.3, "accuracy": 1.0, "val_accuracy": 0.6},
    ])
    c = epoch_curves(h)
    assert c.gap[:2] == [0.5, pytest.approx(0.7)] and math.isnan(c.gap[2])
    assert (c.best_epoch, c.best_val_loss, c.metric) == (2, 1.2, "accuracy")
    assert c.val_metric == [0.4, 0.6, 0.6, 0.6]


def test_epoch_curves_messages() -> None:
    with pytest.raises(ValueError) as error:
        epoch_curves(History([{"epoch": 1, "loss": 1.0}]))
    assert str(error.value) == "`history` must log 'val_loss' every epoch to draw curves; it has: epoch, loss"
    with pytest.raises(ValueError) as error:
        epoch_curves(History([{"epoch": 1, "loss": 1.0, "val_loss": 1.0}]), metric="r2")
    assert str(error.value) == "`metric` 'r2' needs 'r2' and 'val_r2' in the history; it has: epoch, loss, val_loss"


def _toy() -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 3, generator=g)
    return SimpleNamespace(train=TensorData(X[:80], X[:80, 0]), val=TensorData(X[80:], X[80:, 0]))


def test_learning_curve_calls_fit_fn_per_fraction_and_seed() -> None:
    calls = []

    def fit(train: TensorData, val: TensorData, seed: int) -> tuple[float, float]:
        calls.append((len(train), len(val), seed))
        return float(len(train)), 1.0 / len(train)

    curve = learning_curve(fit, _toy(), fractions=[0.25, 1.0], seeds=[3, 4])
    assert calls == [(20, 20, 3), (20, 20, 4), (80, 20, 3), (80, 20, 4)]
    assert curve.sizes == [20, 80]
    assert curve.train_mean == [20.0, 80.0]


def test_learning_curve_over_folds() -> None:
    sizes = []
    curve = learning_curve(lambda tr, va, s: (sizes.append((len(tr), len(va))) or 0.0, 0.0), _toy(),
                           fractions=[0.5], seeds=[0], folds=4)
    assert sizes == [(38, 25)] * 4  # 100 rows pooled: 75 train + 25 val per fold, half of the 75 kept
    assert len(curve.val_scores[0]) == 4


def test_learning_curve_with_the_trainer_shows_validation_error_falling_with_data() -> None:
    fit = trainer_fit_fn(lambda: nn.Linear(3, 1), loss="mse", max_epochs=30, lr=0.05, batch_size=16, device="cpu")
    data = _toy()
    noise = 0.1 * torch.randn(80, generator=torch.Generator().manual_seed(1))
    data.train = TensorData(data.train.X, data.train.X[:, 0] + noise)
    curve = learning_curve(fit, data, fractions=[0.05, 1.0], seeds=[0, 1], folds=None)
    assert curve.val_mean[1] < curve.val_mean[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": [0.5, 1.5]}, "`fractions[1]` = 1.5, must be in (0, 1]"),
        ({"seeds": []}, "`fractions` and `seeds` must not be empty, got [0.1, 0.25, 0.5, 1.0] and []"),
        ({"folds": 1}, "`folds` must be None or an integer >= 2, got 1"),
    ],
)
def test_learning_curve_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        learning_curve(lambda tr, va, s: (0.0, 0.0), _toy(), **kwargs)
    assert str(error.value) == message
