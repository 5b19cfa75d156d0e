import os
import signal
import subprocess
import time
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


def hold_until_the_worker_is_ready(run: subprocess.Popen, out: Path) -> None:
    """Freeze the run (SIGSTOP) once it has started its worker, until the worker says it is ready: the TINY run's
    jobs are done in about as long as a worker takes to start, so without this the run may train them all alone.
    The freeze is shorter than a job's heartbeat grace (the worker starts in a few seconds)."""
    log = out / "worker-1.log"
    deadline = time.monotonic() + 120
    while not log.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if not log.exists():
        return  # the run ended first (its test says what went wrong)
    os.kill(run.pid, signal.SIGSTOP)
    try:
        while b"joined run" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.kill(run.pid, signal.SIGCONT)
