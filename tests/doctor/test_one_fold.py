"""A default recipe scored on the first fold alone (``fitguard.doctor.phases.optional_recipe``): when its k trainings
do not fit the time left but one and its final training do, it is scored on fold 1 and every network is compared with
it on that fold."""

import copy
import json
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.config import TrainConfig
from fitguard.data import TensorData
from fitguard.doctor import phases
from fitguard.doctor.phases import (
    RECIPE_SHARE,
    RECIPES,
    REPORT_SECONDS,
    RESERVE_FACTOR,
    SHORTEST,
    Clock,
    Scorer,
    admits_one_fold,
    architecture,
    describe,
    fitting_epochs,
    noise,
    scored_by,
    settled,
    single_training,
)
from fitguard.doctor.pipeline import _tie
from fitguard.report.html import render_report
from fitguard.search.scoring import Trial

VGG = RECIPES["vgg"]
NETWORKS = [{"model": {"name": "cnn", "widths": w, "pool_to": 4}} for w in ([16, 32], [32, 64])]
NAMES = [describe(NETWORKS[0]), describe(VGG), describe(NETWORKS[1])]


def rows(n: int) -> TensorData:
    return TensorData(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long))


@dataclass
class _Folds(Scorer):
    """A stand-in Scorer: each fold's score and loss per candidate name, no training; remembers which candidate
    was asked for how many folds."""

    canned: dict = field(default_factory=dict)
    asked: list = field(default_factory=list)

    def fold_trials(self, recipe, *, name, phase, options, callbacks=()):
        self.asked.append((name, len(self.folds)))
        return [Trial(f"{name} fold {i + 1}", phase, recipe, score, 0.0, 1000, 10, 1.0,
                      details={"val_loss": loss, "stop_reason": "max_epochs"})
                for i, (score, loss) in enumerate(self.canned[name][: len(self.folds)])]


# by the mean over 3 folds the first network leads (0.867); on fold 1, the one the recipe was scored on, the second
# one does (0.85), within epsilon of the recipe's 0.84 -- a lead far under the noise on 150 rows: the recipe is kept
CANNED = {NAMES[0]: [(0.80, 0.60), (0.90, 0.30), (0.90, 0.30)],
          NAMES[1]: [(0.84, 0.50), (0.99, 0.01), (0.99, 0.01)],
          NAMES[2]: [(0.85, 0.40), (0.85, 0.40), (0.85, 0.40)]}


def scorer() -> _Folds:
    return _Folds(base=None, data=None, folds=[(rows(300), rows(150))] * 3, canned=CANNED)


def run(score: _Folds, forecast: float, monkeypatch, epsilon: float = 0.02):
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: forecast if recipe == VGG else pytest.fail("asked"))
    clock = Clock(60, None, started=phases.time.perf_counter())  # "now", where a test stands the clock still
    return architecture(score, clock, NETWORKS, epsilon=epsilon, tick=lambda: None, share=1.0, extend=0,
                        optional=[copy.deepcopy(VGG)])


def test_a_recipe_whose_folds_do_not_fit_is_scored_on_the_first_alone_and_compared_there(monkeypatch):
    score = scorer()
    trials, chosen = run(score, forecast=45.0, monkeypatch=monkeypatch)  # 3 x 15 s: over 40% of 60 s
    assert score.asked == [(NAMES[1], 1), (NAMES[0], 3), (NAMES[2], 3)]  # the recipe first
    recipe = trials[0]
    assert recipe.details["one_fold"] == {"fold": 1, "folds": 3, "training_rows": 300, "validation_rows": 150}
    assert recipe.val_score == 0.84 and recipe.details["forecast_seconds"] == 45.0
    assert trials[1].details["first_fold"] == {"val_score": 0.80, "val_loss": 0.60}
    assert trials[2].details["first_fold"] == {"val_score": 0.85, "val_loss": 0.40}
    assert trials[1].val_score == pytest.approx(np.mean([0.80, 0.90, 0.90]))  # the later phases' figure, unchanged
    # the noise rule on the fold's 150 rows: the network's 1-point lead is under it, so the fixed schedule is kept
    assert chosen is recipe and recipe.details["chosen"]
    assert trials[2].details["tie"] == {"search_score": 0.85, "fresh_score": None, "fresh_folds": [], "epochs": None,
                                        "kept": False, "noise": noise(0.84, 150)}
    assert recipe.details["tie"]["kept"] and "first_fold" not in recipe.details
    # what scored it: one training on 150 validation rows, too few to search remedies on
    assert scored_by(score, recipe).trainings == 1 and scored_by(score, trials[1]).trainings == 3
    assert settled(scored_by(score, recipe), recipe).startswith("a complete recipe is kept as given: 150 validation")


def test_a_recipe_far_behind_leaves_the_choice_to_the_networks_on_the_first_fold(monkeypatch):
    score = scorer()
    score.canned = {**CANNED, NAMES[1]: [(0.60, 1.2)]}  # 25 points behind on fold 1: beyond the noise
    trials, chosen = run(score, forecast=45.0, monkeypatch=monkeypatch, epsilon=0.0)
    assert chosen is trials[2]  # 0.85 on fold 1; by the mean the first network (0.867) would have been kept
    assert not any("tie" in t.details for t in trials)


def test_a_network_ahead_by_more_than_epsilon_but_within_the_noise_ties_the_recipe(monkeypatch):
    trials, chosen = run(scorer(), forecast=45.0, monkeypatch=monkeypatch, epsilon=0.0)
    assert chosen is trials[0]  # 0.85 against 0.84 on 150 rows: noise, and the network's score is a selection
    assert trials[0].details["tie"]["kept"] and not trials[2].details["tie"]["kept"]


def test_a_recipe_whose_folds_fit_is_scored_on_every_fold(monkeypatch):
    score = scorer()
    trials, _ = run(score, forecast=20.0, monkeypatch=monkeypatch)
    assert score.asked == [(NAMES[1], 3), (NAMES[0], 3), (NAMES[2], 3)]
    assert not any("one_fold" in t.details or "first_fold" in t.details for t in trials)


def test_a_recipe_whose_folds_fit_the_share_but_not_its_final_model_by_the_deadline_is_scored_on_one_fold(
        monkeypatch):
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)
    # 3 folds in 20 s fit 40% of 60 s; then the final training (6.7 s x 1.3 x 450 / 350) and the final model's
    # forward passes over 300,450 rows (a third of a training row's 0.11 s / 300 each: 37 s) and the report end
    # past the deadline. One fold (6.7 s) leaves them time: it is scored so, at full length
    score = replace(scorer(), data=type("Split", (), {"test": rows(300_000)})())
    once, evaluation = 20 / 3, 20 / 3 / 60 / 300 / 3 * 300_450
    assert RECIPE_SHARE * 60 >= 20 and 20 + once * RESERVE_FACTOR * 450 / 350 + evaluation + REPORT_SECONDS > 60
    trials, _ = run(score, forecast=20.0, monkeypatch=monkeypatch)
    assert score.asked == [(NAMES[1], 1), (NAMES[0], 3), (NAMES[2], 3)]
    assert trials[0].details["one_training"]["epochs"] == 60


def test_a_recipe_whose_one_fold_at_full_length_passes_the_deadline_is_trained_once_unscored(monkeypatch):
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)  # no training here: the clock stands still
    monkeypatch.setattr(phases, "parameters_of", lambda _, recipe: 4321)
    score = replace(scorer(), data=type("Split", (), {"task": "classification"})())
    forecast = 66.0  # one fold 22 s; its final training on 450 rows, 450 / (300 + 150 / 3) of it x 1.3: past 60 s
    final = 450 / (300 + 150 / 3)  # the fold's validation rows cost a third of a training row (a forward pass)
    evaluation = 22 / 60 / 300 / 3 * 450  # the final model's forward passes over the labelled rows
    assert 22 * (1 + RESERVE_FACTOR * final) + evaluation + REPORT_SECONDS > 60
    # scored first, the most epochs whose one fold and final training end by the deadline: 58; the final training
    # alone fits all 60, so it is trained once, unscored, and nothing is scored beside it
    assert math.floor((60 - REPORT_SECONDS - evaluation) / (1 + RESERVE_FACTOR * final) / (22 / 60)) == 58
    assert 60 * 22 / 60 * RESERVE_FACTOR * final + evaluation + REPORT_SECONDS <= 60
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: forecast)
    clock = Clock(60, None, started=1000.0)
    trials, chosen = architecture(score, clock, NETWORKS, epsilon=0.02, tick=lambda: None, share=1.0, extend=0,
                                  optional=[copy.deepcopy(VGG)])
    assert score.asked == [] and chosen is trials[0] and trials[0].name == NAMES[1]
    assert trials[0].details["unscored"] == {"epochs": 60, "of": 60, "forecast_seconds": 22.0, "scored_epochs": 58,
                                             "more_seconds": 0.0}
    assert not single_training(trials[0]) and clock.left() <= 0
    assert trials[0].parameters == 4321 and settled(score, trials[0]).startswith(
        "a complete recipe trained once without a score is kept as given")


def test_a_recipe_that_fits_only_under_its_shortest_schedule_is_not_scored(monkeypatch):
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)
    score = scorer()
    forecast = 360.0  # one fold 120 s: trained once on 450 rows, 16 of its 60 epochs would fit, under SHORTEST's 20
    evaluation = 120 / 60 / 300 / 3 * 450
    assert math.floor((60 - REPORT_SECONDS - evaluation) / (RESERVE_FACTOR * 450 / 350) / (120 / 60)) == 16
    assert math.ceil(SHORTEST * 60) == 20
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: forecast if recipe == VGG else pytest.fail("asked"))
    trials, chosen = architecture(score, Clock(60, None, started=1000.0), NETWORKS, epsilon=0.02,
                                  tick=lambda: None, share=1.0, extend=0, optional=[copy.deepcopy(VGG)])
    assert score.asked == [(NAMES[0], 3), (NAMES[2], 3)]
    assert trials[0].status == ("skipped: forecast 360 s, over 40% of the time left (trained once, past the "
                                "deadline even at 20 of its 60 epochs)")
    assert chosen is trials[1]


def test_fitting_epochs_is_the_most_whose_one_fold_and_final_training_end_by_the_deadline(monkeypatch):
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)
    score = scorer()  # 300 training rows a fold, 450 labelled
    clock = Clock(60, None, started=990.0)  # 50 s to the deadline
    # one training of e epochs at s/60 seconds each (on 300 training rows and 150 validation rows at a third of the
    # cost: 350 rows' worth), then the final one on 450 rows (x 1.3), the final model's forward passes over the 450
    # rows (a row a third of a training row's epoch: s/60/300/3 s), then the report
    factor = 1 + RESERVE_FACTOR * 450 / 350
    ends = {s: max(e for e in range(1, 61) if s * e / 60 * factor + s / 60 / 300 / 3 * 450 + REPORT_SECONDS <= 50)
            for s in (5.0, 19.0, 25.0, 40.0, 52.0)}
    assert ends == {5.0: 60, 19.0: 55, 25.0: 42, 40.0: 26, 52.0: 20}
    for seconds, epochs in ends.items():
        assert fitting_epochs(seconds, 60, score, clock) == epochs
    assert fitting_epochs(55.0, 60, score, clock) is None  # 19 epochs: under a third of 60
    # a test split of 9,000 rows: its forward passes (25/60/300/3 s a row) come out of the time, 4 of the epochs
    tested = replace(score, data=type("Split", (), {"test": rows(9000)})())
    assert 25 * 38 / 60 * factor + 25 / 60 / 300 / 3 * 9450 + REPORT_SECONDS <= 50 < (
        25 * 39 / 60 * factor + 25 / 60 / 300 / 3 * 9450 + REPORT_SECONDS)
    assert fitting_epochs(25.0, 60, tested, clock) == 38
    clock.reserve = 45.0  # the search's own deadline, 5 s away, binds first: 12 epochs of 25 s, too few
    assert fitting_epochs(25.0, 60, score, clock) is None and fitting_epochs(4.0, 60, score, clock) == 60


def test_a_doctor_run_records_and_reports_a_recipe_scored_on_one_fold(tmp_path, monkeypatch):
    # a small stand-in for the VGG recipe (4 epochs of a small network) as the default, and the forecast made to
    # refuse its 3 folds and admit one: the run compares the networks with it on fold 1 and says so
    small = {**copy.deepcopy(VGG), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=4, lr=0.02)
    monkeypatch.setitem(RECIPES, "vgg", small)
    monkeypatch.setitem(phases.ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    monkeypatch.setattr(phases, "forecast", lambda *_: 1e6)
    monkeypatch.setattr(phases, "fitting_epochs", lambda seconds, epochs, *_: epochs)  # one fold, in full
    monkeypatch.setattr(phases, "RECIPE_MIN_LEFT", 0.0)
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--budget", "60", "--epochs", "6", "--search-epochs", "6",
                 "--train-fraction", "0.2", "--min-steps", "0", "--quiet", "--no-references", "--ensemble", "1",
                 "--refit", "trainval", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    architecture_trials = summary["remedies"]["architecture"]
    recipe = next(t for t in architecture_trials if "one_fold" in t["details"])
    one = summary["remedies"]["one_fold"]
    # 4 epochs of the few rows take under phases.RECIPE_MIN_STEPS steps: every training of it takes 2 passes an epoch
    assert one["recipe"] == recipe["name"] == ("cnn 8x16, 2 convs a block; SGD, one cycle over 4 epochs of 2 passes, "
                                               "label smoothing 0.1, augmented")
    assert one["folds"] == 3 and one["forecast_seconds"] == 1e6 and len(recipe["details"]["folds"]) == 1
    assert one["training_rows"] + one["validation_rows"] == summary["remedies"]["selection"]["labelled_rows"]
    networks = [t for t in architecture_trials if t is not recipe and t["status"] == "done"]
    assert networks and [c["name"] for c in one["compared"]] == [t["name"] for t in networks]
    for c, t in zip(one["compared"], networks, strict=True):
        assert c["first_fold"] == t["details"]["folds"][0] == t["details"]["first_fold"]["val_score"]
        assert c["all_folds"] == t["val_score"] == pytest.approx(np.mean(t["details"]["folds"]))
    # kept: its fold's validation rows resolve no remedy, so it is shipped as given
    assert summary["remedies"]["settled"].startswith(
        f"a complete recipe is kept as given: {one['validation_rows']} validation rows")
    report = (out / "report.html").read_text()
    assert f"“{one['recipe']}” was scored on the first of the 3 folds alone" in report
    assert "scored on fold 1 of 3 alone" in report
    assert "No network was scored beside it" not in report and "the only network the budget scored" not in report
    # the same folder as a run whose recipe left no time for a network would have written it: the report says so
    # instead of listing no first-fold scores and a choice "within ε of the best" among one
    for trial in architecture_trials:
        if trial is not recipe:
            trial.update(status="skipped: budget", val_score=None)
    one["compared"] = []
    (out / "summary.json").write_text(json.dumps(summary))
    report = render_report(out)
    assert "No network was scored beside it: it left none of the search's time." in report
    assert "On the first fold:" not in report
    assert "chosen (the only network the budget scored)" in report


def test_a_one_fold_recipe_is_kept_as_given_even_where_its_fold_resolves_a_point():
    # 600 validation rows at 0.999 resolve a point: a full score would be searched on; one fold's is not, since
    # its folds did not fit and a change's would not either
    score = _Folds(base=None, data=None, folds=[(rows(1200), rows(600))] * 3)
    recipe = Trial(NAMES[1], "architecture", VGG, 0.999, 0.0, 1000, 60, 1.0, details={"one_fold": {"folds": 3}})
    assert settled(score, replace(recipe, details={})) is None
    assert settled(one := scored_by(score, recipe), recipe) == (
        "a complete recipe scored on fold 1 of 3 alone is kept as given: its 3 folds did not fit the budget, nor "
        "would a change's, so no remedy is searched on it")
    assert one.trainings == 1 and one.first_fold_of == 3


def test_one_fold_is_not_started_when_the_search_deadline_would_cut_it():
    score = scorer()
    clock = Clock(60, None, reserve=50.0)  # 10 s of search left, 60 s to the run's deadline
    assert not admits_one_fold(12.0, score, clock) and admits_one_fold(8.0, score, clock)


def test_the_summary_lists_a_ties_fixed_schedule_first_whatever_the_order_scored():
    network = Trial(NAMES[0], "architecture", NETWORKS[0], 0.85, 0.0, 10, 8, 1.0,
                    details={"tie": {"search_score": 0.85, "fresh_score": None, "fresh_folds": [], "epochs": None,
                                     "kept": False, "noise": 0.08}})
    recipe = replace(network, name=NAMES[1], recipe=VGG, val_score=0.84,
                     details={"tie": {**network.details["tie"], "search_score": 0.84, "kept": True}})
    tie = _tie([network, recipe], replace(scorer(), base=TrainConfig()))
    assert [f["name"] for f in tie["finalists"]] == [NAMES[1], NAMES[0]] and tie["kept"] == NAMES[1]
