"""``fitguard doctor --workers N`` and ``--join RUN_DIR``: the cross-validated folds are trained by several processes,
each job exactly once (once more when its worker is SIGKILLed), with the fold scores a single process gets.

Real processes on the TINY run, cross-validated in every phase (``--cv-max-rows``), one torch thread each
(``OMP_NUM_THREADS=1``: the single process and, with 2 workers on these 2 cores, each worker), so that the fold
scores of both can be compared exactly.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from fitguard.cli import main
from fitguard.doctor.queue import QUEUE, FoldQueue, create_queue, open_queue_storage
from fitguard.doctor.store import STUDY, TrialStore, storage_url
from tests.doctor.conftest import TINY, frozen_until, hold_until_the_worker_is_ready

CROSS_VALIDATED = [*TINY, "--cv-max-rows", "5000"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _doctor(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fitguard.cli", "doctor", *CROSS_VALIDATED, "--out", str(out),
                             *extra], env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finished(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()


def _rows(run_dir: Path, sql: str, *arguments: object, timeout: float = 60) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True, timeout=timeout)) as db:
        return db.execute(sql, arguments).fetchall()


def _jobs(run_dir: Path, timeout: float = 60) -> list[dict]:
    """Every trial of the queue study: its state, job, worker, and the number of the trial it retries."""
    found: dict[int, dict] = {}
    for trial_id, number, state in _rows(run_dir, "select t.trial_id, t.number, t.state from trials t join studies s "
                                                  "on t.study_id = s.study_id where s.study_name = ?", QUEUE,
                                         timeout=timeout):
        found[trial_id] = {"number": number, "state": state}
    for table in ("trial_user_attributes", "trial_system_attributes"):
        for trial_id, key, value in _rows(run_dir, f"select trial_id, key, value_json from {table}", timeout=timeout):
            if trial_id in found:
                found[trial_id][key] = json.loads(value)
    return list(found.values())


def _fold_scores(run_dir: Path) -> dict[str, tuple[str, list[float], float]]:
    """Every scored recipe of the run by its key: its name, fold scores and mean validation loss."""
    records: dict[int, dict] = {}
    for trial_id, key, value in _rows(run_dir, "select a.trial_id, a.key, a.value_json from trial_user_attributes a "
                                               "join trials t on a.trial_id = t.trial_id join studies s on "
                                               "t.study_id = s.study_id where s.study_name = ? and a.key in "
                                               "('key', 'trial')", STUDY):
        records.setdefault(trial_id, {})[key] = json.loads(value)
    return {r["key"]: (r["trial"]["name"], r["trial"]["details"]["folds"], r["trial"]["details"]["val_loss"],
                       r["trial"]["details"].get("grouped", False)) for r in records.values()}


def _assert_each_job_completed_once(jobs: list[dict]) -> Counter:
    """Each (score, fold) has exactly one COMPLETE trial; the processes that trained them, counted."""
    complete = Counter((j["job"]["call"], j["job"]["fold"]) for j in jobs if j["state"] == "COMPLETE")
    every = {(j["job"]["call"], j["job"]["fold"]) for j in jobs}
    assert set(complete) == every and set(complete.values()) == {1}
    assert not [j for j in jobs if j["state"] in ("WAITING", "RUNNING")]
    return Counter(j["worker"] for j in jobs if j["state"] == "COMPLETE")


def _hold_until_the_worker_takes_a_job(process: subprocess.Popen, out: Path, freeze_seconds: float = 8.0) -> None:
    """Once the run trains a job while another waits, freeze the run (SIGSTOP) until its worker has taken a job, for
    ``freeze_seconds`` at the most (below the 10 s after which a job without heartbeats counts as dead): the TINY
    run's jobs take about as long as the worker's poll, and most of its scores are one grouped job, which the run
    takes itself, so without this the run may train every job alone. The run's process cannot take the waiting job
    while it trains its own, so the freeze hands that job to the worker. Returns when the worker has a job or the
    run ended."""
    coordinator = str(process.pid)

    def worker_took_one(jobs: list[dict]) -> bool:
        return any("worker" in j and j["worker"].rsplit(":", 1)[1] != coordinator for j in jobs)

    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):  # the storage is being created, or written
            jobs = _jobs(out, timeout=1)
            if worker_took_one(jobs):
                return
            training = any(j["state"] == "RUNNING" and j.get("worker", "").endswith(f":{coordinator}")
                           for j in jobs)
            if training and any(j["state"] == "WAITING" for j in jobs):
                break
        time.sleep(0.005)
    else:
        return
    def taken() -> bool:
        try:
            return worker_took_one(_jobs(out, timeout=1))
        except sqlite3.Error:  # the storage is being written
            return False

    frozen_until(process, taken, freeze_seconds)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The run in one process (``--workers 1``, the default), one thread."""
    out = tmp_path_factory.mktemp("workers") / "sequential"
    _finished(_doctor(out))
    return out


def test_two_workers_train_every_fold_once_with_the_single_process_scores(sequential, tmp_path):
    out = tmp_path / "two"
    process = _doctor(out, "--workers", "2")
    hold_until_the_worker_is_ready(process, out)  # else the run may train every fold before its worker starts
    _hold_until_the_worker_takes_a_job(process, out)
    _finished(process)

    jobs = _jobs(out)
    by_process = _assert_each_job_completed_once(jobs)
    assert not [j for j in jobs if j["state"] == "FAIL"]
    assert len(by_process) == 2, f"one process trained every fold: {by_process}"
    scores = _fold_scores(out)
    assert scores == _fold_scores(sequential)
    # one job per fold of every cross-validated score, one for all folds of a grouped score (the learning curve's
    # row subsets train in the run's process)
    assert len(jobs) == sum(1 if grouped else 2 for _, folds, _, grouped in scores.values() if len(folds) == 2)
    assert any(grouped for *_, grouped in scores.values()) and not all(grouped for *_, grouped in scores.values())
    assert _rows(out, "select a.value_json from study_user_attributes a join studies s on a.study_id = s.study_id "
                      "where s.study_name = ? and a.key = 'finished'", QUEUE) == [("true",)]
    summary, single = (json.loads((run / "summary.json").read_text()) for run in (out, sequential))
    assert summary["best"]["recipe"] == single["best"]["recipe"]
    assert summary["test"]["best"] == single["test"]["best"]
    assert summary["options"]["workers"] == 2 and "--workers" not in summary["command"]


def _holdout(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fitguard.cli", "doctor", *TINY, "--cv-max-rows", "0", "--out",
                             str(out), *extra], env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _holdout_scores(run_dir: Path) -> dict[str, tuple[str, float, float]]:
    """Every scored recipe of the run by its key: its name, validation score and loss."""
    records = _rows(run_dir, "select a.value_json from trial_user_attributes a join trials t on a.trial_id = "
                             "t.trial_id join studies s on t.study_id = s.study_id where s.study_name = ? and a.key = "
                             "'trial'", STUDY)
    trials = [json.loads(value) for (value,) in records]
    keys = _rows(run_dir, "select a.value_json from trial_user_attributes a join trials t on a.trial_id = t.trial_id "
                          "join studies s on t.study_id = s.study_id where s.study_name = ? and a.key = 'key'", STUDY)
    return {json.loads(key): (t["name"], t["val_score"], t["details"]["val_loss"])
            for (key,), t in zip(keys, trials, strict=True)}


def test_two_workers_train_holdout_candidates_side_by_side_with_the_single_process_scores(tmp_path):
    # big data is scored on the holdout split: each candidate one training, a batch of them queued at once
    single, two = tmp_path / "single", tmp_path / "two"
    _finished(_holdout(single))
    process = _holdout(two, "--workers", "2")
    hold_until_the_worker_is_ready(process, two)
    _hold_until_the_worker_takes_a_job(process, two)
    _finished(process)
    jobs = _jobs(two)
    by_process = _assert_each_job_completed_once(jobs)
    assert len(by_process) == 2, f"one process trained every candidate: {by_process}"
    # holdout trainings (the λ grid is cross-validated even here; the study's trials, with their pruner, and the
    # learning curve's subsets train in the run's own process)
    holdout = [j for j in jobs if j["job"]["folds"] == 1]
    assert {j["job"]["phase"] for j in holdout} >= {"architecture", "ablation"}
    # two holdout candidates trained at the same time by the two processes (before, one at a time)
    spans = {number: (start, end) for number, start, end in _rows(
        two, "select t.number, t.datetime_start, t.datetime_complete from trials t join studies s on t.study_id = "
             "s.study_id where s.study_name = ?", QUEUE)}
    assert any(a["worker"] != b["worker"] and spans[a["number"]][0] < spans[b["number"]][1]
               and spans[b["number"]][0] < spans[a["number"]][1] for a in holdout for b in holdout)
    assert _holdout_scores(two) == _holdout_scores(single)
    summary, alone = (json.loads((run / "summary.json").read_text()) for run in (two, single))
    assert summary["best"]["recipe"] == alone["best"]["recipe"] and summary["test"]["best"] == alone["test"]["best"]


def test_a_sigkilled_workers_fold_is_trained_again_and_the_run_finishes(sequential, tmp_path):
    # The TINY run's folds take a fraction of a second, so a kill can miss (the worker took no fold before the run
    # ended, or finished its fold just as it was killed): up to three runs, until one kill lands mid-fold. Every run
    # must still have trained each job once and reproduced the single process's fold scores.
    landed = []
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        killed = _run_and_kill_a_worker(out)
        jobs = _jobs(out)
        _assert_each_job_completed_once(jobs)
        assert _fold_scores(out) == _fold_scores(sequential)
        failed = [j for j in jobs if j["state"] == "FAIL"]
        assert all("error" not in j for j in failed)  # a dead worker's job is no training error
        if killed is not None and [j["number"] for j in failed] == [killed["number"]]:
            retries = [j for j in jobs if j.get("failed_trial") == killed["number"]]
            landed.append([(r["state"], r["job"]) for r in retries] == [("COMPLETE", killed["job"])])
            break
    assert landed == [True], "in three runs no kill landed while a worker trained a fold"


def _run_and_kill_a_worker(out: Path) -> dict | None:
    """Run the TINY doctor with 2 workers into ``out``, SIGKILL the worker while it trains a fold (that job, or None
    when none was caught), and wait for the run to finish."""
    process = _doctor(out, "--workers", "2")
    coordinator = str(process.pid)
    hold_until_the_worker_is_ready(process, out)
    killed = None
    deadline = time.monotonic() + 300
    try:
        while killed is None and process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error):  # the storage is being created
                running = [j for j in _jobs(out) if j["state"] == "RUNNING" and "worker" in j
                           and j["worker"].rsplit(":", 1)[1] != coordinator]
                if running:
                    killed = _kill_while_running(out, running[0])
            time.sleep(0.02)
    except BaseException:
        process.kill()
        raise
    _finished(process)
    return killed


def _kill_while_running(out: Path, job: dict) -> dict | None:
    """SIGKILL the worker of ``job`` if the job is still RUNNING once that worker is frozen (SIGSTOP), and return
    the job; else let the worker go on and return None (it finished the job between our two looks)."""
    pid = int(job["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGSTOP)
    try:
        now = next(j for j in _jobs(out, timeout=2) if j["number"] == job["number"])
    except (sqlite3.Error, StopIteration):
        now = {"state": "unknown"}  # frozen inside a write: try another job
    if now["state"] == "RUNNING":
        os.kill(pid, signal.SIGKILL)
        return job
    os.kill(pid, signal.SIGCONT)
    return None


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(arguments: list[str], folder: Path | None = None) -> str:
    """The one line ``fitguard ARGUMENTS`` answers with exit code 2; ``folder`` is left as it was."""
    before = _snapshot(folder) if folder is not None else None
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(arguments)
    assert code == 2
    assert len(stderr.getvalue().strip().splitlines()) == 1
    if folder is not None:
        assert _snapshot(folder) == before
    return stderr.getvalue().strip()


def test_join_needs_a_running_doctor_run_with_workers(sequential, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    assert _refused(["doctor", "--join", str(other)], other) == (
        f"error: cannot join {str(other)!r}: it holds no run.json, so no fitguard run made it; give the --out of a "
        "running `fitguard doctor --workers N`")
    assert _refused(["doctor", "--join", str(sequential)], sequential) == (
        f"error: cannot join {str(sequential)!r}: that run finished (it wrote summary.json)")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(sequential, unfinished)
    (unfinished / "summary.json").unlink()
    assert _refused(["doctor", "--join", str(unfinished)], unfinished) == (
        f"error: cannot join {str(unfinished)!r}: that run queues no work (it was started without --workers N, N > 1, "
        "or has not read its data yet)")
    url = storage_url(unfinished)
    create_queue(url)
    FoldQueue(open_queue_storage(url)).finish()  # as a run with workers leaves it when it ends or fails
    assert _refused(["doctor", "--join", str(unfinished)], unfinished) == (
        f"error: cannot join {str(unfinished)!r}: that run ended before it finished (its queue is closed); "
        "`fitguard doctor --resume` continues it")


def test_a_worker_count_below_one_or_with_join_is_refused(tmp_path):
    assert _refused(["doctor", "--workers", "0", "--out", str(tmp_path / "run")]) == (
        "error: `--workers` must be >= 1, got 0")
    assert not (tmp_path / "run").exists()
    assert _refused(["doctor", "--join", str(tmp_path), "--workers", "2"]) == (
        "error: `--join` trains in this one process; start more `--join` processes for more workers, or give "
        "`--workers` to the run itself")


def _busy_timeout(storage) -> int:
    with storage.engine.connect() as connection:
        return connection.exec_driver_sql("pragma busy_timeout").scalar()


def test_the_runs_storage_waits_a_minute_for_another_processs_write(tmp_path):
    # SQLite's own wait is 5 s, and Optuna gives up on a write after about 30 s of them; a minute per attempt keeps
    # the run and its workers from failing with "database is locked" while another process writes
    url = storage_url(tmp_path)
    assert _busy_timeout(optuna.storages.RDBStorage(url)) == 5_000
    assert _busy_timeout(TrialStore(url).storage) == 60_000
    assert _busy_timeout(open_queue_storage(url)) == 60_000


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the run's worker process through /proc")
def test_a_sigkilled_runs_worker_stops_and_resume_with_workers_finishes(sequential, tmp_path):
    out = tmp_path / "run killed"
    process = _doctor(out, "--workers", "2")
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):
            if sum(j["state"] == "COMPLETE" for j in _jobs(out)) >= 3:
                break
        time.sleep(0.02)
    children = [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it was killed"
    assert len(children) == 1
    stopped = time.monotonic() + 30
    while _alive(children[0]) and time.monotonic() < stopped:
        time.sleep(0.1)
    assert not _alive(children[0]), "the worker outlived its run"  # it saw the run folder's lock free

    _finished(_doctor(out, "--workers", "2", "--resume"))
    scores = _fold_scores(out)
    assert scores == _fold_scores(sequential)
    replayed = json.loads((out / "summary.json").read_text())["remedies"]["replayed"]
    assert replayed >= 1  # 3 jobs done: the first batch's scores were gathered and stored before more were queued
    jobs = _jobs(out)
    _assert_each_job_completed_once(jobs)
    # the killed attempt's queue was replaced: jobs (one per fold, or one for grouped folds) only for the
    # cross-validated scores the resumed run trained
    assert len({j["job"]["call"] for j in jobs}) == sum(len(folds) == 2 for _, folds, *_ in scores.values()) - replayed


def test_workers_need_data_they_can_load_themselves(tmp_path):
    from fitguard.data import load
    from fitguard.doctor import DoctorOptions, run_doctor

    with pytest.raises(ValueError) as error:
        run_doctor(DoctorOptions(workers=2, out=str(tmp_path / "run"), quiet=True), data=load("wine", seed=0))
    assert str(error.value) == ("`--workers` needs data the worker processes load themselves (--data): a given "
                                "Dataset is this process's alone")
    assert not (tmp_path / "run").exists()
