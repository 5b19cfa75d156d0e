"""Many workers on one study: nothing lost, nothing done twice, a SIGKILLed worker's trial retried."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from fitguard.config import parse_config
from fitguard.search import Choice, Float, SearchSpace, prepare_study, study
from fitguard.search.study import trial_rows


@pytest.fixture(params=["sqlite", "postgres"])
def storage_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


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
