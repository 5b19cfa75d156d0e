"""A default recipe the budget trains once, unscored (``fitguard.doctor.phases.optional_recipe``): when neither its k
trainings nor its one training at full length and its final training fit, scoring it first would cut it short and
leave no time to score anything beside it; it is kept without a score and trained once on every labelled row, at
full length or at the most epochs that fit, its schedule sized to them."""

import copy
import io
import json
from dataclasses import replace

import pytest
import torch
from markupsafe import escape
from rich.console import Console
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.data import TensorData, load
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.phases import RECIPES, Clock, Scorer, describe, settled, shortened, single_training
from fitguard.doctor.pipeline import _scorer, base_config
from fitguard.doctor.progress import DoctorProgress
from fitguard.report.html import render_report
from fitguard.report.terminal import print_outcome
from fitguard.search.scoring import Trial
from fitguard.summary import load_summary


def _trained_once_run(tmp_path, monkeypatch, refit: str):
    """A doctor run on digits whose default recipe is a small stand-in for the VGG recipe (10 epochs of a small
    network) on the validation split: scored first it would fit at 2 of its epochs, trained once at 4, beside two
    networks too narrow to compete; the stand-in and the run folder."""
    small = {**copy.deepcopy(RECIPES["vgg"]), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=10, lr=0.02)
    monkeypatch.setitem(RECIPES, "vgg", small)
    monkeypatch.setitem(phases.ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    monkeypatch.setattr(phases, "forecast", lambda *_: 50.0)  # one training of 10 epochs: over 40% of the time left
    monkeypatch.setattr(phases, "fitting_epochs", lambda seconds, epochs, *_: 2 if epochs == 10 else None)
    monkeypatch.setattr(phases, "direct_epochs", lambda seconds, epochs, *_: 4 if epochs == 10 else None)
    monkeypatch.setattr(phases, "RECIPE_MIN_LEFT", 0.0)
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--budget", "60", "--epochs", "6", "--search-epochs", "6",
                 "--train-fraction", "0.3", "--min-steps", "0", "--cv-max-rows", "0", "--quiet", "--no-references",
                 "--ensemble", "1", "--refit", refit, "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    return small, out


def test_a_doctor_run_trains_once_records_and_reports_a_recipe_it_had_no_time_to_score(tmp_path, monkeypatch):
    # the stand-in recipe trained once at 4 of its 10 epochs: the run scores nothing, ships it at 4, and says so
    small, out = _trained_once_run(tmp_path, monkeypatch, "trainval")
    table = io.StringIO()  # the CLI's table (--quiet prints none)
    print_outcome(Console(file=table, width=200), load_summary(out))
    assert "kept: the recipe as given (unscored)" in table.getvalue()
    summary = json.loads((out / "summary.json").read_text())
    remedies = summary["remedies"]
    # 10 epochs of the few rows take under phases.RECIPE_MIN_STEPS steps: every training of it takes 2 passes an epoch
    name = describe(shortened({**small, "train": {**small["train"], "repeat": 2}}, 4))
    assert name == "cnn 8x16, 2 convs a block; SGD, one cycle over 4 epochs of 2 passes, label smoothing 0.1, augmented"
    recipe, *networks = remedies["architecture"]
    assert all(n["details"]["beside_unscored"] for n in networks) and "beside_unscored" not in recipe["details"]
    assert recipe["name"] == name and recipe["epochs"] == 4 and recipe["recipe"]["train"]["max_epochs"] == 4
    assert recipe["recipe"]["train"]["repeat"] == 2
    assert recipe["val_score"] is None and recipe["gap"] is None and recipe["details"]["chosen"]
    # counted on a network built for it: as many as the trained model's layer table counts
    assert recipe["parameters"] == summary["model"]["best"]["parameters"] > 0
    # nothing was scored beside it, and no later phase trained
    assert [n["status"] for n in networks] == ["skipped: the recipe, trained once without a score, takes the rest "
                                                "of the budget"] * 2
    assert remedies["trainings"] == 0 and all(t["status"] != "done" for t in remedies["ablation"][1:])
    train, val = summary["data"]["n_train"], summary["data"]["n_val"]
    # the seconds its 6 missing epochs would cost in its final training on the training and validation rows (x 1.3),
    # each epoch 2 passes over them against the one training's 2 over its training rows and 1 over its validation rows
    more = round(6 * phases.RESERVE_FACTOR * 50.0 / 10 * 2 * (train + val) / (2 * train + val / 3), 1)
    assert remedies["unscored"] == {"recipe": name, "epochs": 4, "full_epochs": 10, "forecast_seconds": 50.0,
                                    "scored_epochs": 2, "budget": round(60 + more)}
    assert remedies.get("shortened") is None and remedies["chosen_architecture"] == name
    assert remedies["settled"].startswith("a complete recipe trained once without a score is kept as given")
    assert remedies["selection"]["kept"].startswith("the complete recipe, trained once without a score")
    best = summary["best"]
    assert best["search_val_score"] is None
    assert best["search_val_score_note"] == "none: the budget trained this recipe once, without a score"
    # no remedy outcome reads its missing score as a measure ("nan against ...")
    assert not any(o["tried"] for o in summary["plan"]["outcomes"]) and "nan" not in json.dumps(summary["plan"])
    assert summary["timings"]["total"] <= 60
    assert best["recipe"]["train"]["max_epochs"] == 4 and best["epochs"] == 4 and best["shipped"]["epochs"] == 4
    assert len(json.loads((out / "best_history.json").read_text())["epochs"]) == 4  # the shipped training's
    # 8x8 digit images: the mirror views were measured by a CNN probe on the validation split (the time the final
    # training left fitted it), and a mirrored digit is no digit to it
    mirror = best["mirror"]
    assert mirror["measured_by"] == "probe" and mirror["probe"] == "cnn 16x32, pooled to 4"
    assert 1 <= mirror["probe_epochs"] <= phases.PROBE_EPOCHS and mirror["mirrored_z"] > phases.MIRROR_Z
    assert not mirror["used"]
    assert summary["test"]["best"]["figure"]["rows"] == summary["data"]["n_test"]  # its evidence: the test split
    report = (out / "report.html").read_text()
    assert (f"<p>“{name}” was not scored: the budget trains it once, at 4 of its 10 epochs, its schedule sized to "
            f"them (a budget of about {round(60 + more)} s would train it in full). Scored first (one training, "
            "forecast 50 s at full length), it would have been cut to 2 epochs for that training and its final one, "
            "and no time would have been left to score anything beside it: its score would have chosen nothing. Its "
            "test figures below are its evidence.</p>") in report
    assert "<td>not scored: trained once · chosen (the budget fitted no comparison: nothing was scored beside " \
           "it)</td>" in report
    assert ("<p>No candidate was scored: the budget trains the complete recipe once, without a score (below), and "
            "fitted no comparison.</p>") in report and "Every candidate trained with early stopping" not in report
    # the networks it left no time for, and the untried remedies, in one sentence each, not table rows; no scatter
    # of validation scores (there are none)
    assert ("<p>Not scored beside it (the recipe, trained once without a score, takes the rest of the budget): mlp 2, "
            "mlp 3.</p>") in report and "<td>mlp 2</td>" not in report
    assert 'alt="architecture sweep"' not in report and "<td>augmentation</td>" not in report
    assert escape(f"Not run: {remedies['settled']}. The remedies it would have tried: "
                  f"{', '.join(t['name'] for t in remedies['ablation'][1:])}.") in report
    assert ("for 6 epochs (the count validation chose for the baseline) and 4 (the recipe's own schedule, trained "
            "once), then read the test split once") in report
    assert "It has no search score: the budget trained it once, with no time to score it (see above)." in report
    assert (f"by a probe, the network “cnn 16x32, pooled to 4”, trained {mirror['probe_epochs']} epochs on the "
            "training split in ") in report
    assert ("<b>Not used</b>: the mirrored images must score within 2 standard errors of the plain ones (where "
            "mirroring changes what an image shows, they score lower); measured by another model than the recipe's, "
            "the mean's loss is that model's and does not count.") in report
    assert f"Network: “{name}”, trained once without a score: the budget fitted no comparison with another network." \
        in report
    assert "Keep early stopping" not in report  # there was no search run of it
    assert (f"“{name}” trained 4 of its 10 epochs to fit the budget: a --budget of about {round(60 + more)} s would "
            "train it in full.") in report
    assert "optimistic, because that score chose it" not in report
    # trained at full length, where scoring first would have fitted under a third of it: the report says so
    remedies["unscored"].update(epochs=10, budget=None, scored_epochs=None)
    (out / "summary.json").write_text(json.dumps(summary))
    report = render_report(out)
    assert ("the budget trains it once, at its full 10 epochs. Scored first (one training, forecast 50 s at full "
            "length), not even a third of its epochs would have fitted that training and its final one; trained "
            "once, it takes the time the networks would have had") in report
    assert "trained 4 of its 10 epochs" not in report
    # where the probe did not fit the time left, the baseline's model measured the views: the report says which
    skipped = "it did not fit the time the final training left"  # phases.mirror_probe's reason
    summary["best"]["mirror"].update(measured_by="baseline", probe=None, probe_epochs=None, probe_seconds=None,
                                     mirrored_z=0.5, used=True, probe_skipped=skipped)
    (out / "summary.json").write_text(json.dumps(summary))
    report = render_report(out)
    assert ("by the baseline's model (the recipe, trained once, has no validation models of its own, and a CNN probe "
            "was not used: it did not fit the time the final training left;") in report
    assert ("<b>Used</b>: the images look the same mirrored, so the tested and shipped models predict that "
            "way.") in report


def test_mirror_views_a_probe_passes_after_the_final_training_are_tested_and_shipped(tmp_path, monkeypatch):
    # the same stand-in recipe trained once; a probe (scripted) that reads the images as the same mirrored: the views
    # are added to the trained model, which the test split and the shipped model then use
    record = {"val_score": 0.9, "val_loss": 0.3, "plain_val_score": 0.9, "plain_val_loss": 0.3,
              "mirrored_val_score": 0.89, "mirrored_z": 0.5, "measured_by": "probe", "probe": "cnn 16x32, pooled to 4",
              "probe_epochs": 10, "probe_seconds": 0.5}
    given = []
    monkeypatch.setattr(phases, "mirror_probe", lambda score, seconds, on_start=None: given.append(seconds)
                        or (dict(record), ""))
    _, out = _trained_once_run(tmp_path, monkeypatch, "all")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["remedies"]["unscored"]["epochs"] == 4 and len(given) == 1 and 0 < given[0] < 60
    assert summary["best"]["mirror"] == {**record, "used": True}
    # the tested model and the shipped one (refit on every row) predict with the mirror views
    assert json.loads((out / "best.json").read_text())["ensemble"] == {"members": 1, "mirror": True}


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
    recipe = Trial(describe(RECIPES["vgg"]), "architecture", RECIPES["vgg"], 0.90, 0.0, 100_000, 60, 8.0,
                   details={"best_epoch": 60, "one_training": {"epochs": 60, "of": 60}})
    # before the choice the network leads (1 s for 10 epochs, against the recipe's 8 s for 60)
    assert reserve(network, recipe) == pytest.approx(reserve(network))
    kept = replace(recipe, details={**recipe.details, "chosen": True})  # kept by the architecture phase
    assert reserve(network, recipe, kept) == pytest.approx(reserve(kept)) and reserve(kept) > reserve(network)


def test_a_recipe_scored_by_one_training_is_kept_as_given_even_where_its_validation_resolves_a_point():
    # 20,000 validation rows at 0.999 resolve a point: a recipe scored within 40% of the time left would be searched
    # on; one scored by one training past it is not (a change's would not fit either), nor one trained once
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
    once = replace(full, recipe=shortened(vgg, 25), val_score=float("nan"), details={"unscored": {"epochs": 25}})
    assert not single_training(once) and settled(score, once) == (
        "a complete recipe trained once without a score is kept as given: there is no validation score to compare a "
        "change with, and a change's training would not fit the budget either")



def test_the_progress_lines_say_why_phases_train_nothing_once_the_recipe_is_trained_once():
    out = io.StringIO()
    display = DoctorProgress(Console(file=out, width=200), quiet=False, started=0.0, deadline=float("inf"))
    assert not display.live  # not a terminal: one line per phase
    with display:
        display.phase("reference models", None)  # no reason given: the budget's
        display.phase("architecture", 8)
        display.nothing_to_do("the recipe trains once, without a score", later="the search has ended")
        display.phase("ablation", 10)
        display.phase("final training", 1)
        display.tick()
    statuses = [task.fields["status"] for task in display.progress.tasks]  # what a terminal's live display shows
    assert statuses == ["skipped: no time left in its share of the budget",
                        "skipped: the recipe trains once, without a score", "skipped: the search has ended", "done"]
    lines = out.getvalue().splitlines()
    assert lines[0] == "reference models: 0 done in 0 s (no time left in its share)"
    assert lines[1] == "architecture: 0 done in 0 s (the recipe trains once, without a score)"
    assert lines[2] == "ablation: 0 done in 0 s (the search has ended)"
    assert lines[3] == "final training: 1 done in 0 s"
