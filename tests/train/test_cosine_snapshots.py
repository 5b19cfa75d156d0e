"""Cosine annealing with warm restarts against its closed form, the one-cycle policy against torch's OneCycleLR,
and snapshot ensembles against their snapshots."""

from __future__ import annotations

import math

import pytest
import torch

from fitguard.data.tensors import TensorData
from fitguard.models import mlp
from fitguard.train import Callback, Checkpoint, CosineAnnealing, OneCycle, SnapshotEnsemble, Trainer


def _data() -> TensorData:
    X = torch.randn(48, 5, generator=torch.Generator().manual_seed(0))
    return TensorData(X, (X[:, 0] > 0).long())


def _trainer(callbacks, epochs: int = 14, lr: float = 0.1) -> Trainer:
    torch.manual_seed(0)
    return Trainer(mlp(5, 2, hidden=[8]), optimizer="sgd", lr=lr, max_epochs=epochs, batch_size=16, seed=0,
                   callbacks=callbacks)


def test_the_learning_rate_of_each_epoch_follows_the_cosine_with_warm_restarts():
    history = _trainer([CosineAnnealing(cycle=2, t_mult=2, min_lr=0.01)]).fit(_data())
    expected, start, length = [], 0, 2
    for epoch in range(14):
        if epoch - start == length:
            start, length = epoch, 2 * length
        t = epoch - start  # cycles of 2, 4 and 8 epochs begin at epochs 0, 2 and 6 (counting from 0)
        expected.append(0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / length)) / 2)
    assert [e["lr"] for e in history.epochs] == pytest.approx(expected)
    assert CosineAnnealing(cycle=2, t_mult=2).cycle_ends(14) == [2, 6, 14]


class StepRates(Callback):
    order = -10  # before the schedule's step: the rate and momentum the step just taken used

    def __init__(self) -> None:
        self.rates: list[tuple[float, float]] = []

    def on_batch_end(self, trainer, step, loss):
        group = trainer.optimizer.param_groups[0]
        self.rates.append((group["lr"], group["momentum"]))


# batches of 16: 48 rows make 3; 49 make 3 too (the 49th row joins the last); 2 passes over 40 rows make 5
@pytest.mark.parametrize(("rows", "repeat", "per_epoch"), [(48, 1, 3), (49, 1, 3), (40, 2, 5)])
def test_one_cycle_steps_every_batch_as_torchs_one_cycle_lr_over_the_whole_run(rows, repeat, per_epoch):
    X = torch.randn(rows, 5, generator=torch.Generator().manual_seed(0))
    recorder = StepRates()
    trainer = Trainer(mlp(5, 2, hidden=[8]), optimizer="sgd", lr=0.1, max_epochs=5, batch_size=16, repeat=repeat,
                      seed=0, callbacks=[OneCycle(warmup=0.25), recorder])
    trainer.fit(TensorData(X, (X[:, 0] > 0).long()))
    steps = 5 * per_epoch
    oracle = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(oracle, max_lr=0.1, total_steps=steps, pct_start=0.25)
    expected = []
    for _ in range(steps):
        expected.append((oracle.param_groups[0]["lr"], oracle.param_groups[0]["momentum"]))
        oracle.step()
        schedule.step()
    assert len(recorder.rates) == steps
    assert [v for pair in recorder.rates for v in pair] == pytest.approx([v for pair in expected for v in pair])
    peak = max(r for r, _ in recorder.rates)  # reached at step 0.25 * steps - 1, between two steps here
    assert recorder.rates[0][0] == pytest.approx(0.1 / 25) and 0.099 < peak <= 0.1
    assert recorder.rates[-1][0] == pytest.approx(0.1 / 25 / 1e4)


class Recorder(Callback):
    order = 5  # after the schedule's snapshot (0), before nothing that changes the weights

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.weights[epoch] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_snapshots_are_the_weights_at_the_cycle_ends_and_the_ensemble_averages_their_probabilities():
    snapshots, recorder = SnapshotEnsemble(cycles=3, keep=2), Recorder()
    trainer = _trainer([snapshots, recorder], epochs=10)
    history = trainer.fit(_data())
    assert snapshots.epochs == [3, 6, 9]  # cycles of 10 // 3 = 3 epochs; epoch 10 starts a fourth, not kept
    for epoch, state in zip(snapshots.epochs, snapshots.snapshots):
        for key, value in state.items():
            assert torch.equal(value, recorder.weights[epoch][key])
    lrs = [e["lr"] for e in history.epochs]
    assert lrs[0] == lrs[3] == lrs[6] == pytest.approx(0.1) and lrs[2] < lrs[1] < lrs[0]  # restarts
    ensemble = snapshots.ensemble("classification")
    x = _data().X
    probabilities = []
    for epoch in (6, 9):  # keep=2: the last two
        member = mlp(5, 2, hidden=[8])
        member.load_state_dict(recorder.weights[epoch])
        probabilities.append(torch.softmax(member(x), 1))
    with torch.no_grad():
        torch.testing.assert_close(torch.softmax(ensemble(x), 1), torch.stack(probabilities).mean(0))


class Crash(Callback):
    order = 200

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise RuntimeError("killed")


@pytest.mark.parametrize("make", [lambda: CosineAnnealing(cycle=3), lambda: SnapshotEnsemble(cycles=2),
                                  lambda: OneCycle(warmup=0.4)])
def test_a_run_resumed_after_a_crash_follows_the_same_schedule_and_snapshots(tmp_path, make):
    def run(folder, crash_at=None, resume=False):
        schedule = make()
        trainer = _trainer([schedule, Checkpoint(folder, every_epochs=1, monitor="loss", save_best=False),
                            Crash(crash_at)], epochs=8)
        history = trainer.fit(_data(), resume=folder if resume else None)
        return trainer, history, schedule

    straight, history, schedule = run(tmp_path / "a")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "b", crash_at=5)
    resumed, resumed_history, resumed_schedule = run(tmp_path / "b", resume=True)
    assert [e["lr"] for e in resumed_history.epochs] == [e["lr"] for e in history.epochs]
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if isinstance(schedule, SnapshotEnsemble):
        assert resumed_schedule.epochs == schedule.epochs == [4, 8]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: CosineAnnealing(cycle=0), "`cycle` must be None or an integer >= 1, got 0"),
    (lambda: CosineAnnealing(t_mult=0), "`t_mult` must be an integer >= 1, got 0"),
    (lambda: CosineAnnealing(min_lr=-1.0), "`min_lr` must be >= 0, got -1.0"),
    (lambda: SnapshotEnsemble(cycles=0), "`cycles` must be an integer >= 1, got 0"),
    (lambda: SnapshotEnsemble(keep=0), "`keep` must be None or an integer >= 1, got 0"),
    (lambda: OneCycle(warmup=1.0), "`warmup` must be a share of the steps in (0, 1), got 1.0"),
    (lambda: OneCycle(div_factor=0.5), "`div_factor` must be >= 1, got 0.5"),
    (lambda: OneCycle(base_momentum=0.99), "momenta must satisfy 0 <= base_momentum <= max_momentum < 1, got "
                                           "base_momentum=0.99 and max_momentum=0.95"),
])
def test_bad_options_are_refused_in_one_line(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_too_few_epochs_for_the_cycles_and_an_ensemble_before_any_snapshot_are_refused():
    with pytest.raises(ValueError) as error:
        _trainer([SnapshotEnsemble(cycles=5)], epochs=3).fit(_data())
    assert str(error.value) == "5 snapshot cycles need max_epochs >= 5, got 3"
    with pytest.raises(ValueError, match=r"^no snapshot yet"):
        SnapshotEnsemble(cycles=2).ensemble("classification")
