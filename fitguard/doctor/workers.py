"""``fitguard doctor --workers N`` and ``fitguard doctor --join RUN_DIR_OR_URL``: the processes that train a run's
queued fold trainings (:mod:`fitguard.doctor.queue`).

With ``--workers N`` (N > 1) the run creates the queue in its storage once it has read its data, then starts N - 1
``fitguard doctor --join RUN_DIR`` processes (:class:`WorkerPool`); it and they train queued folds with ``1 / N`` of
the torch threads this process had, so that N trainings share the cores. ``--join`` (:func:`join_run`) reads the
run's ``run.json``, loads the same data (refused when their fingerprint differs), and trains queued folds until the
run marks its queue finished (when it ends, or fails), or the run's process is gone (its run-folder lock is free),
or no work came for :data:`IDLE_SECONDS`.

With ``--storage URL`` (PostgreSQL, or ``grpc://HOST:PORT``: Optuna's gRPC storage proxy in front of one) the run's
studies live in that database under a run id, with the run's description (options, spec, data fingerprint), and the
run always queues its folds: ``fitguard doctor --join URL`` on any machine that reaches the database (or the proxy)
-- and has the data -- reads the description there and trains queued folds until the run marks its queue finished
or no work came for :data:`IDLE_SECONDS` (it cannot see the run's folder lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from fitguard.doctor.store import STORAGE_FILE, RunStorage, data_fingerprint, doctor_marker, doctor_runs, storage_url
from fitguard.errors import FitguardError
from fitguard.runs import LOCK
from fitguard.search.storage import canonical_url, masked_url

#: a ``--join`` process with no work for this long stops
IDLE_SECONDS = 1800.0
#: the environment variable through which a run gives its ``--join`` processes its ``--storage`` URL, password
#: included (``run.json`` records it masked)
STORAGE_VARIABLE = "FITGUARD_DOCTOR_STORAGE"
#: seconds the run waits for its workers to stop once their queue is finished, before it terminates them
STOP_SECONDS = 15.0


class WorkerPool:
    """A run's worker processes: ``start`` creates the queue and starts ``workers - 1`` ``--join`` processes (no queue
    with one worker and the run folder's own storage); leaving the ``with`` block marks the queue finished and waits
    for them (terminating those still running after :data:`STOP_SECONDS`), also when the run fails.

    Args:
        workers: processes training folds on this machine, this one included.
        run_dir: the run folder.
    """

    def __init__(self, workers: int, run_dir: Path) -> None:
        self.workers = workers
        self.run_dir = Path(run_dir)
        self.queue: FoldQueue | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, data: Dataset, deadline: Callable[[], float], storage: RunStorage) -> FoldQueue | None:
        """Create the run's queue and start the ``--join`` processes; the queue this process scores through, or None
        with one worker and the run folder's storage. A shared storage (``--storage``) always gets a queue: ``--join
        URL`` processes on other machines may train its folds. Call it once the run's ``run.json`` records its
        data (and the storage its description).

        Args:
            data: the run's dataset.
            deadline: gives the search's deadline in ``time.perf_counter()`` units.
            storage: where the run's studies live.
        """
        if self.workers <= 1 and not storage.shared:
            return None
        create_queue(storage.url, storage.queue)
        threads = max(1, torch.get_num_threads() // self.workers)
        self.queue = FoldQueue(open_queue_storage(storage.url), FoldCache(data), deadline, threads, storage.queue,
                               processes=self.workers, joinable=storage.shared)
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if storage.shared:  # the URL's password is not in run.json: the workers get the URL from their environment
            environment[STORAGE_VARIABLE] = storage.url
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


def join_run(target: str, data_path: str | None = None, ready: Callable[[str], None] | None = None) -> int:
    """``fitguard doctor --join RUN_DIR_OR_URL``: train the queued folds of a running doctor run until it ends; how
    many this process trained.

    ``target`` is the run's folder (its ``run.json`` gives the options, data and storage), or the URL of the
    ``--storage`` it keeps its trials in, a database's or a gRPC storage proxy's ``grpc://HOST:PORT`` (then the
    storage's record of the run gives them, and no run folder is needed): ``URL#RUN_ID`` picks one of several runs
    there, a plain ``URL`` the one that queues work.

    Args:
        target: the run folder or the storage URL.
        data_path: where this machine has the run's data (``--data``); None (default): the path the run used.
        ready: called once the data are loaded, before the first job is taken, with a line naming the run joined
            (where it runs); None (default): nothing.

    Raises:
        FitguardError: no running doctor run that queues work there (or several, with the storage's URL alone), a
            database or gRPC storage proxy that cannot be reached, or this process loads other data than the run did
            (each one line; nothing is changed).
    """
    from fitguard.config import TrainConfig
    from fitguard.doctor.options import DoctorOptions
    from fitguard.doctor.pipeline import _load

    if "://" in target:
        storage, stored = _joinable_storage(target)
        where = storage.shown
        stop: Callable[[float], bool] = lambda idle: idle > IDLE_SECONDS  # noqa: E731 -- no run folder to look at
    else:
        stored = _joinable(Path(target))
        storage = _folder_storage(Path(target), stored)
        where = target
        lock = Path(target) / LOCK
        stop = lambda idle: idle > IDLE_SECONDS or not _held(lock)  # noqa: E731
    options = DoctorOptions(**{**stored["options"], "join": None, "workers": 1, "storage": None})
    base = TrainConfig.model_validate(stored["config"])
    if data_path is not None:
        options = dataclasses.replace(options, data=data_path)
        base = base.model_copy(update={"data": base.data.model_copy(update={"source": data_path})})
    data = _load(options, base, None)
    if data_fingerprint(data) != stored["data_fingerprint"]:
        raise FitguardError(f"cannot join {where!r}: the data this process loaded differ from the run's (other rows, "
                            f"targets or splits of --data {base.data.source}); give it the same data")
    queue = FoldQueue(open_queue_storage(storage.url), name=storage.queue)
    folds = FoldCache(data)
    if ready is not None:
        run = f"run {storage.run_id} of {stored.get('host', '?')}:{stored.get('run_dir', '?')}" if storage.shared \
            else f"the run in {where}"
        ready(f"joined {run}; training its queued folds")
    return queue.serve(lambda job: train_job(base, data, folds.parts(job), job), stop=stop)


def _joinable(run_dir: Path) -> dict[str, Any]:
    """The ``run.json`` of the running doctor run in ``run_dir`` that queues work, or one line saying why not
    (read without writing anything)."""
    where = str(run_dir)
    stored = doctor_marker(run_dir, "join", "give the --out of a running `fitguard doctor --workers N`")
    if (run_dir / "summary.json").is_file():
        raise FitguardError(f"cannot join {where!r}: that run finished (it wrote summary.json)")
    storage = _folder_storage(run_dir, stored)
    if storage.run_id is not None:
        state = doctor_runs(storage.url).get(storage.run_id, {}).get("queue")
    else:
        state = _queue_state(run_dir)
    _check_queue(where, state if "data_fingerprint" in stored else None)
    return stored


def _folder_storage(run_dir: Path, stored: dict[str, Any]) -> RunStorage:
    """The storage of the run whose ``run.json`` is ``stored``: its folder's, or the one it recorded (its URL from
    :data:`STORAGE_VARIABLE` when the run that started this process set it: the recorded one has no password)."""
    recorded = stored.get("storage")
    if recorded is None:
        return RunStorage(storage_url(run_dir))
    given = os.environ.get(STORAGE_VARIABLE)
    url = given if given is not None and masked_url(given) == recorded["url"] else recorded["url"]
    return RunStorage(url, recorded["run_id"])


def _joinable_storage(target: str) -> tuple[RunStorage, dict[str, Any]]:
    """The storage and description of the running doctor run ``URL`` or ``URL#RUN_ID`` names, or one line saying why
    not (read without writing anything)."""
    url, _, run_id = target.partition("#")
    url = canonical_url(url)
    shown = masked_url(url)
    runs = doctor_runs(url)
    if not runs:
        raise FitguardError(f"cannot join {shown!r}: it holds no doctor run; start one with `fitguard doctor "
                            "--storage URL`")
    listed = "; ".join(f"{key} ({_state(run)}, {run.get('host', '?')}:{run.get('run_dir', '?')})"
                       for key, run in sorted(runs.items()))
    if not run_id:
        running = [key for key, run in runs.items() if _state(run) == "running"]
        if len(running) != 1:
            raise FitguardError(f"cannot join {shown!r}: it holds {len(running) or 'no'} running doctor runs "
                                f"({listed}); give --join URL#RUN_ID")
        run_id = running[0]
    if run_id not in runs:
        raise FitguardError(f"cannot join {shown!r}: it holds no doctor run {run_id!r} ({listed})")
    run = runs[run_id]
    where = f"{shown}#{run_id}"
    if run.get("finished"):
        raise FitguardError(f"cannot join {where!r}: that run finished (it wrote its summary)")
    _check_queue(where, run["queue"])
    return RunStorage(url, run_id), run


def _state(run: dict[str, Any]) -> str:
    """A stored run's state as ``--join`` lists it: finished, running (its queue is open) or stopped."""
    return "finished" if run.get("finished") else "running" if run["queue"] == "open" else "stopped"


def _check_queue(where: str, state: str | None) -> None:
    """Refuse, in one line, to join a run whose queue ``state`` is "finished" or missing (None)."""
    if state == "finished":
        raise FitguardError(f"cannot join {where!r}: that run ended before it finished (its queue is closed); "
                            "`fitguard doctor --resume` continues it")
    if state is None:
        raise FitguardError(f"cannot join {where!r}: that run queues no work (it was started without --workers N, "
                            "N > 1, or has not read its data yet)")


def _queue_state(run_dir: Path) -> str | None:
    """"open" or "finished" for the queue in the run folder's own storage, None without one (only read)."""
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
