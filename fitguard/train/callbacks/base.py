"""The callback protocol: hooks the Trainer calls, and the state a resumed run needs.

A callback overrides only the hooks it needs; the Trainer calls a hook only on the callbacks that override it,
so idle callbacks cost nothing per step. Every stateful callback implements ``state_dict`` /
``load_state_dict`` (mutable progress only; its constructor arguments are its config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer


class Callback:
    """Base class. Hooks receive the trainer; epoch hooks also the epoch's ``logs`` (a dict of floats)."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before each training epoch (``epoch`` counts from 1)."""

    def on_batch_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        """Called after each optimizer step; ``loss`` is a 0-d tensor (calling ``.item()`` syncs the device)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after validation; call ``trainer.request_stop(reason)`` to stop the run after this epoch."""

    def on_resume(self, trainer: Trainer) -> None:
        """Called when resuming, after this callback's state is loaded and before the optimizer's: rebuild any
        structure the saved optimizer state assumes (unfrozen layers, extra parameter groups)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch, also when a callback stopped the run."""

    @property
    def state_key(self) -> str:
        """The name a checkpoint keeps this callback's state under (Lightning's ``state_key``): the class name, so
        that adding or dropping a callback without state (TensorBoard, a progress bar) on resume leaves every other
        callback's state where it was. Two callbacks of one class in one trainer are told apart by their order."""
        return type(self).__name__

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state

    def get_config(self) -> dict[str, Any]:
        return {}
