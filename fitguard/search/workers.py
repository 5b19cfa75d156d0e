"""The worker loop: take a queued trial, train it with heartbeats, tell the study; until the queue is empty.

A study plans its trials up front as queued (WAITING) slots 0..N-1. Workers only ever take a queued trial
(an atomic WAITING -> RUNNING update in the database), never create one, so any number of processes on any
number of machines finish exactly N slots between them. A worker that dies leaves its trial RUNNING with a
stale heartbeat; the next worker to look marks it FAIL and the storage's retry callback queues a
copy with the same slot and parameters. Through Optuna's gRPC storage proxy (``grpc://HOST:PORT``), which has no
heartbeat of Optuna's, a trial beats in a system attribute (:class:`AttributeHeartbeat`) and workers fail and
re-queue the ones whose beat stopped (:class:`StaleTrials`). Ctrl-C does the same at once: FAIL and re-queue, so
nothing is lost.

Run a worker by hand on another machine with ``fitguard search CONFIG --storage URL --resume``, or as
``python -m fitguard.search.workers URL STUDY`` (what ``--workers N`` starts).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fitguard.search.evaluate import Evaluator
from fitguard.search.pruning import PruningCallback, make_pruner, make_sampler
from fitguard.search.scoring import Trial

SLOT = "fitguard_slot"
SPEC = "fitguard_spec"
#: the trial system attribute a running trial's beat is written to in a storage without Optuna's heartbeat
HEARTBEAT_ATTR = "fitguard_heartbeat"
#: how many times a dead worker's trial is queued again (Optuna's ``RetryHeartbeatStaleTrialCallback`` default)
MAX_RETRY = 3


@dataclass(frozen=True)
class TrialSpec:
    """What every worker needs to run a study's trials, stored in the study (user attr ``fitguard_spec``).

    Args:
        config: the base TrainConfig, as a dict.
        space: the search space, as :meth:`SearchSpace.to_dict` gives it.
        metric: the validation metric optimized.
        sampler: the sampler's name.
        pruner: the pruner's name.
        seed: the sampler's seed (each worker adds its number).
        min_epochs: the epochs before a trial may be pruned.
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without a heartbeat after which a trial counts as dead.
    """

    config: dict[str, Any]
    space: dict[str, Any]
    metric: str
    sampler: str
    pruner: str
    seed: int
    min_epochs: int
    heartbeat_interval: int
    grace_period: int

    def to_dict(self) -> dict[str, Any]:
        """The fields by name, as stored in the study."""
        return dict(self.__dict__)


class Heartbeat:
    """Record a trial's heartbeat every ``interval`` seconds on a daemon thread until stopped (Optuna's
    ``record_heartbeat``; a subclass records its own kind of beat by overriding :meth:`record`).

    A beat the storage refuses (a dropped database connection, a restarting gRPC proxy) is tried again at the next
    interval, with one line on stderr when beats are first missed and one when they are recorded again. Beating ends
    at :meth:`stop`, or earlier when the storage says the trial has finished (Optuna's ``UpdateFinishedTrialError``:
    an attribute beat on a finished trial; Optuna's own ``record_heartbeat`` never says so). Optuna's heartbeat
    thread ends at its first error instead, and the trial is then failed as stale while it still trains.

    Args:
        storage: the Optuna storage to record in.
        trial_id: the running trial's id.
        interval: seconds between heartbeats.
    """

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)
        self._thread.start()

    def record(self, storage: Any, trial_id: int, beat: int) -> None:
        """Record beat number ``beat`` (0, 1, ...) of the trial.

        Args:
            storage: the Optuna storage.
            trial_id: the running trial's id.
            beat: how many beats came before this one.
        """
        storage.record_heartbeat(trial_id)

    def _beat(self, storage: Any, trial_id: int, interval: float) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        beat, missed = 0, 0
        while True:
            try:
                self.record(storage, trial_id, beat)
            except UpdateFinishedTrialError:  # the trial ended (here, or failed as stale by another process)
                return
            except Exception as error:  # a dropped connection, a restarting proxy: beat again at the next interval
                missed += 1
                if missed == 1:
                    sys.stderr.write(f"fitguard: trial {trial_id}'s heartbeat could not be recorded ({error}); "
                                     f"trying again every {interval:g} s\n")
            else:
                if missed:
                    sys.stderr.write(f"fitguard: trial {trial_id}'s heartbeat recorded again after {missed} "
                                     "missed\n")
                beat, missed = beat + 1, 0
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        """Stop beating and wait for the thread to end."""
        self._stop.set()
        self._thread.join()


class AttributeHeartbeat(Heartbeat):
    """A running trial's heartbeat where the storage has none of its own (a ``GrpcStorageProxy``): every ``interval``
    seconds a daemon thread writes the next number into the trial's system attribute :data:`HEARTBEAT_ATTR`; a
    :class:`StaleTrials` watches it change.

    Args:
        storage: the Optuna storage to write in.
        trial_id: the running trial's id.
        interval: seconds between heartbeats.
    """

    def record(self, storage: Any, trial_id: int, beat: int) -> None:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, beat)


def beats_on_its_own(storage: Any) -> bool:
    """Whether a running trial in ``storage`` beats through :class:`AttributeHeartbeat`: Optuna's heartbeat needs an
    RDB storage opened with a heartbeat interval, and a ``GrpcStorageProxy`` has none.

    Args:
        storage: the Optuna storage.
    """
    return not hasattr(storage, "record_heartbeat") or storage.get_heartbeat_interval() is None


def heartbeat(storage: Any, trial_id: int, interval: float) -> Heartbeat:
    """Start the heartbeat a running trial in ``storage`` needs: Optuna's where the storage keeps one, else
    :class:`AttributeHeartbeat` (what :class:`StaleTrials` watches).

    Args:
        storage: the Optuna storage.
        trial_id: the running trial's id.
        interval: seconds between heartbeats.
    """
    return (AttributeHeartbeat if beats_on_its_own(storage) else Heartbeat)(storage, trial_id, interval)


class StaleTrials:
    """Finds the running trials of ``study`` whose worker died and fails them; a copy of each is queued unless it was
    retried ``max_retry`` times already. Where the storage keeps Optuna's heartbeat, Optuna's stale-trial check and
    retry callback do it; where trials beat through :class:`AttributeHeartbeat`, a trial whose beat this process saw
    unchanged for ``grace`` seconds of its own clock (no two machines' clocks are compared) is failed and copied
    here (:func:`requeue`).

    Args:
        study: the Optuna study.
        grace: seconds a beat may stay unchanged (the attribute heartbeat's; Optuna's uses the storage's own).
        max_retry: how many copies of one trial at most (the attribute heartbeat's; Optuna's uses the storage's
            retry callback). Default :data:`MAX_RETRY`.
    """

    def __init__(self, study: Any, grace: float, max_retry: int = MAX_RETRY) -> None:
        self.study, self.grace, self.max_retry = study, grace, max_retry
        self._by_attribute = beats_on_its_own(study._storage)
        self._beats: dict[int, tuple[Any, float]] = {}

    def fail(self) -> None:
        """Fail (and queue again) the running trials whose heartbeat stopped."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        if not self._by_attribute:
            fail_stale_trials(self.study)
            return
        storage, now = self.study._storage, time.monotonic()
        running = storage.get_all_trials(self.study._study_id, deepcopy=False, states=(TrialState.RUNNING,))
        self._beats = {t._trial_id: self._beats.get(t._trial_id, (None, now)) for t in running}
        for frozen in running:
            beat = frozen.system_attrs.get(HEARTBEAT_ATTR)
            seen, since = self._beats[frozen._trial_id]
            if beat != seen:
                self._beats[frozen._trial_id] = (beat, now)
            elif now - since > self.grace:
                try:
                    if (storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
                            and len(frozen.system_attrs.get("retry_history", [])) < self.max_retry):
                        requeue(self.study, frozen)
                except UpdateFinishedTrialError:  # it finished meanwhile, or another process failed it first
                    pass


def take_queued(storage: Any, study_id: int) -> int | None:
    """Atomically move one queued trial to RUNNING; its id, or None when the queue is empty.

    Args:
        storage: the Optuna storage.
        study_id: the study's id in it.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                if hasattr(storage, "record_heartbeat"):  # a GrpcStorageProxy has no heartbeat
                    storage.record_heartbeat(frozen._trial_id)  # a trial without any heartbeat is never seen as stale
                return frozen._trial_id
        except UpdateFinishedTrialError:
            continue
    return None


def requeue(study: Any, frozen: Any) -> None:
    """Queue a copy of an interrupted trial (same slot and parameters), as the retry callback would.

    Args:
        study: the Optuna study.
        frozen: the interrupted trial.
    """
    import optuna
    from optuna.trial import TrialState

    history = [*frozen.system_attrs.get("retry_history", []), frozen.number]
    # the copy starts without the dead run's last beat: a watcher must never match the new run's beats against it
    inherited = {k: v for k, v in frozen.system_attrs.items() if k != HEARTBEAT_ATTR}
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=frozen.params, distributions=frozen.distributions,
        user_attrs=frozen.user_attrs,
        system_attrs={**inherited, "failed_trial": frozen.number, "retry_history": history},
    ))


def record(scored: Trial) -> dict[str, Any]:
    """What a study trial keeps of its training as user attributes: the metric (``value``) on validation and
    training rows, the gap, epochs, parameters and seconds.

    Args:
        scored: the training's trial.
    """
    return {"value": scored.value, "train_value": scored.details["train_value"], "gap": scored.gap,
            "epochs": scored.epochs, "parameters": scored.parameters, "seconds": scored.seconds}


def run_one(study: Any, trial_id: int, spec: TrialSpec, data: Any, storage: Any) -> str:
    """Train one trial and tell the study; returns the final state's name, or "LOST" when the trial was failed as
    stale meanwhile (its heartbeat could not be written in time): its copy is queued and counts, this result not.

    Args:
        study: the Optuna study.
        trial_id: the trial to run, already RUNNING (see :func:`take_queued`).
        spec: the study's :class:`TrialSpec`.
        data: the loaded dataset.
        storage: the Optuna storage (for the heartbeat).
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from fitguard.config import TrainConfig
    from fitguard.search.space import SearchSpace, apply_point

    trial = optuna.Trial(study, trial_id)
    beating = heartbeat(storage, trial_id, spec.heartbeat_interval)
    try:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        point = SearchSpace.from_dict(spec.space).sample(trial)
        config = apply_point(TrainConfig.model_validate(spec.config), point, data.kind)
        pruning = PruningCallback(trial, spec.metric)
        scored = Evaluator(config, data, metric=spec.metric)({}, name=f"trial {trial.number}", phase="study",
                                                              callbacks=(pruning,))
        for key, value in record(scored).items():
            trial.set_user_attr(key, value)
        if pruning.pruned:
            trial.set_user_attr("reason", pruning.reason)
            study.tell(trial, state=TrialState.PRUNED)
            return "PRUNED"
        study.tell(trial, scored.value)
        return "COMPLETE"
    except (KeyboardInterrupt, SystemExit):  # this process is stopped, the trial is not at fault: give it back
        with contextlib.suppress(UpdateFinishedTrialError):  # unless it finished, or was failed as stale, meanwhile
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                requeue(study, storage.get_trial(trial_id))
        raise
    except Exception as error:  # a trial's own failure is recorded with its reason, never retried blindly
        if storage.get_trial(trial_id).state.is_finished():  # failed as stale meanwhile (and re-queued)
            return "LOST"
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        with contextlib.suppress(UpdateFinishedTrialError):
            trial.set_user_attr("error", f"{type(error).__name__}: {message}")
            study.tell(trial, state=TrialState.FAIL)
        return "FAIL"
    finally:
        beating.stop()


def connect(url: str, name: str) -> Any:
    """Open the storage with the heartbeat settings the study was created with.

    Args:
        url: the storage's database URL, or a gRPC storage proxy's ``grpc://HOST:PORT``.
        name: the study's name.
    """
    from fitguard.search.storage import close_storage, masked_url, open_storage, optuna_storage, storage_errors

    with storage_errors(url, lost=False):
        plain = optuna_storage(url)
        try:
            summary = next((s for s in plain.get_all_studies() if s.study_name == name), None)
        finally:
            close_storage(plain)
    if summary is None or SPEC not in summary.user_attrs:
        raise ValueError(f"no fitguard study named {name!r} in {masked_url(url)}")
    spec = summary.user_attrs[SPEC]
    return open_storage(url, spec["heartbeat_interval"], spec["grace_period"])


def open_study(storage: Any, name: str, worker: int = 0) -> tuple[Any, TrialSpec]:
    """Load a study created by ``fitguard.search.study`` with its sampler (seeded per worker) and pruner.

    Args:
        storage: the Optuna storage.
        name: the study's name.
        worker: this worker's number, added to the sampler's seed (default 0).

    Raises:
        ValueError: no fitguard study of that name in the storage.
    """
    import optuna

    summary = next((s for s in storage.get_all_studies() if s.study_name == name), None)
    if summary is None or SPEC not in summary.user_attrs:
        raise ValueError(f"no fitguard study named {name!r} in this storage")
    spec = TrialSpec(**summary.user_attrs[SPEC])
    max_epochs = int(spec.config.get("train", {}).get("max_epochs", 100))
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=make_sampler(spec.sampler, spec.seed + worker),
        pruner=make_pruner(spec.pruner, max_epochs, spec.min_epochs),
    )
    return study, spec


def work(
    study: Any,
    spec: TrialSpec,
    data: Any,
    storage: Any,
    deadline: float | None = None,
    on_trial: Callable[[str], None] | None = None,
) -> int:
    """Run queued trials until none is queued or running (a running one may yet die and come back), or the
    deadline passes; returns how many this worker ran.

    Args:
        study: the Optuna study.
        spec: its :class:`TrialSpec`.
        data: the loaded dataset.
        storage: the Optuna storage.
        deadline: a ``time.time()`` after which no trial is started; None (default): none.
        on_trial: called with each finished trial's state name; None (default): nothing.
    """
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    stale = StaleTrials(study, spec.grace_period)
    done = 0
    while deadline is None or time.time() < deadline:
        stale.fail()
        trial_id = take_queued(storage, study_id)
        if trial_id is None:
            if not storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
                break
            time.sleep(min(1.0, spec.heartbeat_interval))
            continue
        state = run_one(study, trial_id, spec, data, storage)
        done += 1
        if on_trial is not None:
            on_trial(state)
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m fitguard.search.workers URL STUDY [--worker I] [--deadline UNIX_TIME]``

    Args:
        argv: the arguments; None (default): ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(prog="python -m fitguard.search.workers")
    parser.add_argument("storage")
    parser.add_argument("study")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--deadline", type=float, default=None)
    args = parser.parse_args(argv)
    from fitguard.config import TrainConfig
    from fitguard.recipe import load_data
    from fitguard.search.storage import storage_errors

    try:
        storage = connect(args.storage, args.study)
        with storage_errors(args.storage):
            study, spec = open_study(storage, args.study, args.worker)
            data = load_data(TrainConfig.model_validate(spec.config))
            work(study, spec, data, storage, args.deadline)
    except (ValueError, FileNotFoundError) as error:  # one line, as the fitguard command prints it
        print(f"error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
