"""Per-epoch logs: a JSONL file (one JSON object per epoch) and TensorBoard event files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fitguard.train.callbacks.base import Callback

if TYPE_CHECKING:
    from fitguard.train.history import History
    from fitguard.train.trainer import Trainer


class MetricsLog(Callback):
    """Append each epoch's logs to ``path`` as one JSON line, flushed to the OS every epoch (a killed process loses
    nothing; no fsync, which would cost more than a small epoch). The file stays open from ``on_fit_start`` to
    ``on_fit_end`` (an epoch costs one ``write`` call, not an open and a close).

    On resume the file is cut back to the checkpointed epoch, so no epoch appears twice.

    Args:
        path: The JSON-lines file to append to (string or path; its folder is created at fit start). Kept as a
            string in the config.

    Example:
        >>> MetricsLog("runs/x/metrics.jsonl").get_config()
        {'path': 'runs/x/metrics.jsonl'}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._bytes_written = 0
        self._handle: BinaryIO | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._close()
        self._handle = open(path, "ab")  # noqa: SIM115 - closed in on_fit_end
        # a resumed run cuts the lines written after its checkpoint; a fresh run starts an empty file
        self._handle.truncate(self._bytes_written)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        line = (json.dumps(logs, allow_nan=True) + "\n").encode()
        if self._handle is None:  # called outside fit
            with open(self.path, "ab") as handle:
                handle.write(line)
        else:
            self._handle.write(line)
            self._handle.flush()  # in the OS's hands when the epoch ends
        self._bytes_written += len(line)

    def on_fit_end(self, trainer: Trainer) -> None:
        self._close()

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def get_config(self) -> dict[str, Any]:
        return {"path": self.path}

    def state_dict(self) -> dict[str, Any]:
        return {"bytes_written": self._bytes_written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._bytes_written = int(state["bytes_written"])


def write_logs(folder: str | Path, history: History, *, tensorboard: bool = True) -> None:
    """Write ``history``'s epochs into ``folder`` as a training's :class:`MetricsLog` (``metrics.jsonl``) and
    :class:`TensorBoard` (``tensorboard/``, scalars) callbacks write them, replacing what was there: the logs of a
    training whose model is reused where the run that reuses it trained nothing (the doctor's tested baseline
    shipped as its kept model).

    Args:
        folder: the run folder.
        history: a :class:`~fitguard.train.history.History`.
        tensorboard: write the TensorBoard event files too (default True).
    """
    import shutil
    from types import SimpleNamespace

    folder = Path(folder)
    callbacks: list[Callback] = [MetricsLog(folder / "metrics.jsonl")]
    if tensorboard:
        shutil.rmtree(folder / "tensorboard", ignore_errors=True)  # an earlier attempt's events would add to them
        callbacks.append(TensorBoard(folder / "tensorboard"))
    stand_in: Any = SimpleNamespace(epoch=0)  # what the callbacks read of a trainer: a fresh fit (no histograms)
    started: list[Callback] = []
    try:
        for callback in callbacks:
            callback.on_fit_start(stand_in)
            started.append(callback)
        for record in history.epochs:
            for callback in callbacks:
                callback.on_epoch_end(stand_in, int(record["epoch"]), record)
    finally:
        for callback in started:
            callback.on_fit_end(stand_in)


def read_metrics_log(path: str | Path) -> list[dict[str, float]]:
    """Read a JSONL metrics log back (one dict per epoch).

    Args:
        path: the ``metrics.jsonl`` file.
    """
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


class TensorBoard(Callback):
    """Write each epoch's scalars (and optionally weight histograms) as TensorBoard event files.

    Args:
        log_dir: Folder of the event files (``torch.utils.tensorboard.SummaryWriter``'s ``log_dir``); on resume
            the events written after the checkpointed epoch are purged.
        histograms: Also write a histogram of every parameter each epoch (copies the weights to the CPU every
            epoch). Default False.
    Scalars are grouped as ``loss/train`` and ``loss/val`` etc., so train and validation share one chart.
    """

    def __init__(self, log_dir: str | Path, histograms: bool = False) -> None:
        self.log_dir = str(log_dir)
        self.histograms = histograms
        self._writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        # purge_step drops events a killed run wrote after its last checkpoint
        self._writer = SummaryWriter(self.log_dir, purge_step=trainer.epoch + 1 if trainer.epoch else None)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        for name, value in logs.items():
            if name == "epoch":
                continue
            if name.startswith("val_"):
                tag = f"{name[4:]}/val"
            elif name in ("lr", "time", "penalty"):
                tag = f"train/{name}"
            else:
                tag = f"{name}/train"
            self._writer.add_scalar(tag, value, epoch)
        if self.histograms:
            for name, parameter in trainer.model.named_parameters():
                self._writer.add_histogram(f"weights/{name}", parameter.detach().cpu(), epoch)
        self._writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self) -> dict[str, Any]:
        return {"log_dir": self.log_dir, "histograms": self.histograms}
