"""A default recipe shortened to fit the budget (``fitguard.doctor.phases.optional_recipe``): when neither its k
trainings nor its one training at full length and its final training fit, it is scored at the most epochs that do,
its schedule sized to them, and, kept, shipped at those epochs."""

import copy
import json
from dataclasses import replace

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.data import TensorData, load
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.phases import RECIPES, Clock, Scorer, describe, settled, shortened, single_training
from fitguard.doctor.pipeline import _scorer, base_config
from fitguard.doctor.progress import DoctorProgress
from fitguard.search.scoring import Trial


def test_a_doctor_run_trains_records_and_reports_a_recipe_shortened_to_fit(tmp_path, monkeypatch):
    # a small stand-in for the VGG recipe (10 epochs of a small network), scored on the validation split (no
    # cross-validation) and made to fit at 4 of its epochs: the run scores it so, keeps it, ships it at 4 and says so
    small = {**copy.deepcopy(RECIPES["vgg"]), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=10, lr=0.02)
    monkeypatch.setitem(RECIPES, "vgg", small)
    monkeypatch.setitem(phases.ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    monkeypatch.setattr(phases, "forecast", lambda *_: 50.0)  # one training of 10 epochs: over 40% of the time left
    monkeypatch.setattr(phases, "fitting_epochs", lambda seconds, epochs, *_: 4 if epochs == 10 else None)
    monkeypatch.setattr(phases, "RECIPE_MIN_LEFT", 0.0)
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--budget", "60", "--epochs", "6", "--search-epochs", "6",
                 "--train-fraction", "0.3", "--min-steps", "0", "--cv-max-rows", "0", "--quiet", "--no-references",
                 "--ensemble", "1", "--refit", "trainval", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    remedies = summary["remedies"]
    name = describe(shortened(small, 4))
    assert name == "cnn 8x16, 2 convs a block; SGD, one cycle over 4 epochs, augmented"
    recipe = next(t for t in remedies["architecture"] if t["name"] == name)
    assert "one_fold" not in recipe["details"] and remedies["one_fold"] is None  # the validation split scored it
    assert recipe["epochs"] == 4 and recipe["recipe"]["train"]["max_epochs"] == 4
    # the seconds its 6 missing epochs would have cost: in its one training (where a validation row costs a third of
    # a training row) and in its final training on the training and validation rows (x 1.3)
    train, val = summary["data"]["n_train"], summary["data"]["n_val"]
    more = round(6 / 10 * 50.0 * (1 + phases.RESERVE_FACTOR * (train + val) / (train + val / 3)), 1)
    assert recipe["details"]["one_training"] == {"epochs": 4, "of": 10, "forecast_seconds": 50.0, "more_seconds": more}
    assert remedies["shortened"] == {"recipe": name, "epochs": 4, "full_epochs": 10, "forecast_seconds": 50.0,
                                     "kept": True, "budget": round(60 + more)}
    # kept (the noise rule: a fixed schedule on 108 validation rows), left as given, and shipped as scored: 4 epochs
    assert remedies["chosen_architecture"] == name
    assert remedies["settled"].startswith(f"a complete recipe is kept as given: {val} validation rows")
    best = summary["best"]
    assert best["recipe"]["train"]["max_epochs"] == 4 and best["epochs"] == 4
    assert len(json.loads((out / "best_history.json").read_text())["epochs"]) == 4  # the shipped training's
    report = (out / "report.html").read_text()
    assert (f"<p>“{name}” is the recipe shortened to 4 of its 10 epochs, its schedule sized to them: at full length "
            "its one training (forecast 50 s) and its final training on every labelled row would have ended past the "
            f"deadline. It was kept, and shipped at 4 epochs; a budget of about {round(60 + more)} s would train it "
            "in full.</p>") in report
    assert "· shortened to 4 of its 10 epochs to fit the budget" in report
    # no λ search on a complete recipe: the report says why, and shows no empty table under it
    assert "<p>Not run: a complete recipe" in report and '<th class="n">folds run</th>' not in report
    assert (f"“{name}” trained 4 of its 10 epochs to fit the budget: a --budget of about {round(60 + more)} s would "
            "train it in full.") in report


def test_the_time_kept_back_is_the_kept_one_training_recipes_where_a_network_ranks_above_it():
    options = DoctorOptions(data="digits", budget=60.0, quiet=True, device="cpu", ensemble=1, cv_max_rows=0)
    data = load("digits", seed=0)

    def reserve(*trials: Trial) -> float:  # the time kept back once these were scored, in order
        clock = Clock(60.0, None)
        display = DoctorProgress(Console(), quiet=True, started=0.0, deadline=60.0)
        score, _ = _scorer(base_config(options), data, options, clock, display)
        for trial in trials:
            score.on_scored(trial)
        return clock.reserve

    network = Trial("mlp", "architecture", {}, 0.95, 0.0, 1000, 10, 1.0, details={"best_epoch": 10})
    recipe = Trial(describe(RECIPES["vgg"]), "architecture", RECIPES["vgg"], 0.90, 0.0, 100_000, 20, 8.0,
                   details={"best_epoch": 20, "one_training": {"epochs": 20, "of": 60}})
    # before the choice the network leads (1 s for 10 epochs, against the recipe's 8 s for 20)
    assert reserve(network, recipe) == pytest.approx(reserve(network))
    kept = replace(recipe, details={**recipe.details, "chosen": True})  # kept by the architecture phase
    assert reserve(network, recipe, kept) == pytest.approx(reserve(kept)) and reserve(kept) > reserve(network)


def test_a_recipe_scored_by_one_training_is_kept_as_given_even_where_its_validation_resolves_a_point():
    # 20,000 validation rows at 0.999 resolve a point: a recipe scored within 40% of the time left would be searched
    # on; one scored by one training past it (at full length or shortened) is not: a change's would not fit either
    rows = {"train": TensorData(torch.zeros(80_000, 2), torch.zeros(80_000, dtype=torch.long)),
            "val": TensorData(torch.zeros(20_000, 2), torch.zeros(20_000, dtype=torch.long))}
    score = Scorer(None, type("Split", (), rows)())
    vgg = RECIPES["vgg"]
    full = Trial(describe(vgg), "architecture", vgg, 0.999, 0.0, 1000, 60, 1.0)
    assert settled(score, full) is None and not single_training(full)
    one = replace(full, details={"one_training": {"epochs": 60, "of": 60}})
    assert single_training(one) and settled(score, one) == (
        "a complete recipe scored by one training over 40% of the time left is kept as given: a change's training "
        "would not fit the budget either, so no remedy is searched on it")
    short = replace(full, recipe=shortened(vgg, 25), details={"one_training": {"epochs": 25, "of": 60}})
    assert settled(score, short) == (
        "a complete recipe scored by one training over 40% of the time left, shortened to 25 of its 60 epochs, is "
        "kept as given: a change's training would not fit the budget either, so no remedy is searched on it")

