"""``fitguard doctor --resume``: a run SIGKILLed in the architecture phase or in the study continues from its
study.db; no scored recipe is lost or trained twice, and the kept recipe is the uninterrupted run's.

The uninterrupted run is the session's ``digits_run`` (same options, a trial budget and no clock, so both runs make
the same choices); the killed runs are real processes, killed with SIGKILL once their storage holds enough trials.
"""

import contextlib
import hashlib
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fitguard.cli import main
from fitguard.doctor import read_summary
from fitguard.doctor.store import STUDY

from tests.doctor.conftest import TINY


def _counts(run_dir: Path) -> dict[tuple[str, str], int]:
    """Trials per (study, state) in the run's study.db."""
    with sqlite3.connect(run_dir / "study.db") as db:
        rows = db.execute("select s.study_name, t.state, count(*) from trials t join studies s "
                          "on t.study_id = s.study_id group by 1, 2").fetchall()
    return {(study, state): n for study, state, n in rows}


def _keys(run_dir: Path) -> list[str]:
    """The ``key`` of every stored scored recipe (duplicates kept)."""
    with sqlite3.connect(run_dir / "study.db") as db:
        rows = db.execute("select a.value_json from trial_user_attributes a join trials t on a.trial_id = t.trial_id "
                          "join studies s on t.study_id = s.study_id where s.study_name = ? and a.key = 'key'",
                          (STUDY,)).fetchall()
    return [json.loads(value) for (value,) in rows]


def _killed(out: Path, study: str, at_least: int) -> Path:
    """Start ``fitguard doctor`` (TINY options) and SIGKILL it once ``study`` holds ``at_least`` trials."""
    process = subprocess.Popen([sys.executable, "-m", "fitguard.cli", "doctor", *TINY, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    try:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                counts = _counts(out) if (out / "study.db").is_file() else {}
            except sqlite3.Error:  # the storage is being created
                counts = {}
            found = sum(n for (name, _), n in counts.items() if name == study)
            if found >= at_least:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        code = process.wait()
    assert code == -signal.SIGKILL, f"the run ended by itself ({code}) before {study} held {at_least} trials"
    return out


@pytest.fixture(scope="module")
def killed_early(tmp_path_factory):
    """A run killed in the architecture phase (its second scored candidate stored)."""
    return _killed(tmp_path_factory.mktemp("resume") / "early", STUDY, 2)


class Outcome:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


def _resume(out: Path, *extra: str) -> Outcome:
    """``fitguard doctor TINY --out OUT --resume EXTRA`` through the CLI's entry point (one line on stderr, exit 2
    for bad input), in this process."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["doctor", *TINY, "--out", str(out), "--resume", *extra])
    return Outcome(code, stderr.getvalue())


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["architecture", "study"])
def test_a_killed_run_resumes_to_the_uninterrupted_runs_choice(where, digits_run, killed_early, tmp_path):
    if where == "architecture":
        out = tmp_path / "early"
        shutil.copytree(killed_early, out)
    else:
        out = _killed(tmp_path / "late", "doctor", 1)  # killed while the study's first trial trained
        assert _counts(out).get(("doctor", "RUNNING")) == 1
    before = set(_keys(out))
    assert before, "the killed run stored no scored recipe"

    result = _resume(out)
    assert result.exit_code == 0, result.output

    resumed, uninterrupted = read_summary(out), read_summary(digits_run)
    assert resumed["best"]["name"] == uninterrupted["best"]["name"]
    assert resumed["best"]["recipe"] == uninterrupted["best"]["recipe"]
    assert resumed["test"]["best"]["accuracy"] == pytest.approx(uninterrupted["test"]["best"]["accuracy"])
    # every scored recipe once: those the killed run finished were read back, not trained (and stored) again
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == len(_keys(digits_run))
    assert before <= set(keys)
    assert resumed["remedies"]["replayed"] == len(before)
    assert resumed["remedies"]["stored"] == len(keys)
    assert (f"This run was resumed (<code>--resume</code>): {len(before)} of its {len(keys)} scored recipes"
            in (out / "report.html").read_text())
    counts = _counts(out)
    assert counts.get(("doctor", "RUNNING"), 0) == 0
    finished = counts.get(("doctor", "COMPLETE"), 0) + counts.get(("doctor", "PRUNED"), 0)
    assert finished == len(uninterrupted["remedies"]["study"]["trials"])
    assert json.loads((out / "run.json").read_text())["attempts"] == 2


def test_resuming_a_finished_run_is_refused_and_changes_nothing(digits_run):
    before = _snapshot(digits_run)
    result = _resume(digits_run)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: cannot resume {str(digits_run)!r}: that run finished (it wrote "
                                     "summary.json); pass --overwrite to run it again or choose another --out")
    assert _snapshot(digits_run) == before


@pytest.mark.parametrize("change, message", [
    (["--trials", "13"], "it ran with other options (--trials: 12 before, 13 now)"),
    (["--seed", "3", "--folds", "3"], "it ran with other options (--seed: 0 before, 3 now; --folds: 2 before, 3 now)"),
])
def test_resuming_with_other_options_is_refused_and_changes_nothing(killed_early, tmp_path, change, message):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    before = _snapshot(out)
    result = _resume(out, *change)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: cannot resume {str(out)!r}: {message}; rerun with its options or "
                                     "choose another --out")
    assert _snapshot(out) == before


def test_resuming_on_other_data_is_refused_and_changes_nothing(killed_early, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    marker = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**marker, "data_fingerprint": "0" * 32}))  # as if the file had changed
    before = _snapshot(out)
    result = _resume(out)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: cannot resume {str(out)!r}: its data differ from the data it was run on "
                                     "(other rows, targets or splits); rerun on the same data or choose another --out")
    assert _snapshot(out) == before


def test_resume_needs_a_doctor_run_folder(tmp_path):
    missing = tmp_path / "missing"
    assert _resume(missing).output.strip() == (f"error: cannot resume: run folder {str(missing)!r} does not exist "
                                               "or is empty")
    other = tmp_path / "train_run"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"command": "train"}))
    result = _resume(other)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: cannot resume {str(other)!r}: it is a `fitguard train` run folder, "
                                     "not a doctor's")
    both = _resume(other, "--overwrite")
    assert both.exit_code == 2
    assert both.output.strip() == ("error: give `--resume` (continue the run in --out) or `--overwrite` (start it "
                                   "again), not both")
