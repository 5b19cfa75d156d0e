"""Resumable checkpoints (every N epochs / minutes, at the end) and the best model's weights.

Layout of ``dirpath``::

    ckpt-000005.safetensors / .json   full training state after epoch 5 (see fitguard.train.state_io)
    best.safetensors / best.json      the best epoch's weights and its epoch/metric

A kill during a write leaves the previous pair intact; ``keep_last`` bounds how many full checkpoints stay.
The training thread only copies the state's tensors on their device (once two snapshots are written, a memcpy into
the buffers of one the writer is done with -- up to two such spare copies are held during ``fit``, none after it --,
so nothing is allocated: a small model's checkpoint costs it a fraction of a millisecond; a model over 64 MiB of
weights on a GPU is copied to host memory instead, so queued snapshots do not crowd the GPU); one
background thread serializes, checksums and writes, in order, skipping a file whose content is already on disk.
The training thread waits only when two epochs' writes are still queued, and at the end of ``fit`` — also when
training raised: the last complete epoch's checkpoint is on disk before the exception leaves ``fit``, and a
half-trained epoch is never saved.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from fitguard._validation import check_int
from fitguard.errors import FitguardError
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.monitor import Monitor
from fitguard.train.state_io import (
    atomic_write_bytes,
    encode_split,
    load_state,
    safetensors_parts,
    snapshot_state,
    write_encoded,
)

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer

_CKPT = re.compile(r"^ckpt-(\d{6})\.json$")
# a model with more weights than this is snapshotted to host memory, not cloned on its GPU: up to three
# snapshots (two queued, one being written) of weights and optimizer state would crowd the GPU's memory
_GPU_SNAPSHOT_WEIGHT_BYTES = 64 << 20


def _epoch_of(path: Path) -> int:
    return int(_CKPT.match(path.name).group(1))  # type: ignore[union-attr]  # only names that matched


def list_checkpoints(dirpath: str | Path) -> list[Path]:
    """The full checkpoints in ``dirpath``, newest first.

    Args:
        dirpath: the checkpoint folder (missing: none).
    """
    dirpath = Path(dirpath)
    if not dirpath.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in dirpath.iterdir() if (m := _CKPT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def latest_valid_checkpoint(dirpath: str | Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Load the newest checkpoint that verifies; also return one message per corrupt one skipped.

    Args:
        dirpath: the checkpoint folder.

    Returns:
        The newest state that loads (None when none does) and the messages of the corrupt ones skipped.
    """
    skipped: list[str] = []
    for path in list_checkpoints(dirpath):
        try:
            return load_state(path), skipped
        except FitguardError as error:
            skipped.append(f"{error}; using the previous checkpoint")
    return None, skipped


class _OrderedWriter:
    """One background thread that runs writes in the order given. ``submit`` returns at once unless
    ``max_pending`` writes are still unfinished (then it waits for the oldest: memory for snapshots stays
    bounded when the disk is slower than training); a failed write raises in the caller's thread at the next
    ``submit``, ``flush`` or ``close``."""

    def __init__(self, max_pending: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fitguard-checkpoint")
        self._pending: deque[Future[None]] = deque()
        self._max_pending = max_pending

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        while self._pending and (self._pending[0].done() or len(self._pending) >= self._max_pending):
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(write, *args))

    def flush(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._executor.shutdown(wait=True)  # also after a failed write: the queued ones still finish


class Checkpoint(Callback):
    """Save training state to ``dirpath`` so a killed run resumes (``Trainer.fit(..., resume=dirpath)``).

    Args:
        dirpath: folder of the checkpoints (created if missing).
        save_best: also keep ``best.safetensors``, the weights of the best epoch by ``monitor``. Default True.
        monitor: the logged metric that decides "best". Default "val_loss".
        mode: "min", "max" or "auto" (min for losses and errors). Default "auto".
        every_epochs: save the full state every this many epochs; None: not by epoch count. Default None.
        every_minutes: save when this many minutes passed since the last save; None: not by time. Default 5.0.
        keep_last: how many full checkpoints stay on disk (older ones are deleted). Default 2.
        fsync: False (default): files reach the disk when the OS flushes them (within seconds): a killed or
            crashed process loses nothing, a power loss or kernel crash may lose the last seconds of checkpoints
            (a damaged one is refused by its checksum and the one before it used). True: each file is on the disk
            before the next write starts; costs a disk flush per file, in the writer thread.

    Raises:
        ValueError: ``every_epochs``, ``every_minutes`` or ``keep_last`` out of range, or an unknown ``mode``.

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
        fsync: bool = False,
    ) -> None:
        check_int("every_epochs", every_epochs, low=1, none_ok=True)
        if every_minutes is not None and not every_minutes > 0:
            raise ValueError(f"`every_minutes` must be > 0 or None, got {every_minutes!r}")
        check_int("keep_last", keep_last, low=1)
        self.dirpath = str(dirpath)
        self.save_best = save_best
        self.monitor = monitor
        self.mode = mode
        self.every_epochs = every_epochs
        self.every_minutes = every_minutes
        self.keep_last = keep_last
        self.fsync = fsync
        self._monitor = Monitor(monitor, mode)
        self._last_save_time = time.monotonic()
        self.best_path: Path | None = None
        self._writer: _OrderedWriter | None = None
        self._epoch_open = False  # an epoch started and did not reach this callback's on_epoch_end
        # the writer thread's own bookkeeping: each full checkpoint's JSON as written in this fit (it holds the
        # tensor file's CRC-32: the same JSON is the same pair), and the full checkpoints on disk, newest first
        self._written: dict[Path, bytes] = {}
        self._on_disk: list[Path] | None = None
        self._snapshot_to_host = False
        # the tensors of snapshots written (by key), whose buffers the next snapshots copy into: the writer thread
        # appends, the training thread pops (a deque's append and pop are atomic)
        self._spares: deque[dict[str, torch.Tensor]] = deque()

    def on_fit_start(self, trainer: Trainer) -> None:
        Path(self.dirpath).mkdir(parents=True, exist_ok=True)
        self._last_save_time = time.monotonic()
        self._epoch_open = False
        self._written = {}
        self._on_disk = list_checkpoints(self.dirpath)
        weight_bytes = sum(t.numel() * t.element_size() for t in trainer.model.state_dict().values())
        self._snapshot_to_host = trainer.device.type == "cuda" and weight_bytes > _GPU_SNAPSHOT_WEIGHT_BYTES
        self._writer = _OrderedWriter()

    def flush(self) -> None:
        """Wait until every queued write is on disk (and raise a failed write's error, if any)."""
        if self._writer is not None:
            self._writer.flush()

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._epoch_open = True

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self._epoch_open = False
        best = None
        if self.save_best and self._improved(trainer, epoch, logs):
            best = {"epoch": epoch, "monitor": self.monitor, "value": logs.get(self.monitor)}
        due_epochs = self.every_epochs is not None and epoch % self.every_epochs == 0
        due_minutes = (
            self.every_minutes is not None and time.monotonic() - self._last_save_time >= 60 * self.every_minutes
        )
        if best is not None or due_epochs or due_minutes:
            self._save(trainer, epoch, full=due_epochs or due_minutes, best=best)

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
        # The end state is saved, so resuming a finished run returns at once with the same result; not after an
        # exception inside an epoch, whose half-trained weights would be filed under the last complete epoch.
        try:
            if trainer.epoch > 0 and not self._epoch_open:
                self.save(trainer, trainer.epoch)
        finally:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()
            self._on_disk = None  # outside fit the folder is listed again at each save
            self._spares.clear()  # no memory held between fits

    def save(self, trainer: Trainer, epoch: int) -> Path:
        """Snapshot the full training state now; write it (in the background during fit, at once outside it).

        Args:
            trainer: the trainer whose :meth:`~fitguard.train.Trainer.training_state` is saved.
            epoch: the epoch the checkpoint is named after (``ckpt-{epoch:06d}``).

        Returns:
            The checkpoint's ``.json`` path (its tensors sit beside it in ``.safetensors``).
        """
        return self._save(trainer, epoch, full=True, best=None)

    def _save(self, trainer: Trainer, epoch: int, full: bool, best: dict[str, Any] | None) -> Path:
        """Snapshot once, on the model's device, for both the full checkpoint and the best weights."""
        path = Path(self.dirpath) / f"ckpt-{epoch:06d}"
        spare = self._spares.pop() if self._spares else None
        tree, tensors = snapshot_state(trainer.training_state(), "cpu" if self._snapshot_to_host else None, spare)
        ready = None
        if trainer.device.type == "cuda" and not self._snapshot_to_host:  # the writer waits for the clones
            ready = torch.cuda.Event()
            ready.record()
        job = (path if full else None, tree, tensors, best, ready)
        if self._writer is None:  # used outside fit
            self._write(*job)
        else:
            self._writer.submit(self._write_and_recycle, *job)
        if full:
            self._last_save_time = time.monotonic()
        if best is not None:
            self.best_path = Path(self.dirpath) / "best.safetensors"
        return path.with_suffix(".json")

    def _write(self, path: Path | None, tree: Any, tensors: dict[str, torch.Tensor], best: dict[str, Any] | None,
               ready: torch.cuda.Event | None) -> None:
        if ready is not None:
            ready.synchronize()
        if best is not None:  # a new best epoch: new weights, never the content already on disk
            directory = Path(self.dirpath)
            prefix = "state.model."  # the model's weights in the snapshot (Trainer.training_state()["model"])
            weights = {k[len(prefix) :]: v.cpu() for k, v in tensors.items() if k.startswith(prefix)}
            atomic_write_bytes(directory / "best.safetensors", safetensors_parts(weights), fsync=self.fsync)
            atomic_write_bytes(directory / "best.json", json.dumps(best, allow_nan=True).encode(), fsync=self.fsync)
        if path is not None:
            encoded = encode_split(tree, tensors)
            json_path = path.with_suffix(".json")
            if self._written.get(json_path) != encoded.meta or not path.with_suffix(".safetensors").exists():
                write_encoded(path, encoded, fsync=self.fsync)
                self._written[json_path] = encoded.meta
            on_disk = list_checkpoints(self.dirpath) if self._on_disk is None else self._on_disk
            if json_path not in on_disk:
                on_disk = sorted([*on_disk, json_path], key=_epoch_of, reverse=True)
            for old in on_disk[self.keep_last :]:
                old.with_suffix(".safetensors").unlink(missing_ok=True)
                old.unlink(missing_ok=True)
                self._written.pop(old, None)
            if self._on_disk is not None:
                self._on_disk = on_disk[: self.keep_last]

    def _write_and_recycle(self, path: Path | None, tree: Any, tensors: dict[str, torch.Tensor],
                           best: dict[str, Any] | None, ready: torch.cuda.Event | None) -> None:
        """The writer thread's job during fit: write, then offer the snapshot's buffers to the next snapshot."""
        self._write(path, tree, tensors, best, ready)
        if len(self._spares) < 2:
            self._spares.append(tensors)

    def get_config(self) -> dict[str, Any]:
        return {
            "dirpath": self.dirpath,
            "save_best": self.save_best,
            "monitor": self.monitor,
            "mode": self.mode,
            "every_epochs": self.every_epochs,
            "every_minutes": self.every_minutes,
            "keep_last": self.keep_last,
            "fsync": self.fsync,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self._monitor.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._monitor.load_state_dict(state["monitor"])
