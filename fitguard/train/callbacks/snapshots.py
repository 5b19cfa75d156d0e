"""Snapshot ensembles: one training, M networks (Huang et al., "Snapshot Ensembles: Train 1, get M for free",
ICLR 2017; one of the remedies of Kadra et al.'s tabular cocktail).

The learning rate follows a cosine with warm restarts (:class:`~fitguard.train.callbacks.CosineAnnealing`); at
the end of each cycle, where the rate is lowest and the weights sit in a local minimum, a copy of the weights is
kept. :meth:`SnapshotEnsemble.ensemble` returns the mean of the last ``keep`` snapshots' predictions as one module
(:class:`fitguard.models.ensemble.MeanEnsemble`: mean probabilities for classes, mean outputs for regression) --
an ensemble of M networks for the price of one training. The trainer's own model ends as the last snapshot.

Example:
    >>> from fitguard.data import TensorData
    >>> from fitguard.models import mlp
    >>> from fitguard.train import Trainer
    >>> snapshots = SnapshotEnsemble(cycles=3)
    >>> _ = Trainer(mlp(4, 2, hidden=[8]), max_epochs=6, lr=0.01, callbacks=[snapshots]).fit(
    ...     TensorData(torch.randn(32, 4), torch.randint(0, 2, (32,))))
    >>> snapshots.epochs, len(snapshots.ensemble("classification").members)
    ([2, 4, 6], 3)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

from fitguard._validation import check_int
from fitguard.models.ensemble import MeanEnsemble
from fitguard.train.callbacks.lr_schedule import CosineAnnealing

if TYPE_CHECKING:
    from torch import nn

    from fitguard.train.trainer import Trainer


class SnapshotEnsemble(CosineAnnealing):
    """``cycles`` cosine cycles of ``max_epochs // cycles`` epochs each, a snapshot of the weights at each end.

    Args:
        cycles: how many cycles (and snapshots) the run's ``max_epochs`` is cut into (>= 1).
        keep: how many of the last snapshots :meth:`ensemble` averages; None (default): all of them.
        min_lr: the learning rate at the end of each cycle (default 0).

    Raises:
        ValueError: ``cycles`` or ``keep`` below 1, or ``max_epochs`` shorter than ``cycles`` (at the start).
    """

    def __init__(self, cycles: int = 5, keep: int | None = None, min_lr: float = 0.0) -> None:
        check_int("cycles", cycles, low=1)
        check_int("keep", keep, low=1, none_ok=True)
        super().__init__(cycle=None, min_lr=min_lr)
        self.cycles, self.keep = cycles, keep
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.epochs: list[int] = []
        self._model: nn.Module | None = None

    def get_config(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "keep": self.keep, "min_lr": self.min_lr}

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.max_epochs < self.cycles:
            raise ValueError(f"{self.cycles} snapshot cycles need max_epochs >= {self.cycles}, "
                             f"got {trainer.max_epochs}")
        self.cycle = trainer.max_epochs // self.cycles
        self._model = trainer.model
        if trainer.epoch == 0:  # a fresh training collects its own snapshots (a resumed one loaded its own)
            self.snapshots, self.epochs = [], []
        super().on_fit_start(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        super().on_epoch_end(trainer, epoch, logs)
        if epoch % self.cycle == 0 and len(self.snapshots) < self.cycles:
            self.snapshots.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
            self.epochs.append(epoch)

    def ensemble(self, task: str) -> MeanEnsemble:
        """The mean of the kept snapshots as one module, in eval mode.

        Args:
            task: "classification" (mean of probabilities) or "regression" (mean of outputs).

        Raises:
            ValueError: no snapshot was taken yet (the run ended before the first cycle did).
        """
        if not self.snapshots or self._model is None:
            raise ValueError("no snapshot yet: train first; a snapshot is taken at the end of each cycle of "
                             "max_epochs // cycles epochs")
        members = []
        for state in self.snapshots[-(self.keep or len(self.snapshots)):]:
            member = copy.deepcopy(self._model)
            member.load_state_dict(state)
            members.append(member)
        return MeanEnsemble(members, task).eval()

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": super().state_dict(), "snapshots": self.snapshots, "epochs": self.epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state.get("schedule", {}))
        self.snapshots = [dict(s) for s in state.get("snapshots", [])]
        self.epochs = [int(e) for e in state.get("epochs", [])]
