"""The fold-job queue through Optuna's ``GrpcStorageProxy`` (a proxy server on loopback in front of the run's SQLite
storage), with scripted trainings: jobs are trained once and gathered in order, and since the proxy has no heartbeat
of Optuna's, a dead worker's job is found by the queue's own (:class:`fitguard.search.workers.AttributeHeartbeat`)."""

import contextlib
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import optuna
import pytest

from fitguard.data import kfold, load
from fitguard.doctor import queue as queue_module
from fitguard.doctor.queue import FoldCache, FoldQueue, create_queue
from fitguard.doctor.store import storage_url
from fitguard.search.workers import HEARTBEAT_ATTR, take_queued
from tests.doctor.test_queue import _scripted

SERVER = ("import sys, optuna; optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage(sys.argv[1]), "
          "host='127.0.0.1', port=int(sys.argv[2]))")


@pytest.fixture(scope="module")
def data():
    return load("wine", seed=0)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def grpc_proxy(url: str) -> Iterator[int]:
    """Optuna's gRPC storage proxy in front of the storage ``url``, in a process of its own on loopback, as a user
    starts it: its port, once it answers (the test is skipped without grpcio)."""
    pytest.importorskip("grpc", reason="grpcio is not installed: Optuna's gRPC storage proxy needs it")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)], stderr=subprocess.PIPE)
    try:
        with warnings.catch_warnings():  # "experimental" since Optuna 4.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port)
        storage.wait_server_ready(timeout=60)  # the server process imports Optuna first: seconds on a busy machine
        storage.close()
        yield port
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def proxy(tmp_path):
    url = storage_url(tmp_path)
    create_queue(url)
    with grpc_proxy(url) as port:
        yield optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port)


def _jobs(queue, data):
    return queue.jobs({"model": {"name": "mlp"}}, name="mlp 64", phase="architecture", options={"max_epochs": 3},
                      folds=list(kfold(data, k=2, seed=0)), seed=0)


def _states(queue) -> list[tuple[int, str]]:
    return [(t.number, t.state.name) for t in queue.storage.get_all_trials(queue.study_id)]


def test_jobs_go_through_the_proxy_each_trained_once_with_the_queues_own_heartbeat(proxy, data):
    assert not hasattr(proxy, "record_heartbeat")  # Optuna's heartbeat is the RDB storage's alone
    queue = FoldQueue(proxy, FoldCache(data))
    ids = queue.put(_jobs(queue, data))
    assert queue.serve(_scripted, stop=lambda idle: True) == 2
    trials = queue.gather(ids, train=lambda job: pytest.fail("nothing is left to train"))
    assert [(t.name, t.val_score) for t in trials] == [("mlp 64 fold 1", 0.1), ("mlp 64 fold 2", 0.2)]
    assert _states(queue) == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert all(HEARTBEAT_ATTR in t.system_attrs for t in proxy.get_all_trials(queue.study_id))


def test_a_job_whose_worker_stopped_beating_is_trained_again(proxy, data, monkeypatch):
    monkeypatch.setattr(queue_module, "GRACE_SECONDS", 0.5)
    queue = FoldQueue(proxy, FoldCache(data))
    ids = queue.put(_jobs(queue, data))
    assert take_queued(proxy, queue.study_id) == ids[0]  # taken by a worker that dies before its first beat
    started, gathered = time.monotonic(), []
    # without a heartbeat to miss the run would wait for that job forever: a thread, so that the test fails instead
    waiting = threading.Thread(target=lambda: gathered.extend(queue.gather(ids, train=_scripted)), daemon=True)
    waiting.start()
    waiting.join(60)
    assert not waiting.is_alive(), "the dead worker's job was never retried"
    assert time.monotonic() - started > 0.5
    assert [t.val_score for t in gathered] == [0.1, 0.2]
    assert _states(queue) == [(0, "FAIL"), (1, "COMPLETE"), (2, "COMPLETE")]
    retry = proxy.get_all_trials(queue.study_id)[2]
    assert retry.system_attrs["failed_trial"] == 0 and retry.user_attrs["job"]["fold"] == 1
