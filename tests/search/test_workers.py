"""Many workers on one study: nothing lost, nothing done twice, a SIGKILLed worker's trial retried."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from optuna.trial import TrialState

from fitguard.config import parse_config
from fitguard.data import load
from fitguard.search import Choice, Float, SearchSpace, prepare_study, study
from fitguard.search.scoring import Trial
from fitguard.search.study import trial_rows
from fitguard.search.workers import HEARTBEAT_ATTR
from tests.doctor.test_queue_grpc_proxy import grpc_proxy


@pytest.fixture(params=["sqlite", "postgres", "grpc"])
def storage_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.db'}"
    elif request.param == "postgres":
        yield request.getfixturevalue("postgres_url")
    else:  # Optuna's gRPC storage proxy (no heartbeat of Optuna's: the trials beat in a system attribute)
        with grpc_proxy(f"sqlite:///{tmp_path / 'study.db'}") as port:
            yield f"grpc://127.0.0.1:{port}"


def test_two_worker_processes_finish_n_trials_with_none_lost_or_done_twice(tiny_recipe, postgres_url,
                                                                          study_name) -> None:
    space = SearchSpace({"lr": Float(1e-3, 3e-2, log=True), "dropout": Choice((0.0, 0.2))})
    result = study(tiny_recipe, space, trials=4, storage=postgres_url, name=study_name, workers=2, pruner="none")
    finished = [r for r in result.rows if r["state"] in ("COMPLETE", "PRUNED")]
    assert len(result.rows) == 4 and len(finished) == 4
    assert sorted(r["slot"] for r in finished) == list(range(4))


def _slow_recipe():
    return parse_config({
        "data": {"source": "wine"}, "model": {"name": "mlp", "hidden": [8]},
        "train": {"max_epochs": 40, "batch_size": 16, "device": "cpu"},
        "early_stopping": False, "tensorboard": False,
    })


def test_a_sigkilled_worker_leaves_its_trial_failed_then_retried(storage_url, study_name) -> None:
    space = SearchSpace({"lr": Float(1e-3, 1e-2, log=True)})
    optuna_study, _, _ = prepare_study(_slow_recipe(), space, trials=2, storage=storage_url, name=study_name,
                                       pruner="none", heartbeat_interval=1, grace_period=2)
    command = [sys.executable, "-m", "fitguard.search.workers", storage_url, study_name]
    victim = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    # training has begun once the worker has drawn the trial's parameters (it names itself just before that)
    running = (TrialState.RUNNING,)
    while not [t for t in optuna_study.get_trials(states=running) if "worker" in t.user_attrs and t.params]:
        assert time.monotonic() - started < 60 and victim.poll() is None, "the worker never started a trial"
        time.sleep(0.1)
    victim.kill()  # SIGKILL: no handler runs, the trial stays RUNNING with a heartbeat that goes stale
    victim.wait()
    killed = optuna_study.get_trials(states=(TrialState.RUNNING,))
    assert len(killed) == 1
    subprocess.run([*command, "--worker", "1"], check=True, stderr=subprocess.DEVNULL, timeout=300)
    rows = trial_rows(optuna_study)
    failed = [r for r in rows if r["state"] == "FAIL"]
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert [r["number"] for r in failed] == [killed[0].number]
    assert sorted(r["slot"] for r in complete) == [0, 1]
    retry = next(r for r in complete if r["retry_of"] == killed[0].number)
    assert retry["slot"] == failed[0]["slot"] and retry["params"] == failed[0]["params"]
    # through the proxy every trial beat in its system attribute; in a database, with Optuna's heartbeat
    beat_in_attribute = [HEARTBEAT_ATTR in t.system_attrs for t in optuna_study.get_trials()]
    assert all(beat_in_attribute) if storage_url.startswith("grpc://") else not any(beat_in_attribute)


def test_a_study_through_the_grpc_proxy_with_two_worker_processes_finishes_every_slot_once(tiny_recipe, tmp_path,
                                                                                            study_name) -> None:
    space = SearchSpace({"lr": Float(1e-3, 3e-2, log=True), "dropout": Choice((0.0, 0.2))})
    with grpc_proxy(f"sqlite:///{tmp_path / 'study.db'}") as port:
        # the timeout bounds the test: a trial left RUNNING for good would otherwise keep the workers waiting
        result = study(tiny_recipe, space, trials=4, storage=f"grpc://127.0.0.1:{port}", name=study_name,
                       workers=2, pruner="none", timeout=240)
    assert result.storage == f"grpc://127.0.0.1:{port}"
    assert [r["state"] for r in result.rows] == ["COMPLETE"] * 4
    assert sorted(r["slot"] for r in result.rows) == list(range(4))


def test_stale_trials_fails_and_requeues_a_trial_whose_beat_stopped_and_spares_one_that_beats() -> None:
    import optuna

    from fitguard.search.workers import HEARTBEAT_ATTR, StaleTrials, take_queued

    optuna_study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    storage, study_id = optuna_study._storage, optuna_study._study_id
    for slot in range(3):
        optuna_study.enqueue_trial({}, user_attrs={"fitguard_slot": slot})
    dead, alive, old = (take_queued(storage, study_id) for _ in range(3))
    storage.set_trial_system_attr(old, "retry_history", [7, 8, 9])  # retried three times already
    stale = StaleTrials(optuna_study, grace=0.2)
    stale.fail()  # first sight of each beat: nothing can be stale yet
    assert [t.state for t in optuna_study.get_trials()] == [TrialState.RUNNING] * 3
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        storage.set_trial_system_attr(alive, HEARTBEAT_ATTR, time.monotonic())  # its worker beats
        stale.fail()
        time.sleep(0.05)
    trials = optuna_study.get_trials()
    assert [t._trial_id for t in trials[:3]] == [dead, alive, old]
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    copy = trials[3]
    assert copy.user_attrs == {"fitguard_slot": 0} and copy.system_attrs["failed_trial"] == trials[0].number
    assert copy.system_attrs["retry_history"] == [trials[0].number]  # the one retried three times gets no copy


class _FailedAsStale:
    """An evaluator whose training outlives its trial: another process fails the trial as stale (and may queue a
    copy) while it trains; then it returns a result, or is interrupted (Ctrl-C)."""

    def __init__(self, storage, trial_id, interrupt: bool) -> None:
        self.storage, self.trial_id, self.interrupt = storage, trial_id, interrupt

    def __call__(self, *args, **kwargs):
        self.storage.set_trial_state_values(self.trial_id, state=TrialState.FAIL)
        if self.interrupt:
            raise KeyboardInterrupt
        return Trial("trial", "study", {}, 0.9, 0.0, 10, 5, 1.0, details={"train_value": 0.95})


@pytest.mark.parametrize("interrupt", [False, True])
def test_a_trial_failed_as_stale_while_it_trained_is_dropped_by_its_worker_not_told_or_queued_again(
        tiny_recipe, tmp_path, study_name, monkeypatch, interrupt) -> None:
    from fitguard.search import workers

    optuna_study, spec, storage = prepare_study(tiny_recipe, SearchSpace({"lr": Float(1e-3, 1e-2, log=True)}),
                                                trials=1, storage=f"sqlite:///{tmp_path / 's.db'}", name=study_name)
    trial_id = workers.take_queued(storage, optuna_study._study_id)
    monkeypatch.setattr(workers, "Evaluator", lambda *a, **k: _FailedAsStale(storage, trial_id, interrupt))
    if interrupt:
        with pytest.raises(KeyboardInterrupt):
            workers.run_one(optuna_study, trial_id, spec, load("wine", seed=0), storage)
    else:
        assert workers.run_one(optuna_study, trial_id, spec, load("wine", seed=0), storage) == "LOST"
    # the stale check's FAIL stands, with no error of this worker's, and no second copy beside the one it queued
    [trial] = optuna_study.get_trials()
    assert trial.state == TrialState.FAIL and "error" not in trial.user_attrs


class _FlakyStorage:
    """Refuses the 2nd and 3rd beats (a dropped connection), records the others, and reports the trial finished
    from the 6th beat on."""

    def __init__(self) -> None:
        self.calls, self.recorded, self.done = 0, [], threading.Event()

    def set_trial_system_attr(self, trial_id, key, value) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        self.calls += 1
        if self.calls in (2, 3):
            raise ConnectionError("server closed the connection unexpectedly")
        if self.calls >= 6:
            self.done.set()
            raise UpdateFinishedTrialError(f"Trial#{trial_id} has already finished and can not be updated.")
        self.recorded.append((trial_id, key, value))


def test_a_heartbeat_outlives_a_dropped_connection_and_ends_when_its_trial_has_finished(capsys) -> None:
    from fitguard.search.workers import HEARTBEAT_ATTR, AttributeHeartbeat

    storage = _FlakyStorage()
    beat = AttributeHeartbeat(storage, 7, 0.01)
    assert storage.done.wait(10)
    beat._thread.join(10)
    assert not beat._thread.is_alive()  # it ended by itself: its trial has finished
    assert storage.recorded == [(7, HEARTBEAT_ATTR, 0), (7, HEARTBEAT_ATTR, 1), (7, HEARTBEAT_ATTR, 2)]
    assert capsys.readouterr().err.splitlines() == [
        "fitguard: trial 7's heartbeat could not be recorded (server closed the connection unexpectedly); trying again "
        "every 0.01 s",
        "fitguard: trial 7's heartbeat recorded again after 2 missed",
    ]
    beat.stop()  # after the thread ended: returns at once
