"""Storage lost mid-study: the PostgreSQL server is stopped while ``fitguard search`` runs trials. The worker
exits with one clear line (no traceback); after a restart, ``fitguard search --resume`` finishes the study and
no trial that had completed is lost.

Slow (a study, a server stop and restart, and a 30 s heartbeat grace period before the interrupted trial is
re-queued) and it needs the PostgreSQL server binaries: it runs only with ``FITGUARD_SLOW=1`` and
``FITGUARD_TEST_POSTGRES_URL`` set (CI's marker that PostgreSQL is installed). It starts its own private
cluster, so stopping it disturbs no other test.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("FITGUARD_SLOW") != "1" or not os.environ.get("FITGUARD_TEST_POSTGRES_URL"),
    reason="slow PostgreSQL fault test: set FITGUARD_SLOW=1 and FITGUARD_TEST_POSTGRES_URL (see .ci/postgres.sh)",
)

SPEC = """data: {source: wine, seed: 0}
model: {name: mlp, hidden: [16]}
train: {max_epochs: 40, batch_size: 16, device: cpu}
early_stopping: false
tensorboard: false
search:
  lr: {low: 1.0e-3, high: 1.0e-2, log: true}
"""


class Cluster:
    """A throw-away PostgreSQL cluster run as the postgres user (the server refuses to run as root)."""

    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        # not under pytest's tmp_path: the postgres user cannot enter root's private pytest folders
        root = self.root = Path(tempfile.mkdtemp(prefix="fitguard-pg-faults-", dir="/tmp"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        shutil.chown(root, "postgres")
        self._as_postgres(f"'{self.bin}/initdb' -D '{root}/data' -A trust -U postgres --no-sync")
        self.start()
        self._as_postgres(f"'{self.bin}/createdb' -h 127.0.0.1 -p {self.port} -U postgres faults")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/faults"

    def _as_postgres(self, command: str, check: bool = True) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=check, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._as_postgres(f"'{self.bin}/pg_ctl' -D '{self.root}/data' -l '{self.root}/log' -w -o \"{options}\" start")

    def stop(self, check: bool = True) -> None:
        self._as_postgres(f"'{self.bin}/pg_ctl' -D '{self.root}/data' -m fast -w stop", check)


def _complete(url: str) -> dict[int, float]:
    import optuna

    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.load_study(study_name="faults", storage=storage)
        return {t.number: t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    except KeyError:  # the study is not created yet
        return {}
    finally:
        storage.remove_session()


def test_stopping_the_database_mid_study_loses_no_completed_trial(tmp_path):
    cluster = Cluster()
    try:
        (tmp_path / "spec.yaml").write_text(SPEC)
        command = [sys.executable, "-m", "fitguard.cli", "search", "spec.yaml", "--storage", cluster.url, "--study",
                   "faults", "--trials", "8", "--quiet", "--out", "search"]
        worker = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while len(seen := _complete(cluster.url)) < 2 and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker.poll() is None, "the study ended before the server could be stopped"
        cluster.stop()
        _, stderr = worker.communicate(timeout=120)

        assert worker.returncode == 2, stderr[-3000:]
        assert "Traceback" not in stderr
        last = stderr.strip().splitlines()[-1]
        shown = cluster.url
        assert last.startswith(f"error: lost the study storage {shown} (")
        assert last.endswith("); finished trials are kept there: once the database is back, continue with "
                             "`fitguard search CONFIG --storage URL --resume`")

        cluster.start()
        before = _complete(cluster.url)
        assert seen.items() <= before.items()  # everything seen complete before the stop is still there
        resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=400)
        assert resumed.returncode == 0, resumed.stderr
        after = _complete(cluster.url)
        assert before.items() <= after.items()
        assert (tmp_path / "search" / "results.json").is_file()
    finally:
        cluster.stop(check=False)  # already stopped when the test failed between stop and restart
        shutil.rmtree(cluster.root, ignore_errors=True)
