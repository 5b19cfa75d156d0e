"""Weight averaging: stochastic weight averaging (SWA) and an exponential moving average (EMA) of the weights.

Both end a training on an average of the weights it passed through instead of its last iterate, which sits in a
wider, flatter part of the loss surface and generalizes better (Izmailov et al., "Averaging Weights Leads to Wider
Optima and Better Generalization", UAI 2018; Polyak averaging for the EMA). Kadra et al. (NeurIPS 2021) count SWA
among the regularizers of their tabular "cocktail".

- ``WeightAveraging("swa", start=0.75)``: from the epoch 75% of the way through ``max_epochs`` (or an epoch number),
  the equal-weight mean of the weights at the end of every epoch; with ``lr`` the learning rate is annealed to that
  constant over ``anneal_epochs`` at the start (``torch.optim.swa_utils.SWALR``), as the paper does.
- ``WeightAveraging("ema", decay=0.999)``: after every optimizer step, ``average = d * average + (1 - d) *
  weights`` (from ``start``, by default the first step), with ``d = min(decay, (1 + n) / (10 + n))`` after ``n``
  updates: the warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` and timm's model EMA, without
  which a small data set's few hundred steps would leave the average mostly at its starting weights
  (0.999^600 = 0.55).

The average is kept by ``torch.optim.swa_utils.AveragedModel``. At the end of the run it is copied into the model
and, when the model has batch norm, its running statistics are recomputed with one pass over the training rows
(``torch.optim.swa_utils.update_bn``): statistics collected along the way belong to none of the averaged weights.
Validation during the run scores the current weights, not the average.

It decides the final weights, as ``EarlyStopping(restore_best=True)`` also would: the two together are refused
(early stopping without ``restore_best`` can still end the run). The average is saved in checkpoints, so a
resumed run continues it.

Example:
    >>> from fitguard.data import TensorData
    >>> from fitguard.models import mlp
    >>> from fitguard.train import Trainer
    >>> data = TensorData(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> swa = WeightAveraging("swa", start=3)
    >>> _ = Trainer(mlp(4, 2, hidden=[8]), max_epochs=5, callbacks=[swa]).fit(data)
    >>> swa.averaged_count   # the ends of epochs 3, 4 and 5
    3
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from fitguard._validation import check_in, check_int
from fitguard.train.callbacks.base import Callback

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer

KINDS = ("swa", "ema")


def _ema_with_warmup(decay: float):
    """The EMA update with the warm-up decay ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates."""

    def update(average: torch.Tensor, current: torch.Tensor, updates: torch.Tensor) -> torch.Tensor:
        n = float(updates)
        weight = min(decay, (1 + n) / (10 + n))
        return weight * average + (1 - weight) * current

    return update


class WeightAveraging(Callback):
    """SWA or an EMA of the weights; the model ends with the average (see the module docstring).

    Args:
        kind: ``"swa"`` (equal-weight mean of epoch ends) or ``"ema"`` (moving average of every step).
        start: the first epoch averaged (an int >= 1), or a fraction of ``max_epochs`` in (0, 1) (0.75: the last
            quarter). Default: 0.75 for SWA, epoch 1 for EMA.
        decay: EMA only: the weight of the old average per step, in (0, 1); default 0.999.
        lr: SWA only: anneal the learning rate to this constant from ``start`` on; None (default): leave it.
        anneal_epochs: SWA only: epochs of the cosine annealing to ``lr``; default 1.
        update_bn: recompute batch-norm statistics for the averaged weights at the end (default True).

    Raises:
        ValueError: an unknown ``kind`` or an option outside its range, named with what is allowed.
    """

    order = 10  # after EarlyStopping (0) in every hook: it sees the end of the run as decided

    def __init__(self, kind: str = "swa", *, start: float | None = None, decay: float = 0.999,
                 lr: float | None = None, anneal_epochs: int = 1, update_bn: bool = True) -> None:
        check_in("kind", kind, KINDS)
        start = (0.75 if kind == "swa" else 1) if start is None else start
        whole = isinstance(start, int) and not isinstance(start, bool)
        if not ((whole and start >= 1) or (isinstance(start, float) and 0 < start < 1)):
            raise ValueError(f"`start` must be an epoch number >= 1 or a fraction of max_epochs in (0, 1), "
                             f"got {start!r}")
        if not 0 < decay < 1:
            raise ValueError(f"`decay` must be in (0, 1), got {decay!r}")
        if lr is not None and not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"`lr` must be a finite number > 0 or None, got {lr!r}")
        if kind == "ema" and lr is not None:
            raise ValueError("`lr` anneals the learning rate for SWA only; an EMA leaves the schedule alone")
        check_int("anneal_epochs", anneal_epochs, low=1)
        self.kind, self.start, self.decay, self.lr = kind, start, decay, lr
        self.anneal_epochs, self.update_bn = anneal_epochs, update_bn
        self.averaged: AveragedModel | None = None
        self._scheduler: SWALR | None = None
        self._first_epoch = 1
        self._saved: dict[str, Any] | None = None  # a checkpoint's average, until on_resume rebuilds it

    @property
    def averaged_count(self) -> int:
        """How many weight snapshots the average holds so far."""
        return 0 if self.averaged is None else int(self.averaged.n_averaged)

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "decay": self.decay, "lr": self.lr,
                "anneal_epochs": self.anneal_epochs, "update_bn": self.update_bn}

    def on_fit_start(self, trainer: Trainer) -> None:
        from fitguard.train.callbacks.early_stopping import EarlyStopping

        if any(isinstance(c, EarlyStopping) and c.restore_best for c in trainer.callbacks):
            raise ValueError("weight averaging and EarlyStopping(restore_best=True) both choose the final weights; "
                             "pass restore_best=False (early stopping may still end the run) or drop the averaging")
        self._first_epoch = (self.start if isinstance(self.start, int)
                             else max(1, math.ceil(self.start * trainer.max_epochs)))
        if trainer.epoch == 0 or self.averaged is None:  # a fresh training averages its own weights only
            self.averaged = self._new_average(trainer.model)
            self._scheduler = None

    def _new_average(self, model: nn.Module) -> AveragedModel:
        # buffers (batch norm's statistics) are recomputed at the end, not averaged
        avg_fn = _ema_with_warmup(self.decay) if self.kind == "ema" else None
        return AveragedModel(model, avg_fn=avg_fn, use_buffers=False)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self.lr is not None and epoch == self._first_epoch and self._scheduler is None:
            self._scheduler = SWALR(trainer.optimizer, swa_lr=self.lr, anneal_epochs=self.anneal_epochs,
                                    anneal_strategy="cos")

    def on_batch_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        if self.kind == "ema" and trainer.epoch + 1 >= self._first_epoch:
            self.averaged.update_parameters(trainer.model)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.kind == "swa" and epoch >= self._first_epoch:
            self.averaged.update_parameters(trainer.model)
            if self._scheduler is not None:
                self._scheduler.step()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.averaged is None or self.averaged_count == 0:
            return  # the run ended before averaging began: the model keeps its own weights
        if trainer.stop_reason is None and trainer.epoch < trainer.max_epochs:
            return  # an exception ended it: keep the weights a resumed run continues from
        with torch.no_grad():
            for mine, average in zip(trainer.model.parameters(), self.averaged.module.parameters()):
                mine.copy_(average)
        has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in trainer.model.modules())
        data = getattr(trainer, "train_data", None)
        if self.update_bn and has_norm and data is not None:
            update_bn((x for x, _ in trainer._batches(data, train=False)), trainer.model, device=trainer.device)

    def state_dict(self) -> dict[str, Any]:
        if self.averaged is None:
            return {}
        return {"n_averaged": self.averaged_count,
                "parameters": [p.detach().clone() for p in self.averaged.module.parameters()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = state

    def on_resume(self, trainer: Trainer) -> None:
        saved = self._saved
        if not saved:
            return
        self.averaged = self._new_average(trainer.model)
        with torch.no_grad():
            for average, value in zip(self.averaged.module.parameters(), saved["parameters"]):
                average.copy_(value)
            self.averaged.n_averaged.fill_(int(saved["n_averaged"]))
