"""Resumable checkpoints (every N epochs / minutes, at the end) and the best model's weights.

Layout of ``dirpath``::

    ckpt-000005.safetensors / .json   full training state after epoch 5 (see fitguard.train.state_io)
    best.safetensors / best.json      the best epoch's weights and its epoch/metric

A kill during a write leaves the previous pair intact; ``keep_last`` bounds how many full checkpoints stay.
The state is copied in the training thread (a memcpy) and written by one background thread — serializing,
hashing and fsync-ing never stall the training loop, and writes stay in order.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors.torch import save as save_safetensors

from fitguard.errors import FitguardError
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.monitor import Monitor
from fitguard.train.state_io import atomic_write_bytes, clone_tensors, load_state, save_state

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer

_CKPT = re.compile(r"^ckpt-(\d{6})\.json$")


def list_checkpoints(dirpath: str | Path) -> list[Path]:
    """The full checkpoints in ``dirpath``, newest first."""
    dirpath = Path(dirpath)
    if not dirpath.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in dirpath.iterdir() if (m := _CKPT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def latest_valid_checkpoint(dirpath: str | Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Load the newest checkpoint that verifies; also return one message per corrupt one skipped."""
    skipped: list[str] = []
    for path in list_checkpoints(dirpath):
        try:
            return load_state(path), skipped
        except FitguardError as error:
            skipped.append(f"{error}; using the previous checkpoint")
    return None, skipped


class Checkpoint(Callback):
    """Save training state to ``dirpath`` so a killed run resumes (``Trainer.fit(..., resume=dirpath)``).

    Example:
        >>> Checkpoint("runs/x", every_epochs=1, keep_last=2).get_config()["keep_last"]
        2
    """

    order = 100  # after every other callback, so their state for this epoch is in the file

    def __init__(
        self,
        dirpath: str | Path,
        save_best: bool = True,
        monitor: str = "val_loss",
        mode: str = "auto",
        every_epochs: int | None = None,
        every_minutes: float | None = 5.0,
        keep_last: int = 2,
    ) -> None:
        if every_epochs is not None and (isinstance(every_epochs, bool) or every_epochs < 1):
            raise ValueError(f"`every_epochs` must be an integer >= 1 or None, got {every_epochs!r}")
        if every_minutes is not None and not every_minutes > 0:
            raise ValueError(f"`every_minutes` must be > 0 or None, got {every_minutes!r}")
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ValueError(f"`keep_last` must be an integer >= 1, got {keep_last!r}")
        self.dirpath = str(dirpath)
        self.save_best = save_best
        self.monitor = monitor
        self.mode = mode
        self.every_epochs = every_epochs
        self.every_minutes = every_minutes
        self.keep_last = keep_last
        self._monitor = Monitor(monitor, mode)
        self._last_save_time = time.monotonic()
        self.best_path: Path | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future[Any] | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        Path(self.dirpath).mkdir(parents=True, exist_ok=True)
        self._last_save_time = time.monotonic()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fitguard-checkpoint")

    def _submit(self, write: Any, *args: Any) -> None:
        """Queue a write behind the previous one; a failed write surfaces here, at the next save."""
        self.flush()
        if self._writer is None:  # used outside fit: write now
            write(*args)
            return
        self._pending = self._writer.submit(write, *args)

    def flush(self) -> None:
        """Wait for the write in flight (and raise its error, if any)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if self.save_best and self._improved(trainer, epoch, logs):
            self._save_best(trainer, epoch, logs)
        due_epochs = self.every_epochs is not None and epoch % self.every_epochs == 0
        due_minutes = (
            self.every_minutes is not None and time.monotonic() - self._last_save_time >= 60 * self.every_minutes
        )
        if due_epochs or due_minutes:
            self.save(trainer, epoch)

    def _improved(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> bool:
        """Whether ``epoch`` is the best so far: early stopping on the same metric and direction decides when there
        is one (it ran before this callback, ``order``), so ``best.safetensors`` holds the weights it restores,
        smoothed or not; otherwise this callback's own raw monitor does."""
        from fitguard.train.callbacks.early_stopping import EarlyStopping

        for callback in trainer.callbacks:
            if isinstance(callback, EarlyStopping) and callback.watches(self.monitor, self.mode):
                return callback.best_epoch == epoch
        return self._monitor.update(self._monitor.value(logs), epoch)

    def on_fit_end(self, trainer: Trainer) -> None:
        # the end state is always saved, so resuming a finished run returns at once with the same result
        try:
            if trainer.epoch > 0:
                self.save(trainer, trainer.epoch)
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None

    def save(self, trainer: Trainer, epoch: int) -> Path:
        """Snapshot the full training state now; write it (in the background during fit)."""
        path = Path(self.dirpath) / f"ckpt-{epoch:06d}"
        self._submit(self._write_checkpoint, path, clone_tensors(trainer.training_state()))
        self._last_save_time = time.monotonic()
        return path.with_suffix(".json")

    def _write_checkpoint(self, path: Path, state: dict[str, Any]) -> None:
        save_state(path, state)
        for old in list_checkpoints(self.dirpath)[self.keep_last :]:
            old.with_suffix(".safetensors").unlink(missing_ok=True)
            old.unlink(missing_ok=True)

    def _save_best(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in trainer.model.state_dict().items()}
        meta = {"epoch": epoch, "monitor": self.monitor, "value": logs.get(self.monitor)}
        self._submit(self._write_best, weights, meta)
        self.best_path = Path(self.dirpath) / "best.safetensors"

    def _write_best(self, weights: dict[str, Any], meta: dict[str, Any]) -> None:
        directory = Path(self.dirpath)
        atomic_write_bytes(directory / "best.safetensors", save_safetensors(weights))
        atomic_write_bytes(directory / "best.json", json.dumps(meta, allow_nan=True).encode())

    def get_config(self) -> dict[str, Any]:
        return {
            "dirpath": self.dirpath,
            "save_best": self.save_best,
            "monitor": self.monitor,
            "mode": self.mode,
            "every_epochs": self.every_epochs,
            "every_minutes": self.every_minutes,
            "keep_last": self.keep_last,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self._monitor.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state["monitor"])
