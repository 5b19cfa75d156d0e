import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fitguard.cli import app

# tiny on purpose: every phase runs, on 30% of digits' training split, with a handful of epochs; a trial budget and no
# clock, so the phases run the same however busy the machine is
TINY = ["--model", "mlp", "--budget", "none", "--trials", "12", "--epochs", "10", "--search-epochs", "8",
        "--folds", "2", "--rounds", "2", "--train-fraction", "0.3", "--min-steps", "0", "--quiet"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("doctor") / "digits"
    result = CliRunner().invoke(app, ["doctor", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def frozen_until(run: subprocess.Popen, done: Callable[[], bool], seconds: float) -> bool:
    """Freeze ``run`` (SIGSTOP) until ``done()`` says so, asked every 20 ms, for ``seconds`` at the most; then let it
    go on (SIGCONT). Whether ``done()`` said so.

    Args:
        run: the process to freeze.
        done: whether to let it go on.
        seconds: the longest freeze.
    """
    os.kill(run.pid, signal.SIGSTOP)
    thaw = time.monotonic() + seconds
    try:
        while time.monotonic() < thaw:
            if done():
                return True
            time.sleep(0.02)
        return False
    finally:
        os.kill(run.pid, signal.SIGCONT)


def hold_until_the_worker_is_ready(run: subprocess.Popen, out: Path, freeze_seconds: float = 8.0) -> None:
    """Freeze the run (SIGSTOP) once it has started its worker process, until the worker says it is ready: the TINY
    run's jobs are done in about as long as a worker takes to start, so without this the run may train them all
    alone. The freeze ends after ``freeze_seconds`` at the most, below the 10 s after which a job whose process
    sends no heartbeat counts as dead (a job the run had taken would be failed); the wait for the worker goes on
    unfrozen. Fails the test when the worker is not ready within 120 s."""
    log = out / "worker-1.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and _children(run.pid)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if run.poll() is not None:
        return  # the run ended first (its test says what went wrong)
    frozen_until(run, lambda: b"joined " in log.read_bytes(), min(freeze_seconds, deadline - time.monotonic()))
    while b"joined " not in log.read_bytes() and run.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail(f"the run's worker did not get ready in 120 s: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)
