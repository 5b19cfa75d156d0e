"""``fitguard doctor --workers N`` and ``fitguard doctor --join RUN_DIR``: the processes that train a run's queued
fold trainings (:mod:`fitguard.doctor.queue`).

With ``--workers N`` (N > 1) the run creates the queue in its storage once it has read its data, then starts N - 1
``fitguard doctor --join RUN_DIR`` processes (:class:`WorkerPool`); it and they train queued folds with ``1 / N`` of
the torch threads this process had, so that N trainings share the cores. ``--join`` (:func:`join_run`) reads the
run's ``run.json``, loads the same data (refused when their fingerprint differs), and trains queued folds until the
run marks its queue finished (when it ends, or fails), or the run's process is gone (its run-folder lock is free),
or no work came for :data:`IDLE_SECONDS`. A ``--join`` process may also be started by hand, on this machine or
another that sees the run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from fitguard.data import Dataset
from fitguard.doctor.queue import QUEUE, FoldCache, FoldQueue, create_queue, open_queue_storage, train_job
from fitguard.doctor.store import STORAGE_FILE, data_fingerprint, doctor_marker, storage_url
from fitguard.errors import FitguardError
from fitguard.runs import LOCK

#: a ``--join`` process with no work for this long stops
IDLE_SECONDS = 1800.0
#: seconds the run waits for its workers to stop once their queue is finished, before it terminates them
STOP_SECONDS = 15.0


class WorkerPool:
    """A run's worker processes: ``start`` creates the queue and starts ``workers - 1`` ``--join`` processes (nothing
    when ``workers`` is 1); leaving the ``with`` block marks the queue finished and waits for them (terminating
    those still running after :data:`STOP_SECONDS`), also when the run fails.

    Args:
        workers: processes training folds, this one included.
        run_dir: the run folder.
    """

    def __init__(self, workers: int, run_dir: Path) -> None:
        self.workers = workers
        self.run_dir = Path(run_dir)
        self.queue: FoldQueue | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, data: Dataset, deadline: Callable[[], float]) -> FoldQueue | None:
        """Create the run's queue and start the ``--join`` processes; the queue this process scores through, or None
        with one worker. Call it once the run's ``run.json`` records its data.

        Args:
            data: the run's dataset.
            deadline: gives the search's deadline in ``time.perf_counter()`` units.
        """
        if self.workers <= 1:
            return None
        url = storage_url(self.run_dir)
        create_queue(url)
        threads = max(1, torch.get_num_threads() // self.workers)
        self.queue = FoldQueue(open_queue_storage(url), FoldCache(data), deadline, threads)
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        for number in range(1, self.workers):
            with (self.run_dir / f"worker-{number}.log").open("wb") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "fitguard.cli", "doctor", "--join", str(self.run_dir.resolve())],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment))
        return self.queue

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.queue is not None:
            # a storage that is gone: the workers stop when the run folder's lock is free
            with contextlib.suppress(Exception):
                self.queue.finish()
        until = time.monotonic() + STOP_SECONDS
        for number, process in enumerate(self.processes, 1):
            try:
                process.wait(max(0.0, until - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL) and kind is None:
                warnings.warn(f"worker process {number} exited with code {process.returncode}: see "
                              f"{self.run_dir / f'worker-{number}.log'}", stacklevel=2)


def join_run(run_dir: Path) -> int:
    """``fitguard doctor --join RUN_DIR``: train the queued folds of the doctor run in ``run_dir`` until it ends; how
    many this process trained.

    Args:
        run_dir: the folder of a running ``fitguard doctor --workers N``.

    Raises:
        FitguardError: the folder holds no doctor run, one that finished or queues no work, or this process loads
            other data than the run did (each one line; nothing in the folder is changed).
    """
    from fitguard.config import TrainConfig
    from fitguard.doctor.options import DoctorOptions
    from fitguard.doctor.pipeline import _load

    where = str(run_dir)
    stored = _joinable(Path(run_dir))
    options = DoctorOptions(**{**stored["options"], "join": None, "workers": 1})
    base = TrainConfig.model_validate(stored["config"])
    data = _load(options, base, None)
    if data_fingerprint(data) != stored["data_fingerprint"]:
        raise FitguardError(f"cannot join {where!r}: the data this process loaded differ from the run's (other rows, "
                            f"targets or splits of --data {options.data}); give it the same data")
    queue = FoldQueue(open_queue_storage(storage_url(Path(run_dir))))
    folds = FoldCache(data)
    lock = Path(run_dir) / LOCK
    return queue.serve(lambda job: train_job(base, data, folds.parts(job), job),
                       stop=lambda idle: idle > IDLE_SECONDS or not _held(lock))


def _joinable(run_dir: Path) -> dict[str, Any]:
    """The ``run.json`` of the running doctor run in ``run_dir`` that queues work, or one line saying why not
    (read without writing anything)."""
    where = str(run_dir)
    stored = doctor_marker(run_dir, "join", "give the --out of a running `fitguard doctor --workers N`")
    if (run_dir / "summary.json").is_file():
        raise FitguardError(f"cannot join {where!r}: that run finished (it wrote summary.json)")
    state = _queue_state(run_dir)
    if state == "finished":
        raise FitguardError(f"cannot join {where!r}: that run ended before it finished (its queue is closed); "
                            "`fitguard doctor --resume` continues it")
    if state is None or "data_fingerprint" not in stored:
        raise FitguardError(f"cannot join {where!r}: that run queues no work (it was started without --workers N, "
                            "N > 1, or has not read its data yet)")
    return stored


def _queue_state(run_dir: Path) -> str | None:
    """"open" or "finished" for the run's queue, None without one (the storage is only read)."""
    import sqlite3

    path = run_dir / STORAGE_FILE
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as db:
            rows = db.execute("select a.value_json from studies s left join study_user_attributes a on "
                              "a.study_id = s.study_id and a.key = 'finished' where s.study_name = ?",
                              (QUEUE,)).fetchall()
    except sqlite3.Error:
        return None
    if not rows or rows[0][0] is None:
        return None
    return "finished" if json.loads(rows[0][0]) else "open"


def _held(lock: Path) -> bool:
    """Whether a process holds the run folder's lock (:func:`fitguard.runs.claim_run_dir`): the run is alive. Tested
    by a shared lock taken and released at once; without ``fcntl`` a lock file that exists counts as held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover -- POSIX only
        return lock.is_file()
    try:
        with lock.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False
