"""``fitguard doctor --storage postgresql+psycopg://...`` and ``--join URL``: a run's trials and fold queue in a shared
PostgreSQL database, trained by its own workers and by a ``--join`` process elsewhere that never sees the run folder;
each queued fold trained once (once more when its worker is SIGKILLed), with the fold scores of a single process;
``--resume`` of such a run finds its trials there.

Real processes on a real server (``FITGUARD_TEST_POSTGRES_URL``, started by ``.ci/postgres.sh``), each test in a
database of its own; the TINY run, cross-validated in 3 folds (one job for each of the three processes of a score),
without the phases that queue nothing (references, bias-variance, ensemble), one torch thread per process so that the
fold scores can be compared exactly.
"""

import contextlib
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy

from fitguard.cli import main
from fitguard.doctor.store import doctor_runs, storage_url
from tests.doctor.conftest import TINY, hold_until_the_worker_is_ready

ROOT = Path(__file__).resolve().parents[2]
CHANGED = {"--folds": "3", "--rounds": "0"}
OPTIONS = [*(CHANGED.get(TINY[i - 1], value) if i else value for i, value in enumerate(TINY)),
           "--cv-max-rows", "5000", "--no-references", "--ensemble", "1"]
# one thread each; the package importable from any working directory (the --join process runs elsewhere)
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}


@pytest.fixture
def database(postgres_url: str) -> str:
    """The URL of a new, empty database on the test server (dropped afterwards)."""
    name = f"fitguard_doctor_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"create database {name}")
    yield str(sqlalchemy.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False))
    with admin.connect() as connection:
        connection.exec_driver_sql(f"drop database if exists {name} with (force)")
    admin.dispose()


def _doctor(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fitguard.cli", "doctor", *OPTIONS, "--out", str(out), *extra],
                            env=ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finished(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()
    return (stdout or b"").decode()


def _rows(url: str, sql: str, **arguments: object) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text(sql), arguments).fetchall()
    finally:
        engine.dispose()


def _jobs(url: str, queue: str) -> list[dict]:
    """Every trial of the queue study: its state, job, worker, and the number of the trial it retries."""
    found: dict[int, dict] = {}
    for trial_id, number, state in _rows(url, "select t.trial_id, t.number, t.state from trials t join studies s on "
                                              "t.study_id = s.study_id where s.study_name = :name", name=queue):
        found[trial_id] = {"number": number, "state": state}
    for table in ("trial_user_attributes", "trial_system_attributes"):
        for trial_id, key, value in _rows(url, f"select trial_id, key, value_json from {table}"):
            if trial_id in found:
                found[trial_id][key] = json.loads(value)
    return list(found.values())


def _fold_scores(url: str, study: str) -> dict[str, tuple[str, list[float], float]]:
    """Every scored recipe of the run by its key: its name, fold scores and mean validation loss."""
    records: dict[int, dict] = {}
    for trial_id, key, value in _rows(url, "select a.trial_id, a.key, a.value_json from trial_user_attributes a join "
                                           "trials t on a.trial_id = t.trial_id join studies s on t.study_id = "
                                           "s.study_id where s.study_name = :name and a.key in ('key', 'trial')",
                                      name=study):
        records.setdefault(trial_id, {})[key] = json.loads(value)
    return {r["key"]: (r["trial"]["name"], r["trial"]["details"]["folds"], r["trial"]["details"]["val_loss"])
            for r in records.values()}


def _assert_each_job_completed_once(jobs: list[dict]) -> Counter:
    """Each (score, fold) has exactly one COMPLETE trial; the processes that trained them, counted."""
    complete = Counter((j["job"]["call"], j["job"]["fold"]) for j in jobs if j["state"] == "COMPLETE")
    assert complete and set(complete) == {(j["job"]["call"], j["job"]["fold"]) for j in jobs}
    assert set(complete.values()) == {1}
    assert not [j for j in jobs if j["state"] in ("WAITING", "RUNNING")]
    return Counter(j["worker"] for j in jobs if j["state"] == "COMPLETE")


def _run_id(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["storage"]["run_id"]


def _wait_for_queue(url: str, process: subprocess.Popen) -> str:
    """The id of the run ``process`` started in ``url``, once its queue is open."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        running = [run_id for run_id, run in doctor_runs(url).items() if run["queue"] == "open"]
        if running:
            return running[0]
        time.sleep(0.05)
    raise AssertionError(f"the run opened no queue (exit code {process.poll()})")


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> dict:
    """The fold scores of the run in one process, one thread, in its folder's study.db."""
    out = tmp_path_factory.mktemp("storage") / "sequential"
    _finished(_doctor(out))
    return _fold_scores(storage_url(out), "doctor-trials")


def _join_while_frozen(run: subprocess.Popen, target: str, cwd: Path) -> tuple[subprocess.Popen, str]:
    """A ``--join target`` process started in ``cwd`` while the run waits, frozen (SIGSTOP) before it queues a job,
    until the join, which starts slower, says it is ready; the join and its first line."""
    os.kill(run.pid, signal.SIGSTOP)
    try:
        join = subprocess.Popen([sys.executable, "-m", "fitguard.cli", "doctor", "--join", target], cwd=cwd,
                                env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([join.stdout], [], [], 120)  # a join that hangs fails the test, not the run
        return join, join.stdout.readline().decode().strip() if ready else "(nothing in 120 s)"
    finally:
        os.kill(run.pid, signal.SIGCONT)


def test_two_workers_and_a_join_from_elsewhere_train_every_fold_once(sequential, database, tmp_path):
    out, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = _doctor(out, "--workers", "2", "--storage", database)
    run_id = _wait_for_queue(database, run)
    join, first = _join_while_frozen(run, database, elsewhere)
    _finished(run)
    said = _finished(join).strip()

    assert first == f"joined run {run_id} of {socket.gethostname()}:{out.resolve()}; training its queued folds"
    assert _run_id(out) == run_id and not (out / "study.db").exists()  # the trials are in the database
    by_process = _assert_each_job_completed_once(_jobs(database, f"doctor-queue-{run_id}"))
    joined = by_process[f"{socket.gethostname()}:{join.pid}"]
    assert said == f"trained {joined} queued fold{'s' * (joined != 1)} of the run" and joined >= 1
    # the run's two processes trained the rest, on this host; which of them got a job is a race (a TINY fold takes a
    # fraction of a second, and one may take every job left while the other starts), so the count is 2 or 3
    others = set(by_process) - {f"{socket.gethostname()}:{join.pid}"}
    assert 1 <= len(others) <= 2 and {worker.rsplit(":", 1)[0] for worker in others} == {socket.gethostname()}
    assert _fold_scores(database, f"doctor-trials-{run_id}") == sequential
    assert list(elsewhere.iterdir()) == []  # the join wrote nothing where it ran
    assert doctor_runs(database)[run_id]["finished"] is True


RUNNING = ("select t.number, a.value_json from trials t join studies s on t.study_id = s.study_id join "
           "trial_user_attributes a on a.trial_id = t.trial_id where s.study_name = :name and t.state = 'RUNNING' "
           "and a.key = 'worker'")


def _running(connection: sqlalchemy.Connection, queue: str) -> dict[int, str]:
    """The jobs of ``queue`` RUNNING now: their trial numbers and workers, in one query on an open connection (a
    grouped job trains its folds in a fraction of a second, so the look must be quick)."""
    return {number: json.loads(worker)
            for number, worker in connection.execute(sqlalchemy.text(RUNNING), {"name": queue}).fetchall()}


def _kill_while_running(connection: sqlalchemy.Connection, queue: str, number: int, worker: str) -> bool:
    """SIGKILL ``worker`` if its job ``number`` is still RUNNING once the worker is frozen (SIGSTOP); else let it go
    on and say so (it finished the job between our two looks)."""
    pid = int(worker.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGSTOP)
    if _running(connection, queue).get(number) == worker:
        os.kill(pid, signal.SIGKILL)
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def test_a_sigkilled_workers_fold_is_trained_again(sequential, database, tmp_path):
    # TINY folds take a fraction of a second, so a kill can miss: up to three runs, until one lands mid-fold
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        process = _doctor(out, "--workers", "2", "--storage", database)
        run_id = _wait_for_queue(database, process)
        hold_until_the_worker_is_ready(process, out)
        queue = f"doctor-queue-{run_id}"
        killed = None
        engine = sqlalchemy.create_engine(database, isolation_level="AUTOCOMMIT")  # each look sees the latest commit
        try:
            with engine.connect() as connection:
                while killed is None and process.poll() is None:
                    for number, worker in _running(connection, queue).items():
                        if not worker.endswith(f":{process.pid}") and _kill_while_running(connection, queue, number,
                                                                                           worker):
                            killed = number
                            break
                    time.sleep(0.01)
        except BaseException:
            process.kill()
            raise
        finally:
            engine.dispose()
        _finished(process)
        jobs = _jobs(database, queue)
        _assert_each_job_completed_once(jobs)
        assert _fold_scores(database, f"doctor-trials-{run_id}") == sequential
        failed = [j for j in jobs if j["state"] == "FAIL"]
        assert all("error" not in j for j in failed)  # a dead worker's job is no training error
        if killed is not None and [j["number"] for j in failed] == [killed]:
            job = next(j["job"] for j in jobs if j["number"] == killed)
            retries = [(j["state"], j["job"]) for j in jobs if j.get("failed_trial") == killed]
            assert retries == [("COMPLETE", job)]
            return
    pytest.fail("in three runs no kill landed while a worker trained a fold")


def _refused(arguments: list[str]) -> str:
    """The one line ``fitguard ARGUMENTS`` answers with exit code 2."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(arguments)
    assert code == 2
    assert len(stderr.getvalue().strip().splitlines()) == 1, stderr.getvalue()
    return stderr.getvalue().strip()


def test_a_killed_run_with_a_password_in_its_storage_url_resumes_there(sequential, database, tmp_path):
    url = database.replace("postgres@", "postgres:hush-4f1c@", 1)  # the test server trusts any password
    assert url != database
    out = tmp_path / "run"
    process = _doctor(out, "--workers", "2", "--storage", url)
    run_id = _wait_for_queue(database, process)
    queue = f"doctor-queue-{run_id}"
    while process.poll() is None and sum(j["state"] == "COMPLETE" for j in _jobs(database, queue)) < 4:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it was killed"

    shown = database.replace("postgres@", "postgres:***@", 1)
    assert _refused(["doctor", *OPTIONS, "--out", str(out), "--resume"]) == (
        f"error: cannot resume {str(out)!r}: its storage URL's password is not recorded; give --storage {shown} with "
        "the password again, or keep it in a PGPASSFILE")
    _finished(_doctor(out, "--workers", "2", "--storage", url, "--resume"))
    assert _fold_scores(database, f"doctor-trials-{run_id}") == sequential
    assert json.loads((out / "summary.json").read_text())["remedies"]["replayed"] >= 1
    _assert_each_job_completed_once(_jobs(database, f"doctor-queue-{run_id}"))
    assert not [p for p in out.rglob("*") if p.is_file() and b"hush-4f1c" in p.read_bytes()]
    assert json.loads((out / "run.json").read_text())["storage"] == {"url": shown, "run_id": run_id}


def test_join_needs_a_storage_with_a_running_doctor_run(database):
    # (a URL that is none, --join with --storage, a SQLite file without a run: tests/bad_inputs)
    assert _refused(["doctor", "--join", database]) == (
        f"error: cannot join {database!r}: it holds no doctor run; start one with `fitguard doctor --storage URL`")
    assert _refused(["doctor", "--join", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"]).startswith(
        "error: cannot open the study storage postgresql+psycopg://nobody:***@127.0.0.1:1/none (")
    assert _rows(database, "select count(*) from pg_tables where schemaname = 'public'") == [(0,)]  # nothing created


def test_join_picks_the_running_run_or_asks_which(database, tmp_path):
    from fitguard.doctor.queue import FoldQueue, create_queue, open_queue_storage
    from fitguard.doctor.store import TrialStore

    for run_id, state in (("aaaa0001", "finished"), ("bbbb0002", "open"), ("cccc0003", "open")):
        store = TrialStore(database, name=f"doctor-trials-{run_id}")
        store.describe({"options": {}, "config": {}, "data_fingerprint": "x", "host": "box", "run_dir": f"/r/{run_id}"})
        create_queue(database, f"doctor-queue-{run_id}")
        if state == "finished":
            store.finish()
            FoldQueue(open_queue_storage(database), name=f"doctor-queue-{run_id}").finish()
    assert _refused(["doctor", "--join", database]) == (
        f"error: cannot join {database!r}: it holds 2 running doctor runs (aaaa0001 (finished, box:/r/aaaa0001); "
        "bbbb0002 (running, box:/r/bbbb0002); cccc0003 (running, box:/r/cccc0003)); give --join URL#RUN_ID")
    assert _refused(["doctor", "--join", f"{database}#aaaa0001"]) == (
        f"error: cannot join '{database}#aaaa0001': that run finished (it wrote its summary)")
    assert _refused(["doctor", "--join", f"{database}#dddd0004"]).startswith(
        f"error: cannot join {database!r}: it holds no doctor run 'dddd0004' (aaaa0001 (finished")
    # --data says where this machine has the run's data; other data than the run's are refused
    assert _refused(["doctor", "--join", f"{database}#bbbb0002", "--data", "wine"]) == (
        f"error: cannot join '{database}#bbbb0002': the data this process loaded differ from the run's (other rows, "
        "targets or splits of --data wine); give it the same data")


def test_a_joiner_follows_the_queue_a_resumed_run_replaced(database):
    # in PostgreSQL the new queue gets another study id (SQLite reuses the old one: tests/doctor/test_queue.py)
    from fitguard.data import load
    from fitguard.doctor.queue import FoldCache, FoldQueue, create_queue, open_queue_storage
    from tests.doctor.test_queue import _jobs, _scripted

    data, name = load("wine", seed=0), "doctor-queue-eeee0005"
    create_queue(database, name)
    joiner = FoldQueue(open_queue_storage(database), FoldCache(data), name=name)
    create_queue(database, name)  # the --resume of the killed run
    run = FoldQueue(open_queue_storage(database), FoldCache(data), name=name)
    assert run.study_id != joiner.study_id
    run.put(_jobs(run, data))
    assert joiner.serve(_scripted, stop=lambda idle: True) == 2
    assert joiner.study_id == run.study_id
