"""Pruning: a Trainer callback that reports every epoch to an Optuna trial, and pruners for jittery curves.

Neural-net validation curves are noisy; a plain median pruner cuts good trials on one bad epoch. The default
is Hyperband (successive halving over epochs); 'median' is wrapped in ``PatientPruner`` so a trial is cut only
after ``patience`` epochs in a row without improvement *and* below the median.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fitguard.train import Callback

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer

PRUNERS = ("hyperband", "median", "none")
SAMPLERS = ("tpe", "random")


class PruningCallback(Callback):
    """Report ``monitor`` to ``trial`` after each epoch; stop the run when the pruner says so.

    The decision and its reason are kept (``pruned``, ``reason``); the caller tells Optuna the trial was
    pruned after ``fit`` returns, so the run ends cleanly (callbacks' ``on_fit_end`` still run).

    Example:
        >>> import optuna
        >>> trial = optuna.create_study(direction="maximize").ask()
        >>> PruningCallback(trial, "val_accuracy").monitor
        'val_accuracy'
    """

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned = False
        self.reason: str | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs[self.monitor]
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.reason = f"pruned at epoch {epoch}: {self.monitor}={value:.6g} is behind the other trials"
            trainer.request_stop(self.reason)


def make_pruner(name: str, max_epochs: int, min_epochs: int = 4, patience: int = 3) -> Any:
    """An Optuna pruner by name: 'hyperband' (default), 'median' (patient), or 'none'."""
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min(min_epochs, max_epochs), max_resource=max_epochs,
                                              reduction_factor=3)
    if name == "median":
        median = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min_epochs)
        return optuna.pruners.PatientPruner(median, patience=patience)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"`pruner` must be one of {', '.join(PRUNERS)}, got {name!r}")


def make_sampler(name: str, seed: int) -> Any:
    """An Optuna sampler by name: 'tpe' (default; constant liar so parallel workers spread out) or 'random'."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"`sampler` must be one of {', '.join(SAMPLERS)}, got {name!r}")
