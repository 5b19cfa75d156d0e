"""The fold-job queue of ``fitguard doctor --workers`` with scripted trainings (no network is trained): which folds
are queued, what a job carries, and what a failed or interrupted training leaves in the storage."""

import math
import os
import socket
import time

import pytest
import torch

from fitguard.data import TensorData, kfold, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import Scorer
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.queue import FoldCache, FoldJob, FoldQueue, create_queue, folds_fingerprint, open_queue_storage
from fitguard.doctor.store import storage_url
from fitguard.doctor.trials import Trial
from fitguard.search import Candidate
from fitguard.train import Callback, History

WORKER = f"{socket.gethostname()}:{os.getpid()}"


@pytest.fixture(scope="module")
def data():
    return load("wine", seed=0)


@pytest.fixture
def queue(tmp_path, data):
    url = storage_url(tmp_path)
    create_queue(url)
    return FoldQueue(open_queue_storage(url), FoldCache(data), deadline=lambda: time.perf_counter() + 100.0)


def _jobs(queue, data, **extra):
    folds = list(kfold(data, k=2, seed=0))
    return queue.jobs({"model": {"name": "mlp"}}, name="mlp 64", phase="architecture", options={"max_epochs": 3},
                      folds=folds, seed=0, **extra)


def _scripted(job: FoldJob) -> Trial:
    """A fold's trial without training: its score is its fold number / 10."""
    trial = Trial(f"{job.name} fold {job.fold}", job.phase, job.recipe, job.fold / 10, 0.01, 7, 3, 0.5,
                  details={"best_epoch": 2, "stop_reason": "early stopping", "val_loss": 0.3})
    trial.history = History()
    return trial


def _states(queue) -> list[tuple[int, str]]:
    return [(t.number, t.state.name) for t in queue.storage.get_all_trials(queue.study_id)]


def test_kfold_folds_become_jobs_that_carry_everything_a_worker_needs(queue, data):
    before = time.time()
    jobs = _jobs(queue, data)
    assert [(j.fold, j.folds, j.seed, j.name, j.phase, j.options) for j in jobs] == [
        (1, 2, 0, "mlp 64", "architecture", {"max_epochs": 3}), (2, 2, 0, "mlp 64", "architecture", {"max_epochs": 3})]
    assert jobs[0].call == jobs[1].call != _jobs(queue, data)[0].call  # one id per score
    assert jobs[0].folds_fingerprint == folds_fingerprint(list(kfold(data, k=2, seed=0)))
    assert before + 99 < jobs[0].deadline < time.time() + 101  # the search's deadline, in wall-clock seconds
    assert FoldJob.from_attrs(jobs[0].to_attrs()) == jobs[0]


def test_folds_a_worker_cannot_build_are_not_queued(queue, data):
    rows = TensorData(data.train.X[:40], data.train.y[:40])
    assert queue.jobs({}, name="25% of the rows", phase="learning_curve", options={}, folds=[(rows, data.val)],
                      seed=0) is None
    other_seed = list(kfold(data, k=2, seed=1))
    assert queue.jobs({}, name="x", phase="study", options={}, folds=other_seed, seed=0) is None


def test_a_worker_trains_each_job_once_and_the_run_gathers_them_in_fold_order(queue, data):
    ids = queue.put(_jobs(queue, data))
    assert queue.serve(_scripted, stop=lambda idle: True) == 2
    trials = queue.gather(ids, train=lambda job: pytest.fail("nothing is left to train"))
    assert [(t.name, t.val_score) for t in trials] == [("mlp 64 fold 1", 0.1), ("mlp 64 fold 2", 0.2)]
    assert trials[0] == _scripted(_jobs(queue, data)[0]) and isinstance(trials[0].history, History)
    assert _states(queue) == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert [t.user_attrs["worker"] for t in queue.storage.get_all_trials(queue.study_id)] == [WORKER, WORKER]


def test_a_training_that_fails_in_a_worker_fails_the_score_with_its_error(queue, data):
    def broken(job):
        raise ValueError(f"fold {job.fold} has no rows\nsecond line")

    ids = queue.put(_jobs(queue, data))
    assert queue.serve(broken, stop=lambda idle: True) == 0
    assert _states(queue) == [(0, "FAIL"), (1, "FAIL")]  # never retried
    with pytest.raises(RuntimeError) as error:
        queue.gather(ids, train=_scripted)
    assert str(error.value) == (f"the training of 'mlp 64' fold 1 failed in process {WORKER}: ValueError: fold 1 has "
                                "no rows")


def test_an_interrupted_worker_gives_its_job_back(queue, data):
    def interrupted(job):
        raise KeyboardInterrupt

    ids = queue.put(_jobs(queue, data))
    with pytest.raises(KeyboardInterrupt):
        queue.serve(interrupted, stop=lambda idle: True)
    assert _states(queue) == [(0, "FAIL"), (1, "WAITING"), (2, "WAITING")]
    failed, _, retry = queue.storage.get_all_trials(queue.study_id)
    assert "error" not in failed.user_attrs
    assert retry.system_attrs["failed_trial"] == 0 and retry.user_attrs["job"] == failed.user_attrs["job"]
    trials = queue.gather(ids, train=_scripted)  # the run trains the copy and the other job itself
    assert [t.val_score for t in trials] == [0.1, 0.2]
    assert _states(queue) == [(0, "FAIL"), (1, "COMPLETE"), (2, "COMPLETE")]


def test_a_worker_trains_with_the_threads_it_was_given_and_sets_them_back(tmp_path, data):
    url = storage_url(tmp_path)
    create_queue(url)
    queue = FoldQueue(open_queue_storage(url), FoldCache(data), threads=1)
    before = torch.get_num_threads()
    seen = []

    def train(job):
        seen.append(torch.get_num_threads())
        return _scripted(job)

    torch.set_num_threads(2)
    try:
        queue.put(_jobs(queue, data))
        queue.serve(train, stop=lambda idle: True)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_worker_follows_the_queue_a_resumed_run_replaced_and_stops_when_it_is_gone(tmp_path, data):
    import optuna

    from fitguard.doctor.queue import QUEUE

    url = storage_url(tmp_path)
    create_queue(url)
    worker = FoldQueue(open_queue_storage(url), FoldCache(data))
    create_queue(url)  # what a --resume of the killed run does: the old queue deleted, a new one of the same name
    run = FoldQueue(open_queue_storage(url), FoldCache(data))
    run.put(_jobs(run, data))
    assert worker.serve(_scripted, stop=lambda idle: True) == 2
    optuna.delete_study(study_name=QUEUE, storage=url)
    assert worker.finished()
    assert worker.serve(lambda job: pytest.fail("there is no queue"), stop=lambda idle: False) == 0


def test_the_holdout_split_is_one_job_a_worker_builds_from_its_own_data(queue, data):
    (job,) = queue.jobs({}, name="mlp 64", phase="ablation", options={}, folds=[(data.train, data.val)], seed=0)
    assert (job.fold, job.folds) == (1, 1)
    train, val = FoldCache(load("wine", seed=0)).parts(job)  # a worker's own load of the data
    assert torch.equal(train.X, data.train.X) and torch.equal(val.y, data.val.y)


class _QueueSeen(Callback):
    """Counts, as each training starts, the jobs its queue holds."""

    def __init__(self):
        self.queue, self.seen = None, []

    def on_fit_start(self, trainer) -> None:
        self.seen.append(len(self.queue.storage.get_all_trials(self.queue.study_id)))


# four candidates, the third refused by the budget; ``seen``: the jobs in the queue as each training starts
@pytest.mark.parametrize(("folds", "parallel", "seen"), [
    (None, 3, [2, 2, 3]),  # holdout, 3 processes: candidates 1-3 a batch (two admitted, queued together), then 4
    (None, 1, [1, 2, 3]),  # one process: one candidate at a time
    (2, 4, [4, 4, 4, 4, 6, 6]),  # 2 folds, 4 processes: two candidates (four trainings) a batch
])
def test_a_batch_of_candidates_is_queued_at_once_and_scores_what_one_process_scores(tmp_path, data, folds, parallel,
                                                                                     seen):
    base = base_config(DoctorOptions(device="cpu", patience=2))
    parts = list(kfold(data, k=folds, seed=base.data.seed)) if folds else None
    candidates = [Candidate({"model": {"name": "mlp", "hidden": [width]}}, f"mlp {width}", "architecture")
                  for width in (4, 8, 16, 32)]
    url = storage_url(tmp_path)
    create_queue(url)
    spy = _QueueSeen()
    spy.queue = FoldQueue(open_queue_storage(url), FoldCache(data), processes=parallel)
    queued = Scorer(base, data, parts, {"max_epochs": 3}, callbacks=(spy,), queue=spy.queue)
    refused = queued.evaluate_candidates(candidates, admit=lambda index, _: index != 2)
    assert spy.seen == seen
    alone = Scorer(base, data, parts, {"max_epochs": 3}).evaluate_candidates(candidates)
    assert refused[2].status == "skipped: budget" and math.isnan(refused[2].val_score)
    for mine, single in zip([*refused[:2], refused[3]], [*alone[:2], alone[3]], strict=True):
        assert (mine.name, mine.val_score, mine.details["val_loss"], mine.fold_scores) == (
            single.name, single.val_score, single.details["val_loss"], single.fold_scores)


def test_a_joinable_queue_offers_one_training_more_than_the_processes_it_saw_take_jobs(tmp_path, data, monkeypatch):
    import optuna

    from fitguard.doctor import queue as queue_module

    url = storage_url(tmp_path)
    create_queue(url)
    local = FoldQueue(open_queue_storage(url), FoldCache(data), processes=2)
    shared = FoldQueue(open_queue_storage(url), FoldCache(data), processes=2, joinable=True)
    assert (local.capacity(), shared.capacity()) == (2, 2)
    for worker in ("a:1", "b:2", "c:3", "c:3"):  # three processes took jobs just now (one took two)
        shared.storage.create_new_trial(shared.study_id, template_trial=optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=0.0, user_attrs={"worker": worker}))
    assert (local.capacity(), shared.capacity()) == (2, 4)
    monkeypatch.setattr(queue_module, "ACTIVE_SECONDS", -60)  # as if those jobs were taken long ago
    assert shared.capacity() == 2


@pytest.mark.parametrize("landed", [True, False])
def test_a_completion_answered_as_refused_counts_only_where_the_storage_holds_it(queue, data, monkeypatch, landed):
    # a write that reached the storage but came back as "the trial has finished" (a lost answer), against a job
    # failed as stale by another process before this one's result came: only the first is this process's
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    write = queue.storage.set_trial_state_values

    def answered_refused(trial_id, state, values=None):
        if state == TrialState.COMPLETE:
            if landed:
                write(trial_id, state, values)
            else:
                write(trial_id, TrialState.FAIL)  # the other process's stale-trial check came first
            raise UpdateFinishedTrialError(f"trial {trial_id} has already finished")
        return write(trial_id, state, values)

    queue.put(_jobs(queue, data)[:1])
    monkeypatch.setattr(queue.storage, "set_trial_state_values", answered_refused)
    assert queue.serve(_scripted, stop=lambda idle: True) == (1 if landed else 0)
    assert _states(queue) == [(0, "COMPLETE" if landed else "FAIL")]
