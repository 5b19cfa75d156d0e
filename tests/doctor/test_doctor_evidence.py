"""The doctor's evidence: options that round-trip through the command line, test figures and paired tests against
independent oracles, a plan the verdict decides, an external test set, the wall-time budget and its progress lines."""

import csv
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch
import typer
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.commands.doctor import options_from_cli
from fitguard.data import load
from fitguard.doctor import DoctorOptions, evidence, read_summary
from fitguard.doctor.diagnosis import sentence
from fitguard.doctor.plan import plan_for
from fitguard.doctor.suggestions import outcomes
from fitguard.doctor.trials import Trial


def parsed(command: str) -> DoctorOptions:
    """``command`` parsed by the real ``fitguard doctor`` command line into options."""
    group = typer.main.get_command(app)
    args = shlex.split(command)
    assert args[:2] == ["fitguard", "doctor"]
    context = group.commands["doctor"].make_context("doctor", args[2:])
    return options_from_cli(**context.params)


@pytest.mark.parametrize("options", [
    DoctorOptions(),
    DoctorOptions(data="my data.csv", target="y", test_data="held out.csv", budget=90.0, seed=3, refit="trainval",
                  epsilon=0.01, baseline_patience=20, patience=7, references=False, keep="simplest",
                  monitor="val_accuracy", ensemble=3, missing="error"),
    DoctorOptions(budget=None, trials=12, refit="none", data_options={"limit_per_class": 5, "image_size": [16, 16]},
                  folds=5, cv_max_rows=0, min_steps=0, rounds=0, train_fraction=0.5, search_epochs=9, epochs=11),
    DoctorOptions(backbone="runs/pre", freeze_all_but=1, unfreeze_every=2, model="cnn", device="cpu"),
])
def test_every_option_round_trips_through_the_command_line(options):
    assert parsed(options.command()) == options


@pytest.mark.parametrize(("options", "message"), [
    ({"budget": None}, "give `--budget` or `--trials` (or both): with neither the search would never end"),
    ({"refit": "test"}, "`--refit` must be one of all, trainval, none, got 'test'"),
    ({"budget": -3.0}, "`--budget` must be a duration > 0 such as 90s, 10m or 1h, or none, got -3.0"),
    ({"patience": 0}, "`--patience` must be >= 1, got 0"),
    ({"ensemble": 0}, "`--ensemble` must be >= 1, got 0"),
    ({"monitor": "accuracy"}, "`--monitor` must be one of val_loss, val_accuracy, got 'accuracy'"),
    ({"confirm": 1}, "`--confirm` must be 0 (keep the search's best) or >= 2 (one finalist leaves nothing to choose), "
                     "got 1"),
    ({"confirm": -1}, "`--confirm` must be >= 0, got -1"),
    ({"device": "tpu"}, "`--device`: `device` must be 'auto', 'cpu' or 'cuda[:N]', got 'tpu'"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError) as error:
        DoctorOptions(**options)
    assert str(error.value) == message


@pytest.mark.parametrize(("args", "line"), [
    (["--refit", "bogus"], "error: `--refit` must be one of all, trainval, none, got 'bogus'"),
    (["--budget", "none"], "error: give `--budget` or `--trials` (or both): with neither the search would never end"),
    pytest.param(["--device", "cuda"], "error: `--device`: `device` is 'cuda' but no CUDA device is available; use "
                 "device='cpu' or 'auto'", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA")),
])
def test_bad_doctor_input_is_one_line_and_exit_2(tmp_path, args, line):
    result = subprocess.run([sys.executable, "-m", "fitguard.cli", "doctor", *args, "--out", str(tmp_path / "run")],
                            capture_output=True, text=True)
    assert (result.returncode, result.stderr.strip()) == (2, line)
    assert not (tmp_path / "run").exists()


def test_test_figures_and_paired_tests_agree_with_scipy_and_statsmodels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    first = np.where(rng.random(400) < 0.8, y, (y + 1) % 3)
    second = np.where(rng.random(400) < 0.88, y, (y + 2) % 3)
    figure = evidence.figure("classification", y, second)
    oracle = binomtest(int((second == y).sum()), 400).proportion_ci(confidence_level=0.95, method="wilson")
    assert (figure["low"], figure["high"]) == pytest.approx((oracle.low, oracle.high), abs=1e-12)
    compared = evidence.paired("classification", y, first, second)
    a, b = first == y, second == y
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    assert compared["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert (compared["only_first"], compared["only_second"]) == (table[0][1], table[1][0])
    assert compared["verdict"] == ("better" if compared["p_value"] < 0.05 else "not distinguishable")
    same = evidence.paired("classification", y, first, first)
    assert (same["p_value"], same["verdict"]) == (1.0, "not distinguishable")


def test_regression_figures_use_squared_errors():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(300, 1))
    worse, better = y + rng.normal(0, 1.0, y.shape), y + rng.normal(0, 0.3, y.shape)
    figure = evidence.figure("regression", y, better)
    assert figure["value"] == pytest.approx(float(np.mean((better - y) ** 2)))
    assert figure["low"] < figure["value"] < figure["high"]
    assert evidence.paired("regression", y, worse, better)["verdict"] == "better"
    assert evidence.paired("regression", y, better, worse)["verdict"] == "worse"


def test_the_verdict_decides_the_phases_and_their_remedies():
    underfit, overfit, good = plan_for("underfit"), plan_for("overfit"), plan_for("good")
    assert underfit.phases() == ["architecture", "train_longer", "lambda_cv", "ablation", "study"]
    assert underfit.bigger_first and not underfit.study_dropout and "dropout 0.25" not in underfit.remedies
    assert max(underfit.lambdas) <= min(overfit.lambdas) * 10
    assert overfit.phases() == ["architecture", "lambda_cv", "ablation", "learning_curve", "study"]
    assert "learning_curve" not in good.phases() and good.remedies == overfit.remedies
    for plan in (underfit, overfit, good):
        shares = [step.until for step in plan.steps]
        assert shares == sorted(shares) and shares[-1] == 1.0
    with pytest.raises(ValueError) as error:
        plan_for("fine")
    assert str(error.value) == "`kind` must be one of underfit, overfit, good, got 'fine'"


def trial(name: str, score: float, parameters: int = 100, phase: str = "ablation", recipe=None) -> Trial:
    return Trial(name, phase, recipe or {"model": {"name": "mlp"}}, score, 0.0, parameters, 10, 1.0,
                 details={"val_loss": 1 - score})


OVERFIT = "The baseline overfits from epoch 7"
SCORES = "its last epoch's accuracy is 0.990 on its training rows and 0.850 on validation"


@pytest.mark.parametrize(("diagnosis", "said"), [
    ({"kind": "overfit", "onset_epoch": 7, "gap": 0.4, "train_accuracy": 0.99, "val_accuracy": 0.85},
     f"{OVERFIT}: {SCORES}, and its validation loss exceeds training loss by 0.400."),
    # without classes: the losses alone
    ({"kind": "overfit", "onset_epoch": 7, "gap": 0.4}, f"{OVERFIT}: validation loss exceeds training loss by 0.400."),
    # a gap that is not a gap (the accuracies convicted it) or not a number: no losses clause
    ({"kind": "overfit", "onset_epoch": 7, "gap": -0.05, "train_accuracy": 0.99, "val_accuracy": 0.85},
     f"{OVERFIT}: {SCORES}."),
    ({"kind": "overfit", "onset_epoch": None, "gap": float("nan")}, "The baseline overfits by the end of training."),
    ({"kind": "overfit", "onset_epoch": None, "gap": None, "train_accuracy": 0.99, "val_accuracy": None},
     "The baseline overfits by the end of training."),
    ({"kind": "underfit", "onset_epoch": None, "gap": 0.0, "train_accuracy": 0.99, "val_accuracy": 0.85},
     f"The baseline underfits: it does not fit even its own training data well ({SCORES})."),
    ({"kind": "underfit", "onset_epoch": None, "gap": 0.0},
     "The baseline underfits: it does not fit even its own training data well."),
    ({"kind": "good", "onset_epoch": None, "gap": 0.01, "train_accuracy": 0.99, "val_accuracy": 0.85},
     f"The baseline generalizes well: no sign of overfitting or underfitting ({SCORES})."),
    ({"kind": "good", "onset_epoch": None, "gap": 0.01},
     "The baseline generalizes well: no sign of overfitting or underfitting."),
])
def test_the_verdict_sentence_says_what_it_was_read_from(diagnosis, said):
    assert sentence(diagnosis) == said


def test_each_suggestion_reports_what_it_did_including_the_ones_that_did_not_help():
    baseline = trial("baseline", 0.8, parameters=1000, phase="baseline")
    search = {
        "ablation": [trial("early stopping only", 0.85), trial("dropout 0.25", 0.87), trial("L2 λ=0.001", 0.84)],
        "architecture": [trial("mlp 256x256", 0.83, parameters=1000, phase="architecture"),
                         trial("mlp 16", 0.86, parameters=50, phase="architecture")],
        "learning_curve": {"note": "about 120 more rows would close half of the train - validation gap"},
    }
    diagnosis = {"recommendations": [
        {"remedy": remedy, "reason": "r", "priority": i} for i, remedy in
        enumerate(["shrink the network", "dropout", "L2", "augmentation", "more data"], start=1)]}
    rows = {row["remedy"]: row for row in outcomes(diagnosis, search, None, baseline)}
    assert (rows["dropout"]["tried"], rows["dropout"]["helped"]) == (True, True)
    assert rows["dropout"]["measured"] == "dropout 0.25: 0.8700 against early stopping only: 0.8500 (helped)"
    assert (rows["L2"]["helped"], rows["L2"]["trial"]) == (False, "L2 λ=0.001")
    assert (rows["shrink the network"]["helped"], rows["shrink the network"]["trial"]) == (True, "mlp 16")
    assert rows["augmentation"]["tried"] is False
    assert rows["more data"]["measured"] == "about 120 more rows would close half of the train - validation gap"


def write_rows(path, X, y) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"x{i}" for i in range(X.shape[1])), "label"])
        writer.writerows([[*map(float, row), int(label)] for row, label in zip(X, y)])


def test_an_external_test_set_takes_the_place_of_the_held_back_rows(tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    write_rows(tmp_path / "train.csv", X[:400], y[:400])
    write_rows(tmp_path / "test.csv", X[1500:], y[1500:])
    result = CliRunner().invoke(app, [
        "doctor", "--data", str(tmp_path / "train.csv"), "--target", "label", "--test-data", str(tmp_path / "test.csv"),
        "--model", "mlp", "--trials", "3", "--budget", "120s", "--epochs", "4", "--search-epochs", "3", "--rounds", "0",
        "--min-steps", "0", "--folds", "2", "--no-references", "--quiet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = read_summary(tmp_path / "run")
    assert summary["data"]["n_train"] + summary["data"]["n_val"] == 400
    assert summary["data"]["n_test"] == len(y) - 1500 == summary["test"]["rows"]
    assert summary["data"]["test_source"] == str(tmp_path / "test.csv")
    # --refit all (the default) never trains on an external test set: the model shipped is the one tested
    shipped = summary["best"]["shipped"]
    assert (shipped["refit"], shipped["rows"]) == ("all", 400) and "never trained on" in shipped["note"]
    with np.load(tmp_path / "run" / "test_predictions.npz") as tested:
        labels = load(str(tmp_path / "test.csv"), target="label", val=0.0, test=0.0).class_names
        assert [labels[i] for i in tested["y"]] == [str(v) for v in y[1500:]]


def test_the_budget_is_the_whole_runs_wall_time_and_each_phase_says_so(tmp_path):
    budget = 20
    result = CliRunner().invoke(app, [
        "doctor", "--budget", f"{budget}s", "--train-fraction", "0.3", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = read_summary(tmp_path / "run")
    assert summary["timings"]["total"] <= 1.05 * budget + 10
    # not a terminal: one line per phase, in the plan's order, then the table with intervals and the paired verdict
    lines = [line.split(":")[0] for line in result.output.splitlines() if " done in " in line]
    assert lines[:2] == ["baseline", "diagnosis"] and "final training" in lines
    # the header "test (95% interval)" may wrap in an 80-column table
    assert "kept vs baseline: " in result.output and "(95%" in result.output and "interval)" in result.output
    quiet = CliRunner().invoke(app, ["doctor", "--budget", "15s", "--train-fraction", "0.3", "--quiet",
                                     "--no-references", "--out", str(tmp_path / "quiet")])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_an_external_test_folder_is_not_cut_by_the_training_pools_row_limit(tmp_path):
    from PIL import Image

    from fitguard.doctor import DoctorOptions
    from fitguard.doctor.pipeline import base_config, with_test_data

    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 5)):
        for label in ("cat", "dog"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / label / f"{i:03d}.png")

    def tested(data_options):
        options = DoctorOptions(data=str(tmp_path / "train"), test_data=str(tmp_path / "test"),
                                data_options=data_options)
        base = base_config(options)
        data = load(str(tmp_path / "train"), val=0.5, test=0.0, seed=0, **data_options)
        return data, with_test_data(data, options, base)

    data, given = tested({"limit_per_class": 2})
    assert len(data.train) + len(data.val) == 4  # 2 a class from the training folder
    assert len(given.test) == 10  # every test image: the pool's limit is not the test file's
    assert len(tested({"limit_per_class": 2, "test_limit_per_class": 3})[1].test) == 6


def test_augmentation_samples_are_shown_in_pixel_units():
    import torch

    from fitguard.data import from_arrays
    from fitguard.doctor.pipeline import pixels

    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (40, 3, 4, 4)).astype(np.float32)
    data = from_arrays(raw, np.arange(40) % 2, kind="image", pixel_scale=255.0, val=0.25, test=0.25, seed=0)
    assert len(data.preprocessor.mean) == 3  # standardized per channel
    expected = torch.as_tensor(data.raw_train.inputs / 255.0, dtype=torch.float32)  # the same rows, raw
    assert torch.allclose(pixels(data, data.train.X), expected, atol=1e-5)
    assert pixels(from_arrays(raw, np.arange(40) % 2, kind="image", pixel_scale=255.0, standardize=False, val=0.25,
                              test=0.25, seed=0), data.train.X) is data.train.X
