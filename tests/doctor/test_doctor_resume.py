"""``fitguard doctor --resume``: a run SIGKILLed in the architecture phase or in the study continues from its
study.db; no scored recipe is lost or trained twice, and the kept recipe is the uninterrupted run's.

The uninterrupted run is the session's ``digits_run`` (same options, a trial budget and no clock, so both runs make
the same choices); the killed runs are real processes, killed with SIGKILL once their storage holds enough trials.
"""

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import optuna
import pytest

from fitguard.cli import main
from fitguard.doctor import phases, read_summary
from fitguard.doctor.store import STUDY
from fitguard.doctor.trials import Trial
from fitguard.runs import LOCK, claim_run_dir
from fitguard.search.pruning import DEFAULT_SAMPLER, make_sampler
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
    """Every file of the run and its hash; the lock file is the claim of whichever process holds the folder, not
    part of the run (a refused attempt held it for a moment)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK}


def _assert_refused(out: Path, reason: str, *extra: str) -> None:
    """``--resume`` of ``out`` (with ``extra`` options) answers ``error: cannot resume 'OUT': REASON``, exit 2, and
    leaves every file in ``out`` as it was."""
    before = _snapshot(out)
    result = _resume(out, *extra)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: cannot resume {str(out)!r}: {reason}"
    assert _snapshot(out) == before


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


def test_resuming_a_finished_run_is_refused_and_changes_nothing(digits_run, tmp_path):
    _assert_refused(digits_run, "that run finished (it wrote summary.json); pass --overwrite to run it again or "
                                "choose another --out")
    out = tmp_path / "killed while drawing its report"
    shutil.copytree(digits_run, out)
    (out / "report.html").unlink()
    _assert_refused(out, f"that run finished (it wrote summary.json) but its report is missing; `fitguard report "
                         f"{out}` draws it from the folder")


@pytest.mark.parametrize("change, message", [
    (["--trials", "13"], "it ran with other options (--trials: 12 before, 13 now)"),
    (["--seed", "3", "--folds", "3"], "it ran with other options (--seed: 0 before, 3 now; --folds: 2 before, 3 now)"),
])
def test_resuming_with_other_options_is_refused_and_changes_nothing(killed_early, tmp_path, change, message):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    _assert_refused(out, f"{message}; rerun with its options or choose another --out", *change)


def test_resuming_a_run_an_older_fitguard_started_names_the_option_it_lacked(killed_early, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    marker = json.loads((out / "run.json").read_text())
    del marker["options"]["one_se"]  # as a fitguard before session 35 wrote it: its tie was epsilon alone
    (out / "run.json").write_text(json.dumps(marker))
    _assert_refused(out, "it ran with other options (--one-se: not an option of the fitguard that started it, True "
                         "now); rerun with its options or choose another --out")


def test_resuming_on_other_data_is_refused_and_changes_nothing(killed_early, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    marker = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**marker, "data_fingerprint": "0" * 32}))  # as if the file had changed
    _assert_refused(out, "its data differ from the data it was run on (other rows, targets or splits); rerun on the "
                         "same data or choose another --out")


def test_a_folder_written_before_a_spec_key_existed_resumes_and_an_edited_spec_is_refused(killed_early, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(killed_early, older)
    marker = json.loads((older / "run.json").read_text())
    del marker["config"]["train"]["channels_last"]  # as a fitguard before session 24 wrote it: the default then
    (older / "run.json").write_text(json.dumps(marker))
    result = _resume(older)
    assert result.exit_code == 0, result.output
    edited = tmp_path / "edited"
    shutil.copytree(killed_early, edited)
    marker = json.loads((edited / "run.json").read_text())
    marker["config"]["train"]["lr"] = 0.5
    (edited / "run.json").write_text(json.dumps(marker))
    _assert_refused(edited, "its spec differs from the one it ran with (sections train; an edited --config?); rerun "
                            "with that spec or choose another --out")


def _doctor(out: Path, *extra: str) -> Outcome:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["doctor", *TINY, "--out", str(out), *extra])
    return Outcome(code, stderr.getvalue())


def test_a_folder_another_process_is_running_in_is_refused_until_that_process_dies(killed_early, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(killed_early, out)
    assert (out / LOCK).is_file()  # the killed run left its lock file behind; the kernel dropped its lock
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from fitguard.runs import claim_run_dir\n"
         "with claim_run_dir(sys.argv[1], resume=True):\n    print('held', flush=True); time.sleep(600)", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _snapshot(out)
        owner = f"fitguard process {holder.pid} on {socket.gethostname()}"
        for extra in (["--resume"], ["--overwrite"]):
            result = _doctor(out, *extra)
            assert result.exit_code == 2
            assert result.output.strip() == (f"error: run folder {str(out)!r} is in use by {owner}: wait until it "
                                             "ends (or stop it), or choose another --out")
            assert _snapshot(out) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with claim_run_dir(out, resume=True) as path:  # free again once its holder died
        assert (path / LOCK).read_text() == f"fitguard process {os.getpid()} on {socket.gethostname()}"
    assert not (out / LOCK).exists()  # a run that ends removes its lock file


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


class _Objective:
    """Stands in for the search's Scorer in the study phase: a smooth score of λ, dropout and the learning rate, so
    that the sampler's draws after its random start-up depend on what came before; cross-validated (never pruned)."""

    data = SimpleNamespace(task="classification")
    folds: ClassVar[list] = [None, None]
    train: ClassVar[dict] = {}
    trainings = 2

    def __call__(self, recipe, *, name, phase, callbacks=(), lr):
        lam, dropout = recipe["remedies"]["penalties"][0]["lam"], recipe["model"]["dropout"]
        score = -(math.log10(lam) + 3) ** 2 - 0.5 * (math.log10(lr) + 3) ** 2 - (dropout - 0.2) ** 2
        return Trial(name, phase, recipe, score, 0.0, 1, 1, 0.0)


LEADER = Trial("leader", "ablation", {"model": {"name": "mlp", "hidden": [8]}, "remedies": {}}, 0.9, 0.0, 1, 1, 0.0)


def _study(storage: Path, trials: int) -> list[Trial]:
    return phases.study(_Objective(), phases.Clock(None, 2 * trials), LEADER, storage, seed=0, tick=lambda: None)


@pytest.mark.parametrize("killed", ["drawing", "training"])
def test_a_study_killed_while_drawing_or_training_a_trial_resumes_with_the_uninterrupted_draws(tmp_path, killed):
    # 15 trials: past the sampler's 10 random start-up trials, so the later draws read the earlier results
    uninterrupted = [t.details["params"] for t in _study(tmp_path / "whole.db", 15)]
    storage = tmp_path / "killed.db"
    first = _study(storage, 12)
    handle = optuna.load_study(study_name="doctor", storage=f"sqlite:///{storage}")
    handle.sampler = make_sampler(DEFAULT_SAMPLER, phases.STUDY_SEED_STEP * 12)  # as the study draws trial 12
    interrupted = handle.ask()  # the kill: trial 12 RUNNING, with some of its values drawn (or all)
    interrupted.suggest_float("lam", 1e-6, 1e-1, log=True)
    if killed == "training":
        interrupted.suggest_float("dropout", 0.0, 0.5)
        interrupted.suggest_float("lr", 3e-4, 3e-3, log=True)

    resumed = _study(storage, 15)
    assert [t.details["params"] for t in first] == uninterrupted[:12]
    assert [t.details["params"] for t in resumed] == uninterrupted
    assert [t.name for t in resumed] == [f"study #{i}" for i in range(15)]
    states = [t.state.name for t in optuna.load_study(study_name="doctor", storage=f"sqlite:///{storage}").trials]
    assert states.count("COMPLETE") == 15 and states.count("RUNNING") == 0
    assert states.count("FAIL") == (1 if killed == "drawing" else 0)


def test_a_study_around_another_recipe_starts_afresh(tmp_path):
    storage = tmp_path / "study.db"
    _study(storage, 3)
    other = Trial("other", "ablation", {"model": {"name": "mlp", "hidden": [16]}, "remedies": {}}, 0.9, 0.0, 1, 1, 0.0)
    again = phases.study(_Objective(), phases.Clock(None, 4), other, storage, seed=0, tick=lambda: None)
    assert [t.recipe["model"]["hidden"] for t in again] == [[16], [16]]
    assert len(optuna.load_study(study_name="doctor", storage=f"sqlite:///{storage}").trials) == 2
