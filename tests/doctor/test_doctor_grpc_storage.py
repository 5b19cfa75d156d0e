"""``fitguard doctor --storage grpc://HOST:PORT`` and ``--join grpc://HOST:PORT[#RUN_ID]``: a run whose trial store,
study, fold queue and workers reach their storage only through Optuna's gRPC storage proxy (a proxy process on
loopback in front of a SQLite file, or of PostgreSQL when ``FITGUARD_TEST_POSTGRES_URL`` is set), with a ``--join``
process from elsewhere; its trials end up in the storage behind the proxy with the fold scores of a single process.
Malformed ``grpc://`` addresses and a proxy that does not answer: one line, exit 2, nothing made.

The runs, fixtures and checks are tests/doctor/test_doctor_storage.py's (the TINY run in 3 folds, one thread each).
"""

import socket

import optuna
import pytest

from fitguard.doctor import phases
from fitguard.search import storage as storage_module
from tests.doctor.test_doctor_resume import LEADER, _Objective
from tests.doctor.test_doctor_storage import (  # noqa: F401 -- database and sequential: its fixtures, asked by name
    ENVIRONMENT,
    _assert_each_job_completed_once,
    _doctor,
    _finished,
    _fold_scores,
    _jobs,
    _join_while_frozen,
    _refused,
    _run_id,
    _wait_for_queue,
    database,
    sequential,
)
from tests.doctor.test_queue_grpc_proxy import free_port, grpc_proxy


@pytest.fixture(params=["sqlite", "postgresql"])
def behind(request, tmp_path) -> str:
    """The URL of the storage the proxy serves: a new SQLite file, or a new PostgreSQL database (skipped without a
    server)."""
    if request.param == "postgresql":
        return request.getfixturevalue("database")
    return f"sqlite:///{tmp_path / 'behind.db'}"


def test_a_run_and_a_join_through_the_proxy_train_every_fold_once(behind, tmp_path, request):
    alone = request.getfixturevalue("sequential")  # the fold scores of the run in one process
    out, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    elsewhere.mkdir()
    with grpc_proxy(behind) as port:
        proxy = f"grpc://127.0.0.1:{port}"
        # --workers 2: the run's own worker finds the proxy through run.json and the environment
        run = _doctor(out, "--workers", "2", "--storage", proxy)
        run_id = _wait_for_queue(proxy, run)
        join, first = _join_while_frozen(run, f"{proxy}#{run_id}", elsewhere)
        _finished(run)
        said = _finished(join).strip()

    assert first == f"joined run {run_id} of {socket.gethostname()}:{out.resolve()}; training its queued folds"
    assert _run_id(out) == run_id and not (out / "study.db").exists()
    assert (out / "run.json").read_text().count(proxy) == 2  # the storage, and the --storage option
    by_process = _assert_each_job_completed_once(_jobs(behind, f"doctor-queue-{run_id}"))
    joined = by_process[f"{socket.gethostname()}:{join.pid}"]
    assert said == f"trained {joined} queued fold{'s' * (joined != 1)} of the run" and joined >= 1
    # the run's processes trained the rest, on this host (which of its two got a job is a race: see the storage test)
    others = set(by_process) - {f"{socket.gethostname()}:{join.pid}"}
    assert 1 <= len(others) <= 2 and {worker.rsplit(":", 1)[0] for worker in others} == {socket.gethostname()}
    # behind the proxy: every scored trial, with the fold scores the run had alone in its folder's study.db
    assert _fold_scores(behind, f"doctor-trials-{run_id}") == alone
    assert list(elsewhere.iterdir()) == []


def test_the_study_phase_draws_through_the_proxy_what_it_draws_from_the_database(tmp_path):
    direct = phases.study(_Objective(), phases.Clock(None, 6), LEADER, tmp_path / "direct.db", seed=0,
                          tick=lambda: None)
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    with grpc_proxy(behind) as port:
        proxied = phases.study(_Objective(), phases.Clock(None, 6), LEADER, f"grpc://127.0.0.1:{port}", seed=0,
                               tick=lambda: None)
    assert [t.details["params"] for t in proxied] == [t.details["params"] for t in direct]
    assert len(proxied) == 3
    stored = optuna.load_study(study_name="doctor", storage=behind).trials
    assert [(t.state.name, t.params) for t in stored] == [("COMPLETE", t.details["params"]) for t in proxied]


@pytest.mark.parametrize("arguments, given", [
    (["--storage", "grpc://127.0.0.1"], "'grpc://127.0.0.1'"),
    (["--storage", "grpc://127.0.0.1:0"], "'grpc://127.0.0.1:0'"),
    (["--storage", "grpc://127.0.0.1:65536"], "'grpc://127.0.0.1:65536'"),
    (["--storage", "grpc://db_proxy:13000"], "'grpc://db_proxy:13000'"),
    (["--storage", "grpc://127.0.0.1:13000/runs"], "'grpc://127.0.0.1:13000/runs'"),
    (["--join", "grpc://:13000#3f9a2c1d"], "'grpc://:13000'"),
])
def test_a_malformed_grpc_address_is_one_line(arguments, given, tmp_path):
    option = arguments[0]
    assert _refused(["doctor", *arguments, "--out", str(tmp_path / "run")]) == (
        f"error: `{option}` must be grpc://HOST:PORT (a host name or IP address, a port 1-65535), got {given}")
    assert not (tmp_path / "run").exists()


def test_a_proxy_that_does_not_answer_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_module, "GRPC_CONNECT_SECONDS", 0.5)
    nobody = f"grpc://127.0.0.1:{free_port()}"
    said = (f"cannot reach the gRPC storage proxy {nobody}: nothing answered at 127.0.0.1:{nobody.rsplit(':', 1)[1]} "
            "within 0.5 s; check that optuna.storages.run_grpc_proxy_server is serving there and that this machine "
            "reaches that host and port")
    out = tmp_path / "run"
    assert _refused(["doctor", "--storage", nobody, "--out", str(out)]) == f"error: {said}"
    assert not out.exists()
    assert _refused(["doctor", "--join", f"{nobody}#3f9a2c1d"]) == f"error: {said}"


def test_join_through_the_proxy_needs_a_doctor_run_there(tmp_path):
    with grpc_proxy(f"sqlite:///{tmp_path / 'behind.db'}") as port:
        proxy = f"grpc://127.0.0.1:{port}"
        assert _refused(["doctor", "--join", proxy]) == (
            f"error: cannot join {proxy!r}: it holds no doctor run; start one with `fitguard doctor --storage URL`")
