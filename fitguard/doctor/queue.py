"""A score's trainings as queued jobs, so that several processes train them (``--workers``, ``--join``).

When a doctor run has workers (or a shared ``--storage``), the scorer (:class:`fitguard.doctor.phases.Scorer`) puts
a recipe's k fold trainings (or its one holdout training, "fold 1 of 1"), together with those of the other
candidates of its batch (:meth:`~fitguard.doctor.phases.Scorer.evaluate_candidates`), in the run's storage as
WAITING trials of the study :data:`QUEUE` (``-RUN_ID`` after it in a shared storage), each carrying all a process
needs to train it (:class:`FoldJob`: recipe, name, phase, training options, which fold of which folds, the search's
deadline). Any process takes one (an atomic WAITING -> RUNNING, :func:`fitguard.search.workers.take_queued`), trains
it with a heartbeat through :func:`train_job` -- the one function every process trains a job with --, writes the
fold's Trial and History on the job and completes it. The process that queued them trains queued jobs too while any
is waiting, then waits for its own (the phase's barrier) and takes their mean as it would have after training them
itself.

A job whose process died keeps RUNNING with a heartbeat that stops; whoever looks for work or waits (every
:data:`POLL_SECONDS`) fails it once the heartbeat is :data:`GRACE_SECONDS` old, and Optuna's retry callback queues a
copy: each job is trained once, and once more each time its worker dies (at most :data:`MAX_RETRY` more times).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from fitguard.config import TrainConfig
from fitguard.data import Dataset, TensorData, kfold
from fitguard.search.evaluate import fold_mean, grouped_run, grouped_sibling_trials, recipe_config, train_candidate
from fitguard.search.scoring import Trial
from fitguard.search.workers import MAX_RETRY, StaleTrials, heartbeat
from fitguard.train import Callback, History

#: the Optuna study, in the run's storage, that holds the queued fold trainings
QUEUE = "doctor-queue"
#: seconds between a running job's heartbeats
HEARTBEAT_SECONDS = 2
#: seconds without a heartbeat after which a running job's process counts as dead
GRACE_SECONDS = 10
#: seconds between two looks at the queue of a process that waits
POLL_SECONDS = 0.2
#: seconds within which a process that took a job counts as one of the run's (:meth:`FoldQueue.capacity`)
ACTIVE_SECONDS = 120


@dataclass(frozen=True)
class FoldJob:
    """One training of a score (a fold of a cross-validated one, or the holdout training), as stored on its queued
    trial.

    Args:
        call: identifies the score the job belongs to (one per scored recipe).
        fold: the fold's number, from 1; 0: every fold, trained as one grouped network.
        folds: how many folds (``k`` of :func:`fitguard.data.kfold`; 1: the holdout split).
        seed: the folds' shuffle seed.
        folds_fingerprint: :func:`folds_fingerprint` of the folds, checked by the process that trains it.
        recipe: the recipe to train.
        name: the candidate's name.
        phase: the search phase.
        options: ``train`` section keys put on top of the recipe's.
        deadline: the search's deadline when the job was queued, in ``time.time()`` seconds; None: none.
    """

    call: str
    fold: int
    folds: int
    seed: int
    folds_fingerprint: str
    recipe: dict[str, Any]
    name: str
    phase: str
    options: dict[str, Any]
    deadline: float | None

    def to_attrs(self) -> dict[str, Any]:
        """The job as the queued trial's user attribute ``job`` holds it (plain JSON)."""
        return {"job": json.loads(json.dumps(asdict(self)))}

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> FoldJob:
        """The job a queued trial's user attributes hold.

        Args:
            attrs: the trial's user attributes.
        """
        return cls(**attrs["job"])


def folds_fingerprint(folds: list[tuple[TensorData, TensorData]]) -> str:
    """A hash of every fold's training and validation rows and targets: a worker must train the folds the run
    queued, not folds it rebuilt otherwise.

    Args:
        folds: the ``(train, val)`` pairs.
    """
    digest = hashlib.sha256()
    for part in (p for pair in folds for p in pair):
        for tensor in (part.X, part.y):
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def train_job(base: TrainConfig, data: Dataset,
              parts: tuple[TensorData, TensorData] | list[tuple[TensorData, TensorData]], job: FoldJob,
              callbacks: tuple[Callback, ...] = ()) -> Trial:
    """Train one queued job on its rows ``parts``, stopped at the job's deadline: what every process runs, so that
    a fold's result does not depend on which one took it. A grouped job ("fold 0") trains every fold as one grouped
    network, as the run's own process would (:meth:`fitguard.search.Evaluator.fold_trials`), and gives their mean.

    Args:
        base: the run's base spec.
        data: the run's dataset.
        parts: the job's fold, ``(train, val)``; for a grouped job, every fold.
        job: the job.
        callbacks: more callbacks for the trainer (the run's own, when the run's process trains it; default none).

    Raises:
        RuntimeError: a grouped job whose folds this process may not group.
    """
    from fitguard.doctor.phases import DEADLINE_STOP, StopAtDeadline  # phases imports this module

    at = time.perf_counter() + job.deadline - time.time() if job.deadline is not None else math.inf
    if job.fold == 0:
        folds = list(parts)  # type: ignore[arg-type]
        run = grouped_run(recipe_config(base, job.recipe, job.options), data)
        if run is None:
            raise RuntimeError(f"{job.name}: its folds were queued as one grouped job, which this process cannot group")
        trials, = grouped_sibling_trials([(run, job.recipe, job.name)], folds, phase=job.phase, deadline=lambda: at,
                                         deadline_reason=DEADLINE_STOP)
        return fold_mean(job.recipe, job.name, job.phase, trials)
    if job.deadline is not None:
        callbacks = (*callbacks, StopAtDeadline(lambda: at))
    return train_candidate(base, data, job.recipe, name=job.name, phase=job.phase, fold=job.fold,
                           parts=parts,  # type: ignore[arg-type]
                           options=job.options, callbacks=callbacks)


class FoldQueue:
    """The run's queue of fold jobs in its storage (see the module docstring): ``scatter`` from the run's process,
    ``serve`` from a worker's.

    Args:
        storage: the run's Optuna storage, with heartbeats (:func:`open_queue_storage`).
        folds: the folds a worker builds of the run's data (:class:`FoldCache`): only folds it can build are queued;
            None (default): none are (a worker's queue, which only takes jobs).
        deadline: gives the search's deadline in ``time.perf_counter()`` units (inf: none); None (default): none.
        threads: torch threads this process trains a job with (then set back); None (default): as they are.
        name: the queue study's name (:attr:`fitguard.doctor.store.RunStorage.queue`); default :data:`QUEUE`.
        processes: the run's own processes that train jobs (``--workers``; default 1).
        joinable: whether processes on other machines may join (a shared ``--storage``; default False).
    """

    def __init__(self, storage: Any, folds: FoldCache | None = None, deadline: Callable[[], float] | None = None,
                 threads: int | None = None, name: str = QUEUE, processes: int = 1, joinable: bool = False) -> None:
        import optuna

        self.storage = storage
        self.study = optuna.load_study(study_name=name, storage=storage)
        self.study_id = self.study._study_id
        # Optuna's heartbeat needs an RDB storage; through a GrpcStorageProxy the jobs beat in a system attribute
        self._stale = StaleTrials(self.study, GRACE_SECONDS, MAX_RETRY)
        self.folds = folds
        self.deadline = deadline
        self.threads = threads
        self.processes = processes
        self.joinable = joinable
        self._fingerprints: dict[int, tuple[Any, str | None]] = {}

    def capacity(self) -> int:
        """How many trainings to queue at once so that every process has one: the run's own ``processes``; in a
        joinable queue at least one more than the processes that took a job in the last :data:`ACTIVE_SECONDS`
        (joiners on other machines announce themselves only by taking jobs: each batch offers one more than were
        seen, so the batches grow to the processes there are)."""
        if not self.joinable:
            return self.processes
        since = datetime.datetime.now() - datetime.timedelta(seconds=ACTIVE_SECONDS)
        seen = {t.user_attrs.get("worker") for t in self.storage.get_all_trials(self.study_id, deepcopy=False)
                if t.datetime_start is not None and t.datetime_start >= since}
        return max(self.processes, len(seen - {None}) + 1)

    def jobs(self, recipe: dict[str, Any], *, name: str, phase: str, options: dict[str, Any],
             folds: list[tuple[TensorData, TensorData]], seed: int, grouped: bool = False) -> list[FoldJob] | None:
        """The jobs of one score (one per fold; one for the holdout split, given as the one fold ``[(train, val)]``);
        None when a worker could not build ``folds`` (they are neither :func:`fitguard.data.kfold`'s of train + val
        with ``seed`` nor the holdout split, e.g. the learning curve's subsets): the caller then trains them itself.

        Args:
            recipe: the recipe.
            name: the candidate's name.
            phase: the search phase.
            options: the training options.
            folds: the folds.
            seed: the shuffle seed :func:`fitguard.data.kfold` made them with, if it did.
            grouped: the folds train as one grouped network (:func:`fitguard.search.evaluate.grouped_run`): one
                job, "fold 0", trains them all and takes their mean (default False: one job a fold).
        """
        if id(folds) not in self._fingerprints:  # the list is kept with it, so its id stays its own
            fingerprint = folds_fingerprint(folds)
            same = self.folds is not None and self.folds.built(len(folds), seed)[1] == fingerprint
            self._fingerprints[id(folds)] = (folds, fingerprint if same else None)
        shared = self._fingerprints[id(folds)][1]
        if shared is None:
            return None
        deadline = self.deadline() if self.deadline is not None else math.inf
        wall = time.time() + deadline - time.perf_counter() if math.isfinite(deadline) else None
        call = uuid.uuid4().hex
        if grouped:
            return [FoldJob(call, 0, len(folds), seed, shared, recipe, name, phase, options, wall)]
        return [FoldJob(call, index + 1, len(folds), seed, shared, recipe, name, phase, options, wall)
                for index in range(len(folds))]

    def scatter(self, jobs: list[FoldJob], train: Callable[[FoldJob], Trial]) -> list[Trial]:
        """Queue ``jobs``, train queued jobs with ``train`` while any is waiting, then wait until each of ``jobs`` is
        complete; their trials, in the jobs' order (:meth:`put`, then :meth:`gather`).

        Args:
            jobs: the jobs to queue.
            train: trains a job in this process.

        Raises:
            RuntimeError: a job's training failed (its error), or its workers died more than ``MAX_RETRY`` times.
        """
        return self.gather(self.put(jobs), train)

    def put(self, jobs: list[FoldJob]) -> list[int]:
        """Queue ``jobs`` (WAITING); their trial ids.

        Args:
            jobs: the jobs to queue.
        """
        import optuna
        from optuna.trial import TrialState

        return [self.storage.create_new_trial(self.study_id, template_trial=optuna.trial.create_trial(
            state=TrialState.WAITING, user_attrs=job.to_attrs())) for job in jobs]

    def gather(self, ids: list[int], train: Callable[[FoldJob], Trial]) -> list[Trial]:
        """Train queued jobs with ``train`` while any is waiting, then wait until the jobs ``ids`` (or their retries)
        are complete; their trials, in that order.

        Args:
            ids: the jobs' trial ids (:meth:`put`).
            train: trains a job in this process.

        Raises:
            RuntimeError: a job's training failed (its error), or its workers died more than ``MAX_RETRY`` times.
        """
        from fitguard.search.workers import take_queued

        ids = list(ids)
        lost: dict[int, float] = {}
        while True:
            self.fail_stale()
            taken = take_queued(self.storage, self.study_id)
            if taken is not None:
                self.run(taken, train, reraise=True)
                continue
            trials = self._gathered(ids, lost)
            if trials is not None:
                return trials
            time.sleep(POLL_SECONDS)

    def serve(self, train: Callable[[FoldJob], Trial], stop: Callable[[float], bool]) -> int:
        """Take and train queued jobs until the run marks the queue finished or ``stop(idle)`` says so (asked while
        there is no work, with the seconds since the last job); how many jobs this process completed.

        Args:
            train: trains a job.
            stop: given the seconds this process has been idle, whether to stop waiting for work.
        """
        from fitguard.search.workers import take_queued

        done = 0
        idle_since = time.monotonic()
        while not self.finished():
            try:
                self.fail_stale()
                taken = take_queued(self.storage, self.study_id)
            except KeyError:  # the queue was replaced meanwhile: finished() follows it, or says it is gone
                continue
            if taken is None:
                if stop(time.monotonic() - idle_since):
                    break
                time.sleep(POLL_SECONDS)
                continue
            done += self.run(taken, train, reraise=False)
            idle_since = time.monotonic()
        return done

    def run(self, trial_id: int, train: Callable[[FoldJob], Trial], *, reraise: bool) -> int:
        """Train the taken job ``trial_id`` with heartbeats; write its trial and history and complete it. A training
        that fails is recorded (user attribute ``error``) and the job failed; ``reraise``: raised again here too. A
        process stopped meanwhile (Ctrl-C) fails the job and queues it again. Returns 1 when the job was completed,
        else 0 (failed, or failed meanwhile as stale: then its retry counts).

        Args:
            trial_id: a job this process took (RUNNING).
            train: trains the job.
            reraise: raise a training's error after recording it (the run's own process) rather than go on.
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        from fitguard.doctor.store import plain
        from fitguard.search.workers import requeue

        job = FoldJob.from_attrs(self.storage.get_trial(trial_id).user_attrs)
        beating = heartbeat(self.storage, trial_id, HEARTBEAT_SECONDS)
        previous = torch.get_num_threads()
        try:
            self.storage.set_trial_user_attr(trial_id, "worker", f"{socket.gethostname()}:{os.getpid()}")
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            trial = train(job)
        except (KeyboardInterrupt, SystemExit):  # this process is stopped, the job is not at fault: give it back
            with contextlib.suppress(UpdateFinishedTrialError):
                if self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    requeue(self.study, self.storage.get_trial(trial_id))
            raise
        except Exception as error:  # the training's own failure: recorded, never retried blindly
            message = str(error).splitlines()[0] if str(error) else ""
            with contextlib.suppress(UpdateFinishedTrialError):
                self.storage.set_trial_user_attr(trial_id, "error", f"{type(error).__name__}: {message}")
                self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
            if reraise:
                raise
            return 0
        finally:
            torch.set_num_threads(previous)
            beating.stop()
        history = trial.history.to_dict() if trial.history is not None else None
        try:
            self.storage.set_trial_user_attr(trial_id, "result", plain({"trial": trial.to_dict(), "history": history}))
            self.storage.set_trial_state_values(trial_id, state=TrialState.COMPLETE, values=[0.0])
        except UpdateFinishedTrialError:
            # failed as stale meanwhile (a heartbeat that could not be written): its retry is queued and will be
            # trained; this result is dropped so that one result counts -- unless the storage holds this very
            # write (a write that landed but was answered as refused): then this process completed it
            try:
                return int(_completed_here(self.storage.get_trial(trial_id)))
            except Exception:  # the storage cannot be read back now: count nothing, as before
                return 0
        return 1

    def fail_stale(self) -> None:
        """Fail the running jobs whose heartbeat stopped; a copy of each is queued (Optuna's retry callback, or
        :class:`~fitguard.search.workers.StaleTrials` in a storage without Optuna's heartbeat, where a job whose beat
        this process saw unchanged for ``GRACE_SECONDS`` of its own clock is failed)."""
        self._stale.fail()

    def finished(self) -> bool:
        """Whether the run marked the queue finished (no more jobs will come), or deleted it. A queue replaced by
        one of the same name (a ``--resume`` of the killed run) is followed: its jobs are the same run's."""
        import optuna

        try:
            return bool(self.storage.get_study_user_attrs(self.study_id).get("finished"))
        except KeyError:  # Optuna's "study not found": load the queue of that name again, if there is one
            pass
        try:
            self.study = optuna.load_study(study_name=self.study.study_name, storage=self.storage)
        except KeyError:
            return True
        self.study_id = self.study._study_id
        self._stale = StaleTrials(self.study, GRACE_SECONDS, MAX_RETRY)
        return self.finished()

    def finish(self) -> None:
        """Mark the queue finished: the workers stop once idle."""
        self.storage.set_study_user_attr(self.study_id, "finished", True)

    def _gathered(self, ids: list[int], lost: dict[int, float]) -> list[Trial] | None:
        """The trials of the jobs ``ids`` when all are complete, else None; a job failed as stale is followed to its
        retry (``ids`` updated in place), or queued again when its retry is missing for ``GRACE_SECONDS``."""
        from optuna.trial import TrialState

        from fitguard.search.workers import requeue

        results: list[Trial] = []
        for place, trial_id in enumerate(ids):
            frozen = self.storage.get_trial(trial_id)
            if frozen.state == TrialState.COMPLETE:
                record = frozen.user_attrs["result"]
                trial = Trial(**record["trial"])
                trial.history = History.from_dict(record["history"]) if record["history"] is not None else None
                results.append(trial)
                continue
            if frozen.state != TrialState.FAIL:
                continue
            job = FoldJob.from_attrs(frozen.user_attrs)
            if "error" in frozen.user_attrs:
                raise RuntimeError(f"the training of {job.name!r} fold {job.fold} failed in process "
                                   f"{frozen.user_attrs.get('worker', '?')}: {frozen.user_attrs['error']}")
            retry = next((t for t in self.storage.get_all_trials(self.study_id, deepcopy=False)
                          if t.system_attrs.get("failed_trial") == frozen.number), None)
            if retry is not None:
                ids[place] = retry._trial_id
                continue
            died = len(frozen.system_attrs.get("retry_history", [])) + 1
            if died > MAX_RETRY:
                raise RuntimeError(f"the training of {job.name!r} fold {job.fold} was lost: the processes that "
                                   f"took it died {died} times")
            if time.monotonic() - lost.setdefault(trial_id, time.monotonic()) > GRACE_SECONDS:
                requeue(self.study, frozen)  # whoever failed it died before it queued the retry
        return results if len(results) == len(ids) else None


def _completed_here(frozen: Any) -> bool:
    """Whether a job's stored trial ``frozen`` is COMPLETE with this process's result: the state, and the worker
    that took it (``host:pid``) is this one.

    Args:
        frozen: the job's ``FrozenTrial``.
    """
    from optuna.trial import TrialState

    return (frozen.state == TrialState.COMPLETE and "result" in frozen.user_attrs
            and frozen.user_attrs.get("worker") == f"{socket.gethostname()}:{os.getpid()}")


def open_queue_storage(url: str) -> Any:
    """The run's storage with heartbeats, a retry of dead workers' jobs and (SQLite) a 60 s busy timeout; through a
    gRPC storage proxy (``grpc://HOST:PORT``) a ``GrpcStorageProxy``, whose jobs beat on their own
    (:class:`~fitguard.search.workers.AttributeHeartbeat`).

    Args:
        url: the storage's URL.
    """
    from fitguard.search.storage import open_storage

    return open_storage(url, HEARTBEAT_SECONDS, GRACE_SECONDS, max_retry=MAX_RETRY)


def create_queue(url: str, name: str = QUEUE) -> None:
    """Create the queue study in the run's storage (empty, not finished): ``--join`` may attach from now on. A queue
    left by a killed attempt of the run (``--resume``) is replaced: the scores its jobs were for are asked again.

    Args:
        url: the storage's URL.
        name: the queue study's name; default :data:`QUEUE`.
    """
    import optuna

    storage = open_queue_storage(url)
    if any(summary.study_name == name for summary in storage.get_all_studies()):
        optuna.delete_study(study_name=name, storage=storage)
    optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
    study_id = storage.get_study_id_from_name(name)
    storage.set_study_user_attr(study_id, "finished", False)


class FoldCache:
    """A worker's folds, built as the run built them (:func:`fitguard.data.kfold` of train + val) once per ``(k,
    seed)`` and checked against each job's fingerprint.

    Args:
        data: the run's dataset.
    """

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self._built: dict[tuple[int, int], tuple[list[tuple[TensorData, TensorData]], str]] = {}

    def parts(self, job: FoldJob) -> tuple[TensorData, TensorData] | list[tuple[TensorData, TensorData]]:
        """The job's fold (every fold for a grouped job).

        Args:
            job: the job.

        Raises:
            RuntimeError: the folds built here differ from the ones the run queued.
        """
        folds, fingerprint = self.built(job.folds, job.seed)
        if fingerprint != job.folds_fingerprint:
            raise RuntimeError(f"this worker's {job.folds} folds (seed {job.seed}) differ from the run's")
        return folds if job.fold == 0 else folds[job.fold - 1]

    def built(self, k: int, seed: int) -> tuple[list[tuple[TensorData, TensorData]], str]:
        """The ``k`` folds of train + val shuffled with ``seed`` (for ``k`` = 1 the holdout split: the training and
        validation rows), and their :func:`folds_fingerprint`.

        Args:
            k: how many folds.
            seed: the shuffle seed.
        """
        if (k, seed) not in self._built:
            # one "fold" is the holdout split: the dataset's own training and validation rows
            if k == 1:
                folds = [(self.data.train, self.data.val)] if self.data.val is not None else []
            else:
                folds = list(kfold(self.data, k=k, seed=seed))
            self._built[k, seed] = (folds, folds_fingerprint(folds))
        return self._built[k, seed]
