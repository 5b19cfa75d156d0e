"""When the budget cuts every search training short, the doctor keeps the baseline's recipe
(``fitguard.doctor.phases.kept_trial``); its final training is then the baseline's tested model itself, not a second
training of it that would start past the deadline (``fitguard doctor --data digits --budget 3`` shipped a model
testing 0.253 beside a baseline testing 0.964)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.doctor import DoctorOptions, phases, trials
from fitguard.doctor.pipeline import BASELINE_KEPT, base_config, baseline_network
from fitguard.doctor.trials import joined, refit_members, refit_recipe
from fitguard.recipe import load_data


def test_the_kept_baselines_member_0_is_the_tested_baselines_training():
    # the premise: trained again as member 0 of the kept recipe, the baseline's recipe gives the very weights of
    # the tested baseline (same rows, epochs, options and seed), so the doctor may use the one it has
    options = DoctorOptions(data="digits", train_fraction=0.3, seed=3, quiet=True, device="cpu")
    base = base_config(options)
    data = load_data(base)
    rows = joined(data.train, data.val)
    train = {"max_epochs": 4, "repeat": 2}
    recipe = {"model": baseline_network(None), "early_stopping": {"patience": 50, "restore_best": False}}
    tested, _ = refit_recipe(base, recipe, data, rows=rows, epochs=3, **train)
    kept, _, seeds = refit_members(base, {"model": recipe["model"]}, data, rows=rows, epochs=3, members=1,
                                   seed=options.seed, **train)
    assert seeds == [3]
    expected, got = tested.model.state_dict(), kept.model.state_dict()
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_a_kept_baseline_ships_the_tested_baselines_model(tmp_path, monkeypatch):
    monkeypatch.setattr(phases, "kept_trial", lambda scored, rule, fallback, **_: fallback())  # as if every one was cut
    members = []  # the final phase's trainings of the kept recipe's members
    refit = trials.refit_recipe
    monkeypatch.setattr(trials, "refit_recipe", lambda *a, **k: members.append(k["epochs"]) or refit(*a, **k))
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--train-fraction", "0.3", "--budget", "none", "--trials", "2",
                 "--epochs", "5", "--search-epochs", "3", "--min-steps", "0", "--rounds", "0", "--no-references",
                 "--ensemble", "1", "--refit", "trainval", "--quiet", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["name"] == BASELINE_KEPT
    assert members == []  # nothing trained again: member 0 is the tested baseline
    assert summary["best"]["epochs"] == summary["baseline"]["epochs"]
    baseline, best = load_file(out / "baseline.safetensors"), load_file(out / "best.safetensors")
    assert baseline.keys() == best.keys() and all(torch.equal(baseline[k], best[k]) for k in baseline)
    # its training's epochs are the run folder's log, as a final training's would be
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logged] == list(range(1, summary["best"]["epochs"] + 1))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard")).Reload()
    scalars = events.Scalars("loss/train")
    assert [e.step for e in scalars] == [r["epoch"] for r in logged]
    assert [e.value for e in scalars] == pytest.approx([r["loss"] for r in logged], rel=1e-6)  # stored as float32
    predictions = np.load(out / "test_predictions.npz")
    assert np.array_equal(predictions["best"], predictions["baseline"])
    assert summary["test"]["best"]["figure"] == summary["test"]["baseline"]["figure"]
