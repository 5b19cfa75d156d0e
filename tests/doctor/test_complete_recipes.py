"""Complete recipes (``fitguard.doctor.phases.RECIPES``): a network with its own optimizer, fixed schedule and
augmentation, scored beside the networks when the budget fits it, and kept whole by every phase after it."""

import copy
import json

import pytest
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.config import TrainConfig
from fitguard.data import load
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.phases import (
    ARCHITECTURES,
    RECIPE_SHARE,
    RECIPES,
    Clock,
    architecture,
    combine,
    describe,
    remedies_for,
)
from fitguard.doctor.pipeline import candidates
from fitguard.search import Evaluator
from fitguard.search.evaluate import recipe_config
from fitguard.search.scoring import Trial

VGG = RECIPES["image"][0]


def test_a_fixed_schedule_keeps_every_train_key_it_gives_over_the_scorers_options():
    base = TrainConfig(train={"device": "cpu"})
    options = {"max_epochs": 100, "repeat": 3, "batch_size": 32, "lr": 1e-3}
    config = recipe_config(base, VGG, options)
    assert (config.train.optimizer, config.train.lr, config.train.batch_size, config.train.max_epochs,
            config.train.repeat, config.train.weight_decay) == ("sgd", 0.05, 64, 60, 1, 5e-4)
    assert config.early_stopping is None and config.remedies.cosine is not None
    # without a schedule of its own, the scorer's options win over the recipe's train keys, as before
    plain = recipe_config(base, {"model": {"name": "mlp", "hidden": [8]}, "train": {"lr": 0.1, "batch_size": 8}},
                          options)
    assert (plain.train.lr, plain.train.batch_size, plain.train.max_epochs, plain.train.repeat) == (1e-3, 32, 100, 3)


def test_image_candidates_score_the_complete_recipe_third_and_only_without_a_model():
    found = candidates(DoctorOptions(), "image")
    assert [describe(c) for c in found[:3]] == [
        "cnn 16x32, pooled to 4", "cnn 32x64, pooled to 4",
        "cnn 32x64x128, 2 convs a block, pooled to 4; SGD, cosine over 60 epochs, augmented"]
    assert found[2] == VGG and found[2] is not VGG
    found[2]["train"]["lr"] = 1.0  # a copy: the run's changes never reach the module's recipe
    assert VGG["train"]["lr"] == 0.05
    assert not [c for c in candidates(DoctorOptions(model="cnn"), "image") if "train" in c]
    assert not [c for kind in ("table", "signal") for c in candidates(DoctorOptions(), kind) if "train" in c]


class _Scores(Evaluator):
    """A stand-in Scorer: a score per candidate name, no training; remembers what it was asked."""

    def __init__(self, scores):
        super().__init__(base=None, data=None)
        self.scores, self.asked = scores, []

    def __call__(self, recipe, *, name, phase, **options):
        self.asked.append(name)
        return Trial(name, phase, recipe, self.scores[name], 0.0, 1000, 10, 0.1, details={"val_loss": 0.5})


@pytest.mark.parametrize(("forecast", "scored"), [(0.5 * RECIPE_SHARE * 300, True), (1.5 * RECIPE_SHARE * 300, False)])
def test_a_complete_recipe_starts_only_when_its_forecast_fits_the_time_left(monkeypatch, forecast, scored):
    networks = [{"model": {"name": "cnn", "widths": w, "pool_to": 4}} for w in ([16, 32], [32, 64])]
    names = [describe(r) for r in [*networks, VGG]]
    score = _Scores(dict(zip(names, (0.80, 0.82, 0.86), strict=True)))
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: forecast if recipe == VGG else pytest.fail("asked"))
    trials, chosen = architecture(score, Clock(300, None), [*networks, copy.deepcopy(VGG)], epsilon=0.0,
                                  tick=lambda: None, share=1.0, extend=0)
    assert score.asked == names[: 2 + scored]
    assert trials[2].details["forecast_seconds"] == round(forecast, 1)
    if scored:
        assert trials[2].status == "done" and chosen.name == names[2]
    else:
        assert trials[2].status == f"skipped: forecast {forecast:.0f} s, over 40% of the time left"
        assert chosen.name == names[1]


def test_without_a_time_budget_a_complete_recipe_is_scored_without_a_forecast(monkeypatch):
    networks = [{"model": {"name": "cnn", "widths": w, "pool_to": 4}} for w in ([16, 32], [32, 64])]
    names = [describe(r) for r in [*networks, VGG]]
    score = _Scores(dict(zip(names, (0.80, 0.82, 0.86), strict=True)))
    monkeypatch.setattr(phases, "forecast", lambda *_: pytest.fail("a trials budget needs no forecast"))
    trials, _ = architecture(score, Clock(None, 10), [*networks, VGG], epsilon=0.0, tick=lambda: None, share=1.0,
                             extend=0)
    assert score.asked == names and "forecast_seconds" not in trials[2].details


def test_the_remedies_after_it_keep_the_recipes_own_and_add_no_second_schedule():
    data = load("digits", seed=0)
    changes = dict(remedies_for(data, VGG, 1e-4, epochs=20))
    schedules = ("cosine schedule (40 epochs)", "snapshot ensemble (3 cycles of 20 epochs)", "SWA (last third of 30 "
                 "epochs)")
    assert not set(schedules) & set(changes)
    assert set(schedules) <= set(dict(remedies_for(data, {"model": VGG["model"]}, 1e-4, epochs=20)))
    flips = combine(VGG, [changes["augmentation with flips"], changes["L2 λ=0.0001"]])
    assert flips["remedies"]["cosine"] == {} and flips["remedies"]["augment"]["flip"] is True
    assert flips["remedies"]["penalties"][0]["lam"] == 1e-4
    assert flips["train"] == VGG["train"] and flips["early_stopping"] is None


class _Study(Evaluator):
    """A stand-in cross-validated Scorer for the λ grid and the study: records each recipe and its options."""

    def __init__(self):
        super().__init__(base=TrainConfig(), data=None, folds=[(None, None), (None, None)])
        self.data = type("Data", (), {"task": "classification"})()
        self.seen = []

    def __call__(self, recipe, *, name, phase, callbacks=(), **options):
        self.seen.append((recipe, options))
        return Trial(name, phase, recipe, 0.8, 0.0, 1000, 10, 0.1, details={"val_loss": 0.5, "folds": [0.8, 0.8]})


def test_the_lambda_grid_skips_a_complete_recipe_and_keeps_a_networks_other_remedies():
    score = _Study()
    cv = phases.lambda_cv(score, Clock(None, 100), VGG, folds=2, tick=lambda: None, share=1.0, lambdas=(1e-4,))
    assert cv == {"folds": 2, "rows": [], "best_lam": None,
                  "skipped": "a complete recipe: its weight decay is its L2 strength, sized with its schedule"}
    assert score.seen == []
    network = {"model": {"name": "cnn", "widths": [8]}, "remedies": {"augment": {"shift": 0.1}}}
    cv = phases.lambda_cv(score, Clock(None, 100), network, folds=2, tick=lambda: None, share=1.0, lambdas=(1e-4,),
                          extend=0)
    (recipe, _), = score.seen
    assert recipe["remedies"] == {"augment": {"shift": 0.1},
                                  "penalties": [{"kind": "l2", "lam": 1e-4, "layers": "*.weight"}]}
    assert cv["best_lam"] == 1e-4 and "skipped" not in cv


def test_the_study_keeps_the_recipes_schedule_and_tunes_its_own_learning_rate(tmp_path):
    score = _Study()
    best = Trial("vgg", "architecture", VGG, 0.86, 0.0, 1000, 60, 1.0, details={"val_loss": 0.4})
    trials = phases.study(score, Clock(None, 6), best, tmp_path / "study.db", seed=0, tick=lambda: None)
    assert len(trials) == 3  # six trainings of two folds each
    for (recipe, options), trial in zip(score.seen, trials, strict=True):
        assert recipe["train"] == {k: v for k, v in VGG["train"].items() if k != "lr"}
        assert recipe["remedies"]["cosine"] == {} and recipe["remedies"]["augment"] == VGG["remedies"]["augment"]
        assert 0.3 * 0.05 <= options["lr"] <= 3 * 0.05  # around SGD's 0.05, not Adam's 1e-3
        assert trial.recipe["train"] == {**recipe["train"], "lr": options["lr"]}
        # the refit of a study trial trains it as scored
        config = recipe_config(TrainConfig(train={"device": "cpu"}), trial.recipe, {"max_epochs": 100, "repeat": 4})
        assert (config.train.optimizer, config.train.lr, config.train.max_epochs, config.train.repeat) == (
            "sgd", options["lr"], 60, 1)


def test_train_longer_stretches_a_complete_recipes_own_schedule():
    score = _Study()
    reference = Trial("vgg", "architecture", VGG, 0.86, 0.0, 1000, 60, 1.0, details={"val_loss": 0.4})
    phases.train_longer(score, Clock(None, 100), reference, share=1.0, tick=lambda: None)
    (recipe, options), = score.seen
    assert recipe["train"] == {**VGG["train"], "max_epochs": 180} and recipe["early_stopping"] is None
    assert recipe_config(TrainConfig(), recipe, options).train.max_epochs == 180


def test_a_doctor_run_scores_the_complete_recipe_on_images_and_ships_it_on_its_own_schedule(tmp_path, monkeypatch):
    # a small stand-in for the VGG recipe (same sections, 4 epochs of a small network) after two networks too narrow
    # to compete (2 and 3 hidden units): the complete recipe is kept, and followed through to the shipped model
    small = {**copy.deepcopy(VGG), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=4, lr=0.02)
    monkeypatch.setitem(RECIPES, "image", [small])
    monkeypatch.setitem(ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--budget", "none", "--trials", "20", "--epochs", "6",
                 "--search-epochs", "6", "--cv-max-rows", "0", "--train-fraction", "0.3", "--min-steps", "0",
                 "--quiet", "--no-references", "--ensemble", "1", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    scored = {t["name"]: t for t in summary["remedies"]["architecture"]}
    recipe = scored["cnn 8x16, 2 convs a block; SGD, cosine over 4 epochs, augmented"]
    assert recipe["status"] == "done" and recipe["recipe"] == small
    assert recipe["epochs"] == 4  # its own schedule, not --search-epochs 6
    assert [t["name"] for t in summary["remedies"]["architecture"]][2] == recipe["name"]
    kept = summary["best"]
    assert summary["remedies"]["chosen_architecture"] == recipe["name"]
    assert summary["remedies"]["lambda_cv"]["skipped"]
    assert kept["recipe"]["train"]["optimizer"] == "sgd" and kept["recipe"]["remedies"]["cosine"] == {}
    assert kept["shipped"]["epochs"] == kept["recipe"]["train"]["max_epochs"]
    assert kept["config"]["train"]["batch_size"] == 64 and kept["config"]["early_stopping"] is None
