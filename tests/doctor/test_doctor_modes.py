"""End to end, tiny: a YAML spec, a regression table, loader options, a user's network, a pretrained backbone."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fitguard
from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import read_summary
from fitguard.models import build
from fitguard.runs import save_model
from fitguard.train import Trainer
from tests.conftest import needs_fashion_mnist

# every phase runs once or twice, a few epochs each
SMALL = ["--budget", "60s", "--trials", "5", "--epochs", "4", "--search-epochs", "3", "--folds", "2", "--rounds", "0",
         "--min-steps", "0",
         "--quiet"]


def doctor(*args: str) -> None:
    result = CliRunner().invoke(app, ["doctor", *args])
    assert result.exit_code == 0, (result.output, result.exception)


def accuracy_of_loaded(run_dir, data) -> float:
    truth = np.asarray([data.class_names[i] for i in data.test.y.tolist()], dtype=object)
    return float(np.mean(fitguard.load(run_dir).predict(data.raw_test.inputs) == truth))


def test_yaml_spec_end_to_end(tmp_path):
    spec = tmp_path / "experiment.yaml"
    spec.write_text("data: {source: wine, val: 0.25, test: 0.3, seed: 1}\ntrain: {batch_size: 16, lr: 0.003}\n")
    doctor("--config", str(spec), *SMALL, "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    assert summary["data"]["name"] == "wine" and summary["data"]["split_seed"] == 1
    assert summary["best"]["config"]["train"]["batch_size"] == 16 and summary["best"]["config"]["train"]["lr"] == 0.003
    data = load("wine", val=0.25, test=0.3, seed=1)
    assert summary["data"]["n_test"] == len(data.test)
    # --refit all (the default): the tested model's predictions are kept; the shipped one learned every row
    with np.load(tmp_path / "run" / "test_predictions.npz") as tested:
        assert np.mean(tested["best"] == tested["y"]) == pytest.approx(summary["test"]["best"]["accuracy"], abs=1e-9)
        assert np.array_equal(tested["y"], data.test.y.numpy())
    shipped = summary["best"]["shipped"]
    assert shipped["refit"] == "all" and shipped["rows"] == len(data.train) + len(data.val) + len(data.test)


def test_the_shipped_model_is_the_tested_one_with_refit_trainval(tmp_path):
    doctor("--data", "wine", "--refit", "trainval", *SMALL, "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    data = load("wine", val=0.2, test=0.2, seed=0)
    assert summary["best"]["shipped"]["rows"] == len(data.train) + len(data.val)
    assert accuracy_of_loaded(tmp_path / "run", data) == pytest.approx(summary["test"]["best"]["accuracy"], abs=1e-9)


def test_regression_end_to_end_on_diabetes(tmp_path):
    doctor("--data", "diabetes", "--refit", "trainval", *SMALL, "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    assert summary["data"]["task"] == "regression" and summary["metric"] == "loss"
    assert summary["best"]["val_score"] <= 0  # minus the validation MSE
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    predictions = fitguard.load(tmp_path / "run").predict(data.raw_test.inputs)
    mse = float(np.mean((predictions - data.raw_test.labels) ** 2))
    assert mse == pytest.approx(summary["test"]["best"]["loss"], rel=1e-4)
    assert "<h2>" in (tmp_path / "run" / "report.html").read_text()


@needs_fashion_mnist
def test_loader_options_from_the_command_line(tmp_path):
    doctor("--data", "fashion_mnist", "--data-option", "limit_per_class=5", "--model", "mlp", *SMALL,
           "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    assert summary["data"]["n_train"] + summary["data"]["n_val"] == 50 and summary["data"]["n_test"] == 10_000
    assert "--data-option limit_per_class=5" in summary["command"]


def test_users_own_network_end_to_end_and_reloaded(tmp_path):
    doctor("--model", "tests.doctor.user_models:tiny_net", "--train-fraction", "0.3", "--refit", "trainval", *SMALL,
           "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    assert [t["name"] for t in summary["remedies"]["architecture"]] == ["tests.doctor.user_models:tiny_net"]
    assert summary["model"]["best"]["parameters"] == 64 * 12 + 12 + 12 * 10 + 10
    spec = json.loads((tmp_path / "run" / "best.json").read_text())
    assert spec["model"]["name"] == "tests.doctor.user_models:tiny_net"
    data = load("digits", val=0.2, test=0.2, seed=0)
    assert accuracy_of_loaded(tmp_path / "run", data) == pytest.approx(summary["test"]["best"]["accuracy"], abs=1e-9)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A small MLP trained on all of digits' training split, saved as a fitguard run folder."""
    data = load("digits", val=0.2, test=0.2, seed=0)
    torch.manual_seed(0)
    model = build("mlp", data.input_shape, data.out_features, hidden=[8])
    Trainer(model, max_epochs=20, lr=1e-2, seed=0).fit(data.train)
    folder = tmp_path_factory.mktemp("pretrained")
    save_model(folder, model, "mlp", {"hidden": [8]}, data)
    return folder


def test_pretrained_backbone_competes_as_an_architecture(tmp_path, pretrained):
    # a fresh head on a frozen body needs a livelier learning rate than 1e-3 to show itself in 3 epochs
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {source: digits}\ntrain: {lr: 0.02}\n")
    doctor("--config", str(spec), "--backbone", str(pretrained), "--freeze-all-but", "1", "--unfreeze-every", "2",
           "--model", "mlp", "--train-fraction", "0.3", "--refit", "trainval", *SMALL, "--out", str(tmp_path / "run"))
    summary = read_summary(tmp_path / "run")
    first = summary["remedies"]["architecture"][0]
    assert first["name"] == f"backbone {pretrained}" and first["status"] == "done"
    assert first["recipe"]["transfer"] == {"backbone": str(pretrained), "freeze_all_but": 1, "unfreeze_every": 2}
    # pretrained on more digits than this run sees: it is the one kept
    assert summary["remedies"]["chosen_architecture"] == first["name"]
    assert summary["best"]["config"]["transfer"]["backbone"] == str(pretrained)
    assert json.loads((tmp_path / "run" / "best.json").read_text())["architecture"]["kind"] == "run"
    data = load("digits", val=0.2, test=0.2, seed=0)
    assert accuracy_of_loaded(tmp_path / "run", data) == pytest.approx(summary["test"]["best"]["accuracy"], abs=1e-9)
