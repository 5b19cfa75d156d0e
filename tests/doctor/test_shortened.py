"""A default recipe shortened to fit the budget (``fitguard.doctor.phases.optional_recipe``): when neither its k
trainings nor its one training at full length and its final training fit, it is scored at the most epochs that do,
its schedule sized to them, and, kept, shipped at those epochs."""

import copy
import json

from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.doctor import phases
from fitguard.doctor.phases import RECIPES, describe, shortened


def test_a_doctor_run_trains_records_and_reports_a_recipe_shortened_to_fit(tmp_path, monkeypatch):
    # a small stand-in for the VGG recipe (10 epochs of a small network), scored on the validation split (no
    # cross-validation) and made to fit at 4 of its epochs: the run scores it so, keeps it, ships it at 4 and says so
    small = {**copy.deepcopy(RECIPES["vgg"]), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=10, lr=0.02)
    monkeypatch.setitem(RECIPES, "vgg", small)
    monkeypatch.setitem(phases.ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    monkeypatch.setattr(phases, "forecast", lambda *_: 1e6)  # never within 40% of the time left
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
    short = recipe["details"]["shortened"]
    assert short["epochs"] == 4 and short["of"] == 10 and short["forecast_seconds"] == 1e6
    assert remedies["shortened"] == {"recipe": name, "epochs": 4, "full_epochs": 10, "forecast_seconds": 1e6,
                                     "budget": round(60 + short["more_seconds"])}
    # the seconds the 6 missing epochs would have cost: in its one training and its final training on 1.3x ...
    train, val = summary["data"]["n_train"], summary["data"]["n_val"]
    assert short["more_seconds"] == round(6 / 10 * 1e6 * (1 + phases.RESERVE_FACTOR * (train + val) / train), 1)
    # kept (the noise rule: a fixed schedule on ~100 validation rows) and shipped as it was scored: 4 epochs
    assert remedies["chosen_architecture"] == name
    best = summary["best"]
    assert best["recipe"]["train"]["max_epochs"] == 4 and best["epochs"] == 4
    assert len(json.loads((out / "best_history.json").read_text())["epochs"]) == 4  # the shipped training's
    report = (out / "report.html").read_text()
    assert f"“{name}” is the recipe shortened to 4 of its 10 epochs, its schedule sized to them" in report
    assert "shortened to 4 of its 10 epochs</td>" in report or "· shortened to 4 of its 10 epochs" in report
    assert f"--budget {round(60 + short['more_seconds'])} or more would train it in full" in report
