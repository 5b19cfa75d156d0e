"""No shape of the data breaks a remedy: each case through the real command line (a subprocess, as a user runs it).

A last training batch of one row under batch norm, a class of two rows, more features than rows, and the
208-row, 60-feature table of the report ("Expected more than 1 value per channel when training").
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
# every phase once or twice, a few epochs each; the budget is a ceiling that --trials reaches first (a tight one
# cuts the baseline to one epoch on a loaded machine)
TINY = ["--budget", "120s", "--trials", "4", "--rounds", "0", "--epochs", "5", "--search-epochs", "5",
        "--min-steps", "0", "--quiet"]
BATCH_NORM_NET = "tests.doctor.test_doctor_shapes:batch_norm_net"


def batch_norm_net(input_shape: tuple[int, ...], out_features: int) -> nn.Module:
    """A user's network with batch norm, for ``--model tests.doctor.test_doctor_shapes:batch_norm_net``."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 16), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Linear(16, out_features))


def write_table(path: Path, rows: int, features: int, labels: list[str] | None = None, seed: int = 0) -> Path:
    """A CSV of random numeric features and a ``label`` column (two random classes unless ``labels`` is given)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    labels = labels if labels is not None else [("no", "yes")[i] for i in rng.integers(0, 2, rows)]
    lines = [",".join([*(f"x{j}" for j in range(features)), "label"])]
    lines += [",".join([*(f"{v:.6f}" for v in row), label]) for row, label in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def fitguard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fitguard.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def doctor(out: Path, *args: str) -> dict:
    result = fitguard("doctor", *TINY, *args, "--out", str(out))  # a later flag overrides TINY's
    assert result.returncode == 0, result.stderr
    return json.loads((out / "summary.json").read_text())


def test_train_with_batch_norm_when_the_last_batch_has_one_row(tmp_path):
    # 55 rows split 33 / 11 / 11: batches of 32 leave one row, which batch norm cannot normalize alone
    table = write_table(tmp_path / "t.csv", 55, 4)
    out = tmp_path / "run"
    result = fitguard("train", "--data", str(table), "--target", "label", "--model", "mlp", "--hidden", "16",
                      "--batchnorm", "--batch-size", "32", "--epochs", "3", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert {"run.json", "scores.json", "history.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 3


def test_doctor_with_batch_norm_when_the_last_batch_has_one_row(tmp_path):
    table = write_table(tmp_path / "t.csv", 55, 4)
    summary = doctor(tmp_path / "run", "--data", str(table), "--target", "label", "--model", BATCH_NORM_NET)
    assert summary["data"]["n_train"] == 33  # the baseline's batches: 32, then the last row joins them


@pytest.mark.parametrize("test_fraction", [0.2, 0.3])
def test_doctor_with_a_class_of_two_rows(tmp_path, test_fraction):
    # 0.2: both rows stay out of the test split and 3-fold CV deals them to two folds;
    # 0.3: the test split takes one, the other stays in train, and one fold trains without it
    labels = ["a"] * 30 + ["b"] * 28 + ["rare"] * 2
    labels = [labels[i] for i in np.random.default_rng(1).permutation(60)]
    table = write_table(tmp_path / "t.csv", 60, 5, labels)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"data: {{source: {json.dumps(str(table))}, target: label, test: {test_fraction}}}\n")
    out = tmp_path / "run"
    result = fitguard("doctor", "--config", str(spec), *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["class_names"] == ["a", "b", "rare"]
    assert "class 'rare' has" in result.stderr  # what the split did with it is said, not silent


def test_doctor_and_train_with_more_features_than_rows(tmp_path):
    table = write_table(tmp_path / "wide.csv", 40, 200)
    summary = doctor(tmp_path / "doctor", "--data", str(table), "--target", "label")
    assert summary["data"]["input_shape"] == [200] and summary["data"]["n_train"] == 24
    result = fitguard("train", "--data", str(table), "--target", "label", "--epochs", "3",
                      "--out", str(tmp_path / "train"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "train" / "scores.json").is_file()


def test_doctor_on_the_reported_208_row_table_with_batch_norm(tmp_path):
    # The report's shape (Sonar: 208 rows, 60 features, 2 classes). Its 166 labelled rows make 3-fold training
    # parts of 110 and 111 rows; --search-epochs 1 --min-steps 60 repeats them 15 times an epoch, and
    # 111 x 15 = 1665 = 52 x 32 + 1: each search training under batch norm ended on a batch of one row.
    table = write_table(tmp_path / "sonar_like.csv", 208, 60)
    summary = doctor(tmp_path / "run", "--data", str(table), "--target", "label", "--model", BATCH_NORM_NET,
                     "--search-epochs", "1", "--min-steps", "60")
    assert (summary["data"]["n_train"], summary["data"]["n_val"], summary["data"]["n_test"]) == (124, 42, 42)


def test_doctor_bias_variance_with_batch_norm_when_the_last_batch_has_one_row(tmp_path):
    table = write_table(tmp_path / "t.csv", 55, 4)
    doctor(tmp_path / "run", "--data", str(table), "--target", "label", "--model", BATCH_NORM_NET, "--rounds", "2")
