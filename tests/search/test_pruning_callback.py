"""The pruning callback both searches use: what it reports to its trial, and how it stops a run."""

from __future__ import annotations

import optuna
import torch

from fitguard.data.tensors import TensorData
from fitguard.search.pruning import PruningCallback
from fitguard.train import Trainer


class _PruneAfter(optuna.pruners.BasePruner):
    """Prunes once the trial has reported ``after`` values."""

    def __init__(self, after: int) -> None:
        self.after = after

    def prune(self, study, trial) -> bool:
        return len(trial.intermediate_values) >= self.after


def _fit(callback_of, after: int = 99, epochs: int = 4):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=_PruneAfter(after))
    trial = study.ask()
    callback = callback_of(trial)
    X = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    data = TensorData(X, (X[:, 0] > 0).long())
    torch.manual_seed(0)
    trainer = Trainer(torch.nn.Linear(3, 2), max_epochs=epochs, batch_size=8, device="cpu", callbacks=[callback])
    history = trainer.fit(data, data)
    return study.trials[0], callback, history, trainer


def test_it_reports_the_metric_times_its_sign_every_epoch():
    frozen, _, history, _ = _fit(lambda trial: PruningCallback(trial, "val_loss", sign=-1.0))
    assert frozen.intermediate_values == {e + 1: -loss for e, loss in enumerate(history["val_loss"])}
    frozen, _, history, _ = _fit(lambda trial: PruningCallback(trial, "val_accuracy"))
    assert frozen.intermediate_values == dict(enumerate(history["val_accuracy"], start=1))


def test_a_pruned_trial_stops_the_run_after_that_epoch_and_says_why():
    _, callback, history, trainer = _fit(lambda trial: PruningCallback(trial, "val_accuracy"), after=2)
    assert callback.pruned and len(history) == 2
    value = history["val_accuracy"][1]
    assert callback.reason == f"pruned at epoch 2: val_accuracy={value:.6g} is behind the other trials"
    assert trainer.stop_reason == callback.reason
