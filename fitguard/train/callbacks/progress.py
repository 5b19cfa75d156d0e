"""A rich progress bar over epochs, showing the latest metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fitguard.train.callbacks.base import Callback

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer


class ProgressBar(Callback):
    """One bar for the run; its description holds the last epoch's metrics. Updates once per epoch.

    Args:
        description: Label shown at the left of the bar (a rich ``Progress`` task description). Default
            ``"training"``.
    """

    def __init__(self, description: str = "training") -> None:
        self.description = description
        self._progress: Any = None
        self._task: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.description, total=trainer.max_epochs, completed=trainer.epoch, metrics=""
        )

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        shown = "  ".join(
            f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch", "time", "lr") and not k.startswith("penalty")
        )
        self._progress.update(self._task, completed=epoch, metrics=shown)

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
