"""fitguard.search.scoring: what "score" means for every search.

Oracles: the trained model's outputs scored again by scikit-learn (accuracy, log loss, mean squared error);
the parameter count summed by hand; the gap's sign worked out per mode.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error

from fitguard.config import parse_config
from fitguard.data import from_arrays
from fitguard.search import Trial, fit_and_score, resolve_metric
from fitguard.search.scoring import gap_of
from fitguard.train import Callback

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
LABELS = (X[:, 0] + 0.3 * RNG.normal(size=60) > 0).astype(int)
TARGET = 2.0 * X[:, 1] - X[:, 2] + 0.1 * RNG.normal(size=60)


def _config(max_epochs: int = 3, **sections):
    return parse_config({
        "data": {"source": "unused"}, "model": {"name": "mlp", "hidden": [4]},
        "train": {"max_epochs": max_epochs, "batch_size": 16, "device": "cpu", "seed": 0, "lr": 0.01},
        "early_stopping": False, "tensorboard": False, **sections,
    })


class KeepModel(Callback):
    """Hands the trained model back to the test (fit_and_score returns only the score and history)."""

    def on_fit_end(self, trainer) -> None:
        self.model = trainer.model


def _outputs(model: torch.nn.Module, rows) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(rows.X).double().numpy()


@pytest.mark.parametrize(("metric", "task", "expected"), [
    ("auto", "classification", ("val_accuracy", "max")),
    ("auto", "regression", ("val_loss", "min")),
    ("val_loss", "classification", ("val_loss", "min")),
    ("val_accuracy", "classification", ("val_accuracy", "max")),
    ("val_mae", "regression", ("val_mae", "min")),
    ("val_rmse", "regression", ("val_rmse", "min")),
    ("val_r2", "regression", ("val_r2", "max")),
])
def test_resolve_metric(metric, task, expected):
    assert resolve_metric(metric, task) == expected


@pytest.mark.parametrize("metric", ["accuracy", "loss", "", None, 3])
def test_resolve_metric_refuses_anything_but_a_validation_metric(metric):
    with pytest.raises(ValueError) as caught:
        resolve_metric(metric, "classification")
    assert str(caught.value) == f"`metric` must be 'auto' or a validation metric such as 'val_loss', got {metric!r}"


@pytest.mark.parametrize(("train", "val", "mode", "gap"), [
    (0.2, 0.5, "min", 0.3),    # a loss: validation higher is worse, gap > 0
    (0.5, 0.2, "min", -0.3),
    (0.9, 0.7, "max", 0.2),    # an accuracy: validation lower is worse, gap > 0
    (0.7, 0.9, "max", -0.2),
    (0.4, 0.4, "min", 0.0),
])
def test_gap_is_positive_when_validation_is_worse(train, val, mode, gap):
    assert gap_of(train, val, mode) == pytest.approx(gap, abs=1e-12)


def test_a_trial_reads_its_metric_back_in_its_own_units_and_to_dict_drops_the_history():
    trial = Trial("t", "grid", {"model": {"name": "mlp"}}, -0.25, 0.05, 26, 3, 0.5,
                  details={"folds": [-0.2, -0.3], "train_value": 0.2}, metric="val_loss", mode="min")
    assert (trial.value, trial.fold_values, trial.fold_scores) == (0.25, (0.2, 0.3), (-0.2, -0.3))
    assert trial.std == pytest.approx(0.05)
    trial.history = object()
    record = trial.to_dict()
    assert "history" not in record and record["metric"] == "val_loss" and record["mode"] == "min"
    record["recipe"]["model"]["name"] = "cnn"
    assert trial.recipe["model"]["name"] == "mlp"  # a deep copy: the record does not alias the trial


def test_classification_scores_are_the_trained_models_accuracy_on_each_part():
    data = from_arrays(X, LABELS, seed=0)
    keep = KeepModel()
    started = time.perf_counter()
    score, _, history = fit_and_score(_config(), data, data.train, data.val, callbacks=[keep])
    elapsed = time.perf_counter() - started
    val_accuracy = accuracy_score(data.val.y.numpy(), _outputs(keep.model, data.val).argmax(1))
    train_accuracy = accuracy_score(data.train.y.numpy(), _outputs(keep.model, data.train).argmax(1))
    assert score.value == pytest.approx(val_accuracy, abs=1e-12)
    assert score.details["train_value"] == pytest.approx(train_accuracy, abs=1e-12)
    assert score.gap == pytest.approx(train_accuracy - val_accuracy, abs=1e-12)
    assert score.epochs == len(history) == 3
    assert score.parameters == 3 * 4 + 4 + 4 * 2 + 2  # Linear(3, 4) and Linear(4, 2), with biases
    assert 0 < score.seconds <= elapsed


def test_a_loss_metric_scores_the_validation_loss_and_its_gap_the_other_way():
    data = from_arrays(X, LABELS, seed=0)
    keep = KeepModel()
    score, _, _ = fit_and_score(_config(), data, data.train, data.val, metric="val_loss", callbacks=[keep])

    def cross_entropy(rows):
        logits = _outputs(keep.model, rows)
        probabilities = np.exp(logits - logits.max(1, keepdims=True))
        return log_loss(rows.y.numpy(), probabilities / probabilities.sum(1, keepdims=True), labels=[0, 1])

    assert score.value == pytest.approx(cross_entropy(data.val), abs=1e-5)
    assert score.details["train_value"] == pytest.approx(cross_entropy(data.train), abs=1e-5)
    assert score.gap == pytest.approx(score.value - score.details["train_value"], abs=1e-12)


def test_regression_auto_scores_the_mean_squared_error_in_standardized_units():
    data = from_arrays(X, TARGET, seed=0)
    keep = KeepModel()
    score, _, _ = fit_and_score(_config(), data, data.train, data.val, callbacks=[keep])
    expected = mean_squared_error(data.val.y.numpy().reshape(-1), _outputs(keep.model, data.val).reshape(-1))
    assert score.value == pytest.approx(expected, rel=1e-5)


def test_early_stopping_counts_the_epochs_it_ran():
    data = from_arrays(X, LABELS, seed=0)
    config = _config(max_epochs=30, early_stopping={"monitor": "val_loss", "patience": 0, "min_delta": 10.0})
    score, _, history = fit_and_score(config, data, data.train, data.val)
    # no epoch improves by more than 10.0 on the first, so patience 0 stops after epoch 2
    assert score.epochs == len(history) == 2


def test_a_metric_the_task_does_not_measure_is_refused_by_name():
    data = from_arrays(X, TARGET, seed=0)
    with pytest.raises(ValueError) as caught:
        fit_and_score(_config(max_epochs=1), data, data.train, data.val, metric="val_accuracy")
    assert str(caught.value) == ("cannot score 'val_accuracy': it is not measured on this regression data; "
                                 "measured: val_loss, val_mae, val_rmse, val_r2")


def test_a_bad_metric_is_refused_before_training():
    data = from_arrays(X, LABELS, seed=0)
    keep = KeepModel()
    with pytest.raises(ValueError, match=r"^`metric` must be 'auto' or a validation metric such as 'val_loss', "
                                         r"got 'accuracy'$"):
        fit_and_score(_config(), data, data.train, data.val, metric="accuracy", callbacks=[keep])
    assert not hasattr(keep, "model")


def test_a_diverged_run_scores_nan_after_the_epoch_it_diverged():
    # lr 1e8 with plain SGD: the loss is inf within the first epoch and the trainer stops there
    data = from_arrays(X, TARGET, seed=0)
    config = _config(train={"max_epochs": 5, "batch_size": 16, "device": "cpu", "seed": 0,
                            "lr": 1e8, "optimizer": "sgd"})
    score, _, history = fit_and_score(config, data, data.train, data.val)
    assert history.stop_reason == "diverged: training loss is inf at epoch 1"
    assert score.epochs == 1
    assert math.isnan(score.value) and math.isnan(score.details["train_value"]) and math.isnan(score.gap)
