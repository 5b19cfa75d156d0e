"""How the ``fitguard`` command fails: an expected failure is one line on stderr and exit code 2; a fitguard bug
is its traceback, then one line asking for a report, and exit code 1.

The user's networks live in a module written to a temporary folder on ``PYTHONPATH``, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fitguard import __version__
from fitguard.cli import main

TABLE = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n2,3,1\n1,1,0\n4,4,1\n"
NETS = textwrap.dedent(
    """
    from torch import nn


    def wrong_width(input_shape, out_features):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0] + 3, out_features))


    class FailsWhenTraining(nn.Module):
        def __init__(self, features, out_features):
            super().__init__()
            self.linear = nn.Linear(features, out_features)

        def forward(self, x):
            if self.training:
                return self.linear(x.view(-1, 7))
            return self.linear(x)


    def fails_when_training(input_shape, out_features):
        return FailsWhenTraining(input_shape[0], out_features)
    """
)
BUG_LINE = (
    f"error: this is a bug in fitguard {__version__}, not a problem with your input; please report it with the "
    "traceback above and the command you ran"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "user_nets.py").write_text(NETS)
    (tmp_path / "t.csv").write_text(TABLE)
    return tmp_path


def _fitguard(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder), "FITGUARD_CACHE": str(folder / ".cache"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "fitguard.cli", *argv], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


SHAPE_MISMATCH = (
    "error: `--model` 'user_nets:wrong_width' does not fit the data: a batch of shape (2, 2) fails with "
    "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x2 and 5x2); it must map (N, 2) to (N, 2)"
)


@pytest.mark.parametrize(
    "argv",
    [
        ("train", "--data", "t.csv", "--target", "y", "--model", "user_nets:wrong_width", "--out", "run"),
        ("doctor", "--data", "t.csv", "--target", "y", "--model", "user_nets:wrong_width", "--budget", "30s",
         "--quiet", "--out", "run"),
    ],
    ids=["train", "doctor"],
)
def test_a_users_model_with_a_shape_mismatch_is_one_line_and_exit_code_2(folder: Path, argv) -> None:
    result = _fitguard(folder, *argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [SHAPE_MISMATCH]
    if argv[0] == "train":
        assert not (folder / "run").exists()  # a half-made folder would block the corrected rerun


def test_an_error_raised_in_the_users_forward_during_training_names_the_place(folder: Path) -> None:
    # eval mode (the build-time check) works; train mode raises inside the user's own forward
    result = _fitguard(folder, "train", "--data", "t.csv", "--target", "y", "--model", "user_nets:fails_when_training",
                       "--out", "run", "--quiet")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: your code raised RuntimeError at {folder / 'user_nets.py'}:16 (in forward): shape '[-1, 7]' is "
        "invalid for input of size 8"
    ]


def test_a_bug_in_fitguard_shows_its_traceback_then_asks_for_a_report(folder: Path, monkeypatch, capsys) -> None:
    # a TypeError raised by fitguard's own call (a builtin given arguments it does not take): a bug, not the input
    monkeypatch.setattr("fitguard.commands.train_run.build_run", divmod)
    monkeypatch.chdir(folder)
    code = main(["train", "--data", "t.csv", "--target", "y", "--out", "run", "--quiet"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[0] == "Traceback (most recent call last):"
    assert err[-2] == "TypeError: divmod() takes no keyword arguments"
    assert err[-1] == BUG_LINE


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail"),
         "error: out of memory (CUDA out of memory. Tried to allocate 2.00 GiB); use a smaller --batch-size or a "
         "smaller model"),
        (MemoryError(), "error: out of memory (MemoryError); use a smaller --batch-size or a smaller model"),
    ],
    ids=["cuda", "host"],
)
def test_running_out_of_memory_is_one_line(folder: Path, monkeypatch, capsys, error, line) -> None:
    def build_run(*args, **kwargs):
        raise error

    monkeypatch.setattr("fitguard.commands.train_run.build_run", build_run)
    monkeypatch.chdir(folder)
    code = main(["train", "--data", "t.csv", "--target", "y", "--out", "run", "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [line]
