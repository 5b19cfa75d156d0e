"""Class weights against scikit-learn's compute_class_weight, the Trainer's weighted loss against a hand-written
PyTorch loop, and the weights reaching the Trainer from a spec and the command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, TensorDataset

from fitguard.config import parse_config
from fitguard.data.tensors import TensorData
from fitguard.errors import FitguardError
from fitguard.recipe import build_run
from fitguard.regularize import balanced_class_weights, class_counts
from fitguard.regularize.class_weights import check_class_weight, resolve_class_weight
from fitguard.train import Trainer


@pytest.mark.parametrize("labels", [
    [0, 0, 0, 1],
    [0] * 50 + [1] * 10 + [2] * 5,
    [2, 1, 0, 1, 2, 2, 2, 2, 0, 3],
    list(np.random.default_rng(0).choice(7, size=1000, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.04, 0.01])),
])
def test_balanced_weights_equal_scikit_learns(labels):
    labels = np.asarray(labels)
    classes = int(labels.max()) + 1
    expected = compute_class_weight("balanced", classes=np.arange(classes), y=labels)
    weights = balanced_class_weights(torch.as_tensor(labels), classes)
    assert weights.dtype == torch.float32
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
    # every class then weighs the same in total: count * weight = n / classes
    np.testing.assert_allclose(class_counts(labels, classes) * weights.numpy(), len(labels) / classes, rtol=1e-6)


def test_a_class_without_training_rows_weighs_as_if_it_had_one():
    # scikit-learn refuses such a class; a fold can lack a class of two rows, so it gets the largest weight
    weights = balanced_class_weights([0, 0, 0, 1], num_classes=3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 4 / 3])


@pytest.mark.parametrize(("value", "message"), [
    ("balancd", "`class_weight` must be None, 'balanced' or one weight per class, got 'balancd'"),
    (2.0, "`class_weight` must be None, 'balanced' or one weight per class, got 2.0"),
    ([], "`class_weight` must hold one weight per class, got an empty list"),
    ([1.0, 0.0], "`class_weight`[1] = 0.0, must be a finite number > 0"),
    ([1.0, float("nan")], "`class_weight`[1] = nan, must be a finite number > 0"),
    ([1.0, "2"], "`class_weight`[1] = '2', must be a finite number > 0"),
])
def test_bad_class_weight_is_one_clear_line(value, message):
    with pytest.raises(ValueError) as error:
        check_class_weight(value)
    assert str(error.value) == message


@pytest.mark.parametrize(("labels", "classes", "message"), [
    ([0, 3], 3, "class index 3 is outside [0, 3) (the model's 3 classes)"),
    ([[0, 1]], 2, "class weights need 1-D integer class indices, got int64 of shape (1, 2)"),
    ([0.5, 1.0], 2, "class weights need 1-D integer class indices, got float64 of shape (2,)"),
    ([], 2, "class weights need at least one training row, got 0"),
])
def test_bad_labels(labels, classes, message):
    with pytest.raises(ValueError) as error:
        balanced_class_weights(np.asarray(labels, dtype=None if labels else np.int64), classes)
    assert str(error.value) == message


def test_explicit_weights_need_one_per_class():
    assert resolve_class_weight(np.array([1, 3]), None, 2).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError) as error:
        resolve_class_weight([1.0, 2.0], None, 3)
    assert str(error.value) == "`class_weight` has 2 weights but the model has 3 classes; give one weight per class"


def skewed(seed: int = 0, rows: int = 400) -> TensorData:
    """Two overlapping Gaussian classes, 9 to 1."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(np.int64)
    X = rng.normal(size=(rows, 2)) + np.where(y[:, None] == 1, 1.5, 0.0)
    return TensorData(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_trainers_weighted_loss_equals_a_hand_written_loop(smoothing):
    data = skewed()
    expected_weights = compute_class_weight("balanced", classes=np.arange(2), y=data.y.numpy())
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    hand = torch.nn.Linear(2, 2)
    hand.load_state_dict(model.state_dict())
    trainer = Trainer(model, optimizer="sgd", lr=0.1, momentum=0.0, batch_size=len(data), max_epochs=5,
                      class_weight="balanced", label_smoothing=smoothing, device="cpu")
    history = trainer.fit(data, data)
    np.testing.assert_allclose(trainer.class_weight_.numpy(), expected_weights, rtol=1e-6)
    weight = torch.as_tensor(expected_weights, dtype=torch.float32)
    optimizer = torch.optim.SGD(hand.parameters(), lr=0.1, momentum=0.0)
    for epoch in history.epochs:  # one full-batch step per epoch: the logged loss is the weighted one it took
        loss = F.cross_entropy(hand(data.X), data.y, weight=weight, label_smoothing=smoothing)
        assert epoch["loss"] == pytest.approx(loss.item(), rel=1e-5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for mine, theirs in zip(model.parameters(), hand.parameters()):
        torch.testing.assert_close(mine, theirs)
    # validation stays unweighted, as Keras' class_weight: comparable with an unweighted run's (and unsmoothed)
    with torch.no_grad():
        assert history.epochs[-1]["val_loss"] == pytest.approx(F.cross_entropy(model(data.X), data.y).item(), rel=1e-5)


def test_a_dataloader_gives_the_same_weights_as_tensordata():
    data = skewed(rows=100)
    loader = DataLoader(TensorDataset(data.X, data.y), batch_size=16)
    trainer = Trainer(torch.nn.Linear(2, 2), max_epochs=1, class_weight="balanced", device="cpu")
    trainer.fit(loader)
    np.testing.assert_allclose(trainer.class_weight_.numpy(),
                               compute_class_weight("balanced", classes=np.arange(2), y=data.y.numpy()), rtol=1e-6)


def test_weights_raise_the_rare_class_recall_as_scikit_learns_do():
    train, test = skewed(seed=1, rows=2000), skewed(seed=2, rows=4000)
    recalls = {}
    for class_weight in (None, "balanced"):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 2)
        Trainer(model, lr=0.05, batch_size=200, max_epochs=60, class_weight=class_weight, device="cpu").fit(train)
        with torch.no_grad():
            predicted = model(test.X).argmax(1)
        recalls[class_weight] = float((predicted[test.y == 1] == 1).float().mean())
        sklearn = LogisticRegression(class_weight=class_weight).fit(train.X.numpy(), train.y.numpy())
        theirs = float((sklearn.predict(test.X.numpy())[test.y.numpy() == 1] == 1).mean())
        assert recalls[class_weight] == pytest.approx(theirs, abs=0.05)
    assert recalls["balanced"] > recalls[None] + 0.3


def test_class_weight_needs_cross_entropy():
    with pytest.raises(ValueError) as error:
        Trainer(torch.nn.Linear(2, 1), loss="mse", class_weight="balanced")
    assert str(error.value) == "`class_weight` applies to loss='cross_entropy' only, got loss='mse'"


def test_a_spec_reaches_the_trainer_and_fits_on_the_training_split():
    config = parse_config({"data": {"source": "wine", "seed": 0}, "model": {"name": "mlp", "hidden": [8]},
                           "train": {"max_epochs": 1, "device": "cpu"}, "remedies": {"class_weight": "balanced"}})
    run = build_run(config)
    run.trainer.fit(run.data.train, run.data.val)
    labels = run.data.train.y.numpy()
    np.testing.assert_allclose(run.trainer.class_weight_.numpy(),
                               compute_class_weight("balanced", classes=np.arange(3), y=labels), rtol=1e-6)


def test_a_bad_spec_value_is_one_line():
    with pytest.raises(FitguardError) as error:
        parse_config({"remedies": {"class_weight": [1, -1]}}, "spec.yaml")
    assert str(error.value) == "spec.yaml: remedies.class_weight: `class_weight`[1] = -1.0, must be a finite number > 0"


def test_class_weights_on_a_regression_target_are_refused_on_the_command_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {source: diabetes}\ntrain: {max_epochs: 1}\nremedies: {class_weight: balanced}\n")
    result = subprocess.run([sys.executable, "-m", "fitguard.cli", "train", str(spec), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert (result.returncode, result.stderr.strip()) == (
        2, "error: `class_weight` applies to loss='cross_entropy' only, got loss='mse'")
    assert not (tmp_path / "run").exists()


def test_a_trained_run_records_the_weights_it_was_given(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {source: wine}\nmodel: {name: mlp, hidden: [8]}\ntrain: {max_epochs: 2, device: cpu}\n"
                    "remedies: {class_weight: [1.0, 2.0, 3.0]}\n")
    result = subprocess.run([sys.executable, "-m", "fitguard.cli", "train", str(spec), "--quiet",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "run" / "run.json").read_text())
    assert written["config"]["remedies"]["class_weight"] == [1.0, 2.0, 3.0]
