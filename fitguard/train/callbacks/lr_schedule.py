"""Lower the learning rate when the monitored metric plateaus (the same :class:`Monitor` as early stopping)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fitguard._validation import check_int
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.monitor import Monitor

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer


class ReduceLROnPlateau(Callback):
    """Multiply every parameter group's learning rate by ``factor`` after ``patience`` epochs without improvement.

    Args:
        monitor: Logged metric to watch. Default ``"val_loss"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default; "min" for losses and errors), as :class:`Monitor`.
        factor: Multiplier applied to each group's rate, in (0, 1). Default 0.1.
        patience: Epochs without improvement before a reduction, an integer >= 0 (0 acts as 1). Default 10.
        min_delta: Least improvement that counts, >= 0. Default 0.
        delta_mode: ``"absolute"`` (default) or ``"relative"`` to the best value.
        cooldown: Epochs after a reduction during which no further reduction happens and the wait is reset,
            >= 0. Default 0.
        min_lr: Floor no group's rate is reduced below, >= 0. Default 0.
        smoothing: EMA weight on the past in [0, 1); 0 (default) watches raw values.

    Raises:
        ValueError: ``factor`` outside (0, 1), negative ``patience``/``cooldown``/``min_lr``.

    Example:
        >>> ReduceLROnPlateau(factor=0.5, patience=2).get_config()["factor"]
        0.5
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 0.0,
        delta_mode: str = "absolute",
        cooldown: int = 0,
        min_lr: float = 0.0,
        smoothing: float = 0.0,
    ) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"`factor` must be in (0, 1), got {factor!r}")
        check_int("patience", patience, low=0)
        check_int("cooldown", cooldown, low=0)
        if min_lr < 0:
            raise ValueError(f"`min_lr` must be >= 0, got {min_lr!r}")
        self.monitor = monitor
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.delta_mode = delta_mode
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.smoothing = smoothing
        self._monitor = Monitor(monitor, mode, min_delta, delta_mode, smoothing)
        self._reset()

    def _reset(self) -> None:
        """The state of a training that has seen no epoch yet."""
        self._monitor.reset()
        self.wait = 0
        self.cooldown_left = 0
        self.reductions: list[tuple[int, float]] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch == 0:  # a fresh training (a resumed one has loaded its state): forget any earlier one's
            self._reset()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        improved = self._monitor.update(self._monitor.value(logs), epoch)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if improved:
            self.wait = 0
            return
        if self.cooldown_left > 0:
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            for group in trainer.optimizer.param_groups:
                group["lr"] = max(group["lr"] * self.factor, self.min_lr)
            self.reductions.append((epoch, trainer.optimizer.param_groups[0]["lr"]))
            self.cooldown_left = self.cooldown
            self.wait = 0

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "factor": self.factor,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "delta_mode": self.delta_mode,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
            "smoothing": self.smoothing,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self._monitor.state_dict(),
            "wait": self.wait,
            "cooldown_left": self.cooldown_left,
            "reductions": [list(r) for r in self.reductions],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state["monitor"])
        self.wait = state["wait"]
        self.cooldown_left = state["cooldown_left"]
        self.reductions = [(int(e), float(lr)) for e, lr in state["reductions"]]


class CosineAnnealing(Callback):
    """Cosine annealing of every parameter group's learning rate, per epoch, with optional warm restarts (SGDR,
    Loshchilov & Hutter, ICLR 2017; the schedule of Kadra et al.'s tabular cocktail): over a cycle of ``cycle``
    epochs the rate falls from the group's own rate to ``min_lr`` along half a cosine, then starts again, each
    cycle ``t_mult`` times longer than the one before. It is ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``
    stepped once per epoch.

    Args:
        cycle: epochs of the first cycle; None (default): ``max_epochs``, one decay without restart.
        t_mult: each cycle this many times longer than the last (an integer >= 1; default 1).
        min_lr: the rate at the end of every cycle (default 0).

    Raises:
        ValueError: a cycle or ``t_mult`` below 1, or a negative ``min_lr``.

    Example:
        >>> CosineAnnealing(cycle=10, t_mult=2).get_config()
        {'cycle': 10, 't_mult': 2, 'min_lr': 0.0}
    """

    def __init__(self, cycle: int | None = None, t_mult: int = 1, min_lr: float = 0.0) -> None:
        check_int("cycle", cycle, low=1, none_ok=True)
        check_int("t_mult", t_mult, low=1)
        if not min_lr >= 0:
            raise ValueError(f"`min_lr` must be >= 0, got {min_lr!r}")
        self.cycle, self.t_mult, self.min_lr = cycle, t_mult, float(min_lr)
        self._scheduler: Any = None
        self._saved: dict[str, Any] | None = None

    def get_config(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "t_mult": self.t_mult, "min_lr": self.min_lr}

    def cycle_ends(self, max_epochs: int) -> list[int]:
        """The epochs (from 1) at whose end a cycle finishes, up to ``max_epochs``.

        Args:
            max_epochs: the run's length; also the cycle's when ``cycle`` is None.

        Example:
            >>> CosineAnnealing(cycle=2, t_mult=2).cycle_ends(15)
            [2, 6, 14]
        """
        ends, length, end = [], self.cycle or max_epochs, 0
        while end + length <= max_epochs:
            end += length
            ends.append(end)
            length *= self.t_mult
        return ends

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

        # a fresh training (or another trainer's optimizer) starts its own schedule; a resumed one continues its
        if trainer.epoch == 0 or self._scheduler is None or self._scheduler.optimizer is not trainer.optimizer:
            self._scheduler = CosineAnnealingWarmRestarts(trainer.optimizer, T_0=self.cycle or trainer.max_epochs,
                                                          T_mult=self.t_mult, eta_min=self.min_lr)
            if self._saved is not None and trainer.epoch > 0:  # resumed: its position, then the rate it reached
                self._scheduler.load_state_dict(self._saved)
                for group, lr in zip(trainer.optimizer.param_groups, self._scheduler.get_last_lr()):
                    group["lr"] = lr

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self._scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {} if self._scheduler is None else dict(self._scheduler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = dict(state) or None


class OneCycle(Callback):
    """The one-cycle policy (Smith & Topin, "Super-Convergence", 2019; fastai's ``fit_one_cycle``), stepped after
    every batch: each parameter group's rate rises from ``rate / div_factor`` to the group's own rate over the first
    ``warmup`` share of the run's steps, then falls to ``rate / (div_factor * final_div_factor)``, both along half a
    cosine, while the momentum (SGD's, or Adam's and AdamW's β1) moves the other way, from ``max_momentum`` down to
    ``base_momentum`` and back. It is ``torch.optim.lr_scheduler.OneCycleLR`` over ``max_epochs`` epochs of the
    training data's batches (``repeat`` passes each); early stopping may end the run before the cycle does.

    The warm-up is what a high rate with momentum needs on a fresh network: the VGG recipe peer of
    ``benchmarks/peers.py`` trained with it and SGD at 0.1 scores 1 point above the same network with a cosine decay
    from the first step on Fashion-MNIST 100/class (``benchmarks/reference/doctor_cpu.json``, session 19).

    Args:
        warmup: share of the steps spent rising, in (0, 1) (default 0.3, torch's ``pct_start``).
        div_factor: the first rate is the group's rate divided by this, >= 1 (default 25).
        final_div_factor: the last rate is the first divided by this, >= 1 (default 1e4).
        cycle_momentum: move the momentum opposite to the rate (default True); False leaves it as the optimizer has it.
        base_momentum: the momentum at the peak rate, in [0, 1) (default 0.85).
        max_momentum: the momentum at the lowest rates, in [base_momentum, 1) (default 0.95).

    Raises:
        ValueError: a share outside (0, 1), a factor below 1, or momenta outside ``0 <= base <= max < 1``.

    Example:
        >>> OneCycle(warmup=0.25).get_config()["warmup"]
        0.25
    """

    def __init__(self, warmup: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95) -> None:
        if not 0 < warmup < 1:
            raise ValueError(f"`warmup` must be a share of the steps in (0, 1), got {warmup!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not value >= 1:
                raise ValueError(f"`{name}` must be >= 1, got {value!r}")
        if not 0 <= base_momentum <= max_momentum < 1:
            raise ValueError(f"momenta must satisfy 0 <= base_momentum <= max_momentum < 1, got base_momentum="
                             f"{base_momentum!r} and max_momentum={max_momentum!r}")
        self.warmup, self.div_factor, self.final_div_factor = float(warmup), float(div_factor), float(final_div_factor)
        self.cycle_momentum, self.base_momentum, self.max_momentum = (bool(cycle_momentum), float(base_momentum),
                                                                      float(max_momentum))
        self._scheduler: Any = None
        self._saved: dict[str, Any] | None = None

    def get_config(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "div_factor": self.div_factor, "final_div_factor": self.final_div_factor,
                "cycle_momentum": self.cycle_momentum, "base_momentum": self.base_momentum,
                "max_momentum": self.max_momentum}

    @staticmethod
    def steps_per_epoch(trainer: Trainer) -> int:
        """The optimizer steps one epoch of ``trainer.train_data`` takes (``repeat`` passes, batches as
        :meth:`fitguard.data.TensorData.batches` cuts them).

        Args:
            trainer: a trainer whose ``fit`` has started.
        """
        from fitguard.data.tensors import TensorData, batch_bounds

        data = trainer.train_data
        if isinstance(data, TensorData):
            return len(batch_bounds(len(data) * trainer.repeat, trainer.batch_size))
        return len(data) * trainer.repeat

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.optim.lr_scheduler import OneCycleLR

        if trainer.epoch == 0 or self._scheduler is None or self._scheduler.optimizer is not trainer.optimizer:
            groups = trainer.optimizer.param_groups
            peaks = [group.get("max_lr", group["lr"]) for group in groups]  # a resumed group's rate has moved
            self._scheduler = OneCycleLR(trainer.optimizer, max_lr=peaks,
                                         total_steps=trainer.max_epochs * self.steps_per_epoch(trainer),
                                         pct_start=self.warmup, div_factor=self.div_factor,
                                         final_div_factor=self.final_div_factor, cycle_momentum=self.cycle_momentum,
                                         base_momentum=self.base_momentum, max_momentum=self.max_momentum)
            if self._saved is not None and trainer.epoch > 0:  # resumed: its position, then the rate it reached
                self._scheduler.load_state_dict(self._saved)
                self._scheduler.last_epoch -= 1
                self._scheduler.step()  # sets each group's rate and momentum for the step it resumes at

    def on_batch_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        # the last step's rate (the floor) stays: the cycle is over
        if self._scheduler.last_epoch < self._scheduler.total_steps - 1:
            self._scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {} if self._scheduler is None else dict(self._scheduler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = dict(state) or None
