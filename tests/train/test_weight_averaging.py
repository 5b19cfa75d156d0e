"""SWA and the EMA of the weights, against averages computed by hand from the weights the run passed through."""

from __future__ import annotations

import pytest
import torch

from fitguard.data.tensors import TensorData
from fitguard.models import mlp
from fitguard.train import Callback, Checkpoint, EarlyStopping, Trainer, WeightAveraging


class Recorder(Callback):
    """Copies of the weights after every step and at every epoch end (before the averaging callback, order -1)."""

    order = -1

    def __init__(self) -> None:
        self.steps: list[list[torch.Tensor]] = []
        self.epochs: list[list[torch.Tensor]] = []

    def on_batch_end(self, trainer, step, loss):
        self.steps.append([p.detach().clone() for p in trainer.model.parameters()])

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs.append([p.detach().clone() for p in trainer.model.parameters()])


def _data(rows: int = 64) -> TensorData:
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(rows, 5, generator=generator)
    return TensorData(X, (X[:, 0] + 0.5 * X[:, 1] > 0).long())


def _fit(averaging: WeightAveraging, epochs: int = 6, batchnorm: bool = False,
         **trainer) -> tuple[torch.nn.Module, Recorder]:
    torch.manual_seed(0)
    model = mlp(5, 2, hidden=[8], batchnorm=batchnorm)
    recorder = Recorder()
    Trainer(model, max_epochs=epochs, batch_size=16, lr=1e-2, seed=0, callbacks=[recorder, averaging],
            **trainer).fit(_data())
    return model, recorder


def test_swa_ends_on_the_mean_of_the_epoch_ends_from_its_start():
    model, recorder = _fit(WeightAveraging("swa", start=0.5))  # epochs 3..6 of 6
    expected = [torch.stack(snapshots).mean(0) for snapshots in zip(*recorder.epochs[2:])]
    for mine, mean in zip(model.parameters(), expected):
        torch.testing.assert_close(mine.detach(), mean)
    assert not torch.equal(next(model.parameters()), recorder.epochs[-1][0])  # not the last iterate


def test_ema_follows_the_moving_average_of_every_step():
    averaging = WeightAveraging("ema", decay=0.9, start=2)
    model, recorder = _fit(averaging, epochs=3)
    steps_per_epoch = len(recorder.steps) // 3
    average = None
    for updates, snapshot in enumerate(recorder.steps[steps_per_epoch:]):  # from epoch 2 on
        if average is None:
            average = snapshot  # the first update copies the weights
        else:
            decay = min(0.9, (1 + updates) / (10 + updates))  # the warm-up: 0.1, 0.18, 0.25, ... up to 0.9
            average = [decay * a + (1 - decay) * w for a, w in zip(average, snapshot)]
    for mine, expected in zip(model.parameters(), average):
        torch.testing.assert_close(mine.detach(), expected)
    assert averaging.averaged_count == 2 * steps_per_epoch


def test_batch_norm_statistics_are_recomputed_for_the_averaged_weights():
    model, _ = _fit(WeightAveraging("swa", start=4), batchnorm=True)
    X = _data().X
    with torch.no_grad():
        hidden = model.linear1(X)  # the averaged weights; one pass of 64 rows (evaluation batches hold 1,024)
    torch.testing.assert_close(model.norm1.running_mean, hidden.mean(0))
    torch.testing.assert_close(model.norm1.running_var, hidden.var(0, unbiased=True))


def test_swa_anneals_the_learning_rate_to_its_own_from_its_start():
    torch.manual_seed(0)
    trainer = Trainer(mlp(5, 2, hidden=[8]), max_epochs=6, lr=1e-2, seed=0,
                      callbacks=[WeightAveraging("swa", start=3, lr=1e-3, anneal_epochs=2)])
    history = trainer.fit(_data())
    assert [round(e["lr"], 6) for e in history.epochs][:2] == [0.01, 0.01]
    assert history.epochs[-1]["lr"] == pytest.approx(1e-3)


class Crash(Callback):
    order = 200  # after the checkpoint of the epoch is taken

    def __init__(self, at: int | None) -> None:
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise RuntimeError("killed")


def test_a_run_resumed_after_a_crash_ends_on_the_same_average(tmp_path):
    def run(folder, crash_at=None, resume: bool = False):
        torch.manual_seed(0)
        model = mlp(5, 2, hidden=[8])
        checkpoint = Checkpoint(folder, every_epochs=1, monitor="loss", save_best=False)
        trainer = Trainer(model, max_epochs=6, batch_size=16, lr=1e-2, seed=0,
                          callbacks=[WeightAveraging("swa", start=2), checkpoint, Crash(crash_at)])
        trainer.fit(_data(), resume=folder if resume else None)
        return model

    straight = run(tmp_path / "a")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "b", crash_at=4)
    resumed = run(tmp_path / "b", resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_restore_best_and_averaging_together_are_refused_in_one_line():
    with pytest.raises(ValueError) as error:
        Trainer(mlp(5, 2, hidden=[8]), max_epochs=2, callbacks=[
            EarlyStopping(monitor="loss", restore_best=True), WeightAveraging()]).fit(_data())
    assert str(error.value) == ("weight averaging and EarlyStopping(restore_best=True) both choose the final weights; "
                                "pass restore_best=False (early stopping may still end the run) or drop the averaging")


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "mean"}, "`kind` must be 'swa' or 'ema', got 'mean'"),
    ({"start": 0}, "`start` must be an epoch number >= 1 or a fraction of max_epochs in (0, 1), got 0"),
    ({"start": 1.5}, "`start` must be an epoch number >= 1 or a fraction of max_epochs in (0, 1), got 1.5"),
    ({"kind": "ema", "decay": 1.0}, "`decay` must be in (0, 1), got 1.0"),
    ({"kind": "ema", "lr": 0.1}, "`lr` anneals the learning rate for SWA only; an EMA leaves the schedule alone"),
    ({"anneal_epochs": 0}, "`anneal_epochs` must be an integer >= 1, got 0"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as error:
        WeightAveraging(**options)
    assert str(error.value) == message
