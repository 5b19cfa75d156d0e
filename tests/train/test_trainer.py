import copy
import math

import pytest
import torch
import torch.nn.functional as F

from fitguard.data.tensors import TensorData
from fitguard.train import Callback, EarlyStopping, Trainer


def _data(n=200, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=g)
    y = (X[:, :classes].argmax(dim=1)).long()
    return TensorData(X, y)


def _model(seed=0, features=8, classes=3):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(features, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(32, classes)
    )


def _hand_written_loop(model, train, val, epochs, batch_size, lr, seed, repeat=1, label_smoothing=0.0):
    """The independent oracle: a plain PyTorch loop with the same seed discipline the Trainer documents (label
    smoothing in the training loss only, as timm's ``train_loss_fn`` and ``validate_loss_fn``)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, val_losses = [], []
    for _ in range(epochs):
        model.train()
        total = 0.0
        order = torch.cat([torch.randperm(len(train), generator=generator) for _ in range(repeat)])
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            x, y = train.X[index], train.y[index]
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(order))
        model.eval()
        with torch.no_grad():
            val_losses.append(F.cross_entropy(model(val.X), val.y).item())
    return losses, val_losses


def test_loss_sequence_equals_hand_written_loop():
    train, val = _data(seed=0), _data(seed=1)
    model = _model()
    oracle_model = copy.deepcopy(model)
    history = Trainer(model, lr=3e-3, batch_size=16, max_epochs=6, device="cpu", seed=5).fit(train, val)
    losses, val_losses = _hand_written_loop(oracle_model, train, val, 6, 16, 3e-3, seed=5)
    assert history["loss"] == losses  # exactly: same batches, same arithmetic, same order
    assert history["val_loss"] == pytest.approx(val_losses, rel=1e-6, abs=1e-7)
    for a, b in zip(model.state_dict().values(), oracle_model.state_dict().values()):
        assert torch.equal(a, b)


def test_label_smoothing_smooths_the_training_loss_and_validation_scores_the_plain_one():
    train, val = _data(seed=0), _data(seed=1)
    model = _model()
    oracle_model = copy.deepcopy(model)
    trainer = Trainer(model, lr=3e-3, batch_size=16, max_epochs=3, device="cpu", seed=5, label_smoothing=0.2)
    history = trainer.fit(train, val)
    losses, val_losses = _hand_written_loop(oracle_model, train, val, 3, 16, 3e-3, seed=5, label_smoothing=0.2)
    plain, _ = _hand_written_loop(copy.deepcopy(_model()), train, val, 3, 16, 3e-3, seed=5)
    assert history["loss"] == pytest.approx(losses, rel=1e-12)
    assert history["loss"][0] != pytest.approx(plain[0], rel=1e-3)  # the smoothing is in the training loss
    assert history["val_loss"] == pytest.approx(val_losses, rel=1e-6, abs=1e-7)
    model.eval()
    with torch.no_grad():
        expected = F.cross_entropy(model(val.X), val.y).item()
        smoothed = F.cross_entropy(model(val.X), val.y, label_smoothing=0.2).item()
    assert trainer.evaluate(val)["loss"] == pytest.approx(expected, rel=1e-6)
    assert smoothed > expected + 0.02  # so the line above tells the two apart


def test_repeat_passes_over_the_rows_within_one_epoch_like_the_hand_written_loop():
    train, val = _data(seed=0), _data(seed=1)
    model = _model()
    oracle_model = copy.deepcopy(model)
    trainer = Trainer(model, lr=3e-3, batch_size=16, max_epochs=2, repeat=3, device="cpu", seed=5)
    history = trainer.fit(train, val)
    losses, _ = _hand_written_loop(oracle_model, train, val, 2, 16, 3e-3, seed=5, repeat=3)
    assert history["loss"] == pytest.approx(losses, rel=1e-12)
    assert trainer.step == 2 * math.ceil(3 * len(train) / 16)
    for a, b in zip(model.state_dict().values(), oracle_model.state_dict().values()):
        assert torch.equal(a, b)


def test_same_seed_gives_bit_identical_weights_and_other_seed_does_not():
    train = _data()
    runs = []
    for seed in (3, 3, 4):
        model = _model()
        Trainer(model, max_epochs=3, device="cpu", seed=seed).fit(train)
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_history_keys_and_accuracy_against_direct_computation():
    train, val = _data(), _data(seed=1)
    model = _model()
    trainer = Trainer(model, max_epochs=2, device="cpu")
    history = trainer.fit(train, val)
    assert history.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    model.eval()
    with torch.no_grad():
        expected = (model(val.X).argmax(1) == val.y).float().mean().item()
    assert history["val_accuracy"][-1] == pytest.approx(expected)
    assert trainer.evaluate(val)["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_scores_of_predicted_outputs_equal_evaluate_without_a_second_forward(smoothing):
    train, val = _data(n=300), _data(n=2500, seed=1)  # more rows than one evaluation batch
    trainer = Trainer(_model(), max_epochs=2, device="cpu", label_smoothing=smoothing)
    trainer.fit(train)
    scores = trainer.score_outputs(trainer.predict(val.X), val.y, prefix="val_")
    expected = trainer.evaluate(val, prefix="val_")
    assert scores.keys() == expected.keys() == {"val_loss", "val_accuracy"}
    assert scores["val_accuracy"] == expected["val_accuracy"]
    assert scores["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-6)
    # the plain cross-entropy, with or without smoothing in the training loss
    assert scores["val_loss"] == pytest.approx(F.cross_entropy(trainer.predict(val.X), val.y).item(), rel=1e-6)


def test_regression_metrics_match_numpy():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 3, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(100, generator=g)
    data = TensorData(X, y)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    trainer = Trainer(model, loss="mse", lr=1e-2, max_epochs=3, device="cpu")
    trainer.fit(data)
    metrics = trainer.evaluate(data)
    with torch.no_grad():
        prediction = model(X)[:, 0]
    residual = (prediction - y).numpy()
    assert metrics["mae"] == pytest.approx(abs(residual).mean(), rel=1e-5)
    assert metrics["rmse"] == pytest.approx(math.sqrt((residual**2).mean()), rel=1e-5)
    total = ((y - y.mean()) ** 2).sum().item()
    assert metrics["r2"] == pytest.approx(1 - (residual**2).sum() / total, rel=1e-4)


def test_a_dataloader_works_like_tensor_data():
    train = _data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train.X, train.y), batch_size=32)
    history = Trainer(_model(), max_epochs=2, device="cpu").fit(loader, loader)
    assert len(history) == 2 and history["val_loss"][1] < history["val_loss"][0] + 1.0


def test_unknown_monitor_lists_available_metrics():
    with pytest.raises(ValueError) as error:
        Trainer(_model(), max_epochs=1, device="cpu", callbacks=[EarlyStopping(monitor="val_acc")]).fit(
            _data(), _data(seed=1)
        )
    assert str(error.value) == (
        "EarlyStopping cannot monitor 'val_acc': it is not logged; available metrics: "
        "loss, accuracy, val_loss, val_accuracy, lr"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "rmsprop"}, "`optimizer` must be one of adam, adamw, sgd, got 'rmsprop'"),
        ({"lr": -1.0}, "`lr` must be a finite number > 0, got -1.0"),
        ({"batch_size": 0}, "`batch_size` must be an integer >= 1, got 0"),
        ({"max_epochs": 0}, "`max_epochs` must be an integer >= 1, got 0"),
        ({"loss": "hinge"}, "`loss` must be one of cross_entropy, mse, bce or a callable, got 'hinge'"),
        ({"label_smoothing": 1.0}, "`label_smoothing` must be in [0, 1), got 1.0"),
        ({"precision": "fp16"}, "`precision` must be one of 32, bf16, got 'fp16'"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        Trainer(_model(), device="cpu", **kwargs)
    assert str(error.value) == message


def test_diverging_training_stops_with_a_reason():
    train = _data()
    model = _model()
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    history = Trainer(model, max_epochs=5, device="cpu").fit(train)
    assert len(history) == 1
    assert history.stop_reason == "diverged: training loss is nan at epoch 1"


def test_idle_callbacks_are_not_called_per_batch(monkeypatch):
    calls, batch_calls = [], []

    # the base class's do-nothing hook, counting: a trainer that dispatched it per batch would call it here
    monkeypatch.setattr(Callback, "on_batch_end", lambda self, trainer, step, loss: batch_calls.append(step))

    class EpochOnly(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(epoch)

    Trainer(_model(), max_epochs=2, device="cpu", callbacks=[EpochOnly()]).fit(_data())
    assert calls == [1, 2]
    assert batch_calls == []


def _numbered_rows(n, features=4, seed=0):
    """Column 0 holds the row's number, so a hook on the model sees which rows each training batch held."""
    g = torch.Generator().manual_seed(seed)
    X = torch.cat([torch.arange(n, dtype=torch.float32)[:, None], torch.randn(n, features - 1, generator=g)], 1)
    return TensorData(X, torch.arange(n) % 2)


def _record_training_batches(model):
    batches = []
    model.register_forward_pre_hook(
        lambda m, args: batches.append(args[0][:, 0].long().tolist()) if m.training else None)
    return batches


@pytest.mark.parametrize(("rows", "repeat", "sizes"), [(33, 1, [33]), (65, 1, [32, 33]), (11, 3, [33])])
def test_a_last_batch_of_one_row_joins_the_one_before_so_batch_norm_trains(rows, repeat, sizes):
    from fitguard.models import mlp

    torch.manual_seed(0)
    model = mlp(4, 2, hidden=[8], batchnorm=True)
    batches = _record_training_batches(model)
    data = _numbered_rows(rows)
    epochs = 3
    trainer = Trainer(model, batch_size=32, max_epochs=epochs, repeat=repeat, device="cpu")
    history = trainer.fit(data, data)
    assert len(history) == epochs and trainer.step == epochs * len(sizes)
    assert [len(b) for b in batches] == sizes * epochs
    for epoch in range(epochs):
        seen = [i for b in batches[epoch * len(sizes) : (epoch + 1) * len(sizes)] for i in b]
        assert sorted(seen) == sorted(list(range(rows)) * repeat)  # every row, `repeat` times, none dropped


def test_a_dataloader_with_a_one_row_batch_and_batch_norm_is_told_to_drop_it():
    from fitguard.models import mlp

    data = _numbered_rows(33)
    rows = torch.utils.data.TensorDataset(data.X, data.y)
    with pytest.raises(ValueError) as error:
        Trainer(mlp(4, 2, hidden=[8], batchnorm=True), batch_size=32, max_epochs=1, device="cpu").fit(
            torch.utils.data.DataLoader(rows, batch_size=32)
        )
    assert str(error.value) == (
        "the training DataLoader yielded a batch of 1 row, which batch norm cannot normalize in training mode; "
        "pass drop_last=True to the DataLoader (or pick a batch_size that leaves no 1-row remainder)"
    )
    model = mlp(4, 2, hidden=[8], batchnorm=True)
    batches = _record_training_batches(model)
    Trainer(model, max_epochs=1, device="cpu").fit(torch.utils.data.DataLoader(rows, batch_size=32, drop_last=True))
    assert [len(b) for b in batches] == [32]  # the user's loader is left as it is


@pytest.mark.parametrize(
    ("rows", "batch_size", "message"),
    [
        (10, 1, "`batch_size`=1 makes every training batch 1 row, which batch norm cannot normalize in training mode; "
                "use batch_size >= 2"),
        (1, 32, "the training data has 1 row, which batch norm cannot normalize in training mode; "
                "train on at least 2 rows"),
    ],
)
def test_batch_norm_on_one_row_batches_says_what_to_change(rows, batch_size, message):
    from fitguard.models import mlp

    with pytest.raises(ValueError) as error:
        Trainer(mlp(4, 2, hidden=[8], batchnorm=True), batch_size=batch_size, max_epochs=1, device="cpu").fit(
            _numbered_rows(rows)
        )
    assert str(error.value) == message


class _StopAt(Callback):
    """Asks the run to stop now at ``step``."""

    def __init__(self, step):
        self.at, self.epochs_seen = step, []

    def on_batch_end(self, trainer, step, loss):
        if step == self.at:
            trainer.request_stop("enough", now=True)

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs_seen.append(epoch)


def test_a_stop_request_now_ends_the_epoch_after_its_batch_and_still_validates_it():
    train, val = _data(n=200), _data(n=60, seed=1)
    stopper = _StopAt(step=7)  # batch size 20: 10 steps an epoch, so in epoch 1
    trainer = Trainer(_model(), batch_size=20, max_epochs=5, quiet=True, callbacks=[stopper])
    history = trainer.fit(train, val)
    assert trainer.step == 7 and len(history) == 1 and stopper.epochs_seen == [1]
    assert history.stop_reason == "enough" and "val_loss" in history.epochs[0]
    # the partial epoch's validation is that of the weights after step 7, and its training loss the mean of 7 batches
    assert history.epochs[0]["val_loss"] == pytest.approx(trainer.evaluate(val)["loss"], rel=1e-6)
    # a fresh fit of the same trainer is not stopped by the old request
    stopper.at = -1
    trainer.stop_reason = None
    trainer.max_epochs = 2
    trainer.fit(train, val)
    assert trainer.step == 7 + 10
