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
    """Base class. Hooks receive the trainer; epoch hooks also the epoch's ``logs`` (a dict of floats).

    The methods below are the whole protocol; a subclass's overrides keep their signatures and are documented
    here once (a subclass documents only what its own override adds, e.g. what its ``state_dict`` holds).
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when resuming).

        Args:
            trainer: the :class:`~fitguard.train.Trainer` running the fit.
        """

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before each training epoch.

        Args:
            trainer: the :class:`~fitguard.train.Trainer` running the fit.
            epoch: the epoch about to run, counting from 1.
        """

    def on_batch_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        """Called after each optimizer step.

        Args:
            trainer: the :class:`~fitguard.train.Trainer` running the fit.
            step: the number of optimizer steps taken so far in the run (this one included).
            loss: the step's training loss, a 0-d tensor (calling ``.item()`` syncs the device).
        """

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after validation; call ``trainer.request_stop(reason)`` to stop the run after this epoch.

        Args:
            trainer: the :class:`~fitguard.train.Trainer` running the fit.
            epoch: the epoch just finished, counting from 1.
            logs: the epoch's metrics by name (``loss``, ``val_loss``, ``lr``...), as floats.
        """

    def on_resume(self, trainer: Trainer) -> None:
        """Called when resuming, after this callback's state is loaded and before the optimizer's: rebuild any
        structure the saved optimizer state assumes (unfrozen layers, extra parameter groups).

        Args:
            trainer: the :class:`~fitguard.train.Trainer` being resumed.
        """

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch, also when a callback stopped the run.

        Args:
            trainer: the :class:`~fitguard.train.Trainer` that ran the fit.
        """

    @property
    def state_key(self) -> str:
        """The name a checkpoint keeps this callback's state under (Lightning's ``state_key``): the class name, so
        that adding or dropping a callback without state (TensorBoard, a progress bar) on resume leaves every other
        callback's state where it was. Two callbacks of one class in one trainer are told apart by their order."""
        return type(self).__name__

    def state_dict(self) -> dict[str, Any]:
        """The callback's mutable progress, saved in every checkpoint (the base holds none).

        Returns:
            A dict that :meth:`load_state_dict` accepts; constructor arguments belong in :meth:`get_config`.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the progress :meth:`state_dict` returned, when a run resumes (the base ignores it).

        Args:
            state: what this callback's :meth:`state_dict` returned when the checkpoint was written.
        """
        del state

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``type(callback)(**callback.get_config())`` builds an equal one.

        Returns:
            The arguments by name (the base takes none).
        """
        return {}
