"""Complete recipes (``fitguard doctor --recipe NAME|FILE``, ``fitguard.doctor.phases.RECIPES``): a network with its
own optimizer, fixed schedule and augmentation, scored first among the architectures, and kept whole by every phase
after it."""

import contextlib
import copy
import io
import json
import math

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fitguard.cli import app, main
from fitguard.config import TrainConfig
from fitguard.data import TensorData, load
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.phases import (
    ARCHITECTURES,
    RECIPE_SHARE,
    RECIPES,
    RESERVE_FACTOR,
    Clock,
    architecture,
    combine,
    describe,
    remedies_for,
    shortened,
)
from fitguard.doctor.pipeline import by_size, candidates, default_recipes
from fitguard.search import Evaluator
from fitguard.search.evaluate import recipe_config
from fitguard.search.scoring import Trial

VGG = RECIPES["vgg"]


def test_a_fixed_schedule_keeps_every_train_key_it_gives_over_the_scorers_options():
    base = TrainConfig(train={"device": "cpu"})
    options = {"max_epochs": 100, "repeat": 3, "batch_size": 32, "lr": 1e-3}
    config = recipe_config(base, VGG, options)
    assert (config.train.optimizer, config.train.lr, config.train.batch_size, config.train.max_epochs,
            config.train.repeat, config.train.weight_decay, config.train.nesterov) == (
        "sgd", 0.1, 64, 60, 1, 5e-4, True)
    assert config.early_stopping is None and config.remedies.one_cycle is not None and config.remedies.cosine is None
    # without a schedule of its own, the scorer's options win over the recipe's train keys, as before
    plain = recipe_config(base, {"model": {"name": "mlp", "hidden": [8]}, "train": {"lr": 0.1, "batch_size": 8}},
                          options)
    assert (plain.train.lr, plain.train.batch_size, plain.train.max_epochs, plain.train.repeat) == (1e-3, 32, 100, 3)


def test_recipes_are_scored_after_the_backbone_and_before_the_networks_whatever_their_size(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("model: {name: cnn, widths: [8]}\ntrain: {optimizer: adamw, lr: 0.003, max_epochs: 5}\n"
                    "early_stopping: false\nremedies: {cosine: {}}\n")
    found = candidates(DoctorOptions(recipe=("vgg", str(spec))), "image")
    assert found[:2] == [VGG, {"model": {"name": "cnn", "widths": [8]}, "early_stopping": False,
                               "train": {"optimizer": "adamw", "lr": 0.003, "max_epochs": 5},
                               "remedies": {"cosine": {}}}]
    assert [describe(c) for c in found[:3]] == [
        "cnn 32x64x128, 2 convs a block; SGD, one cycle over 60 epochs, label smoothing 0.1, augmented",
        "cnn 8; ADAMW, cosine over 5 epochs", "cnn 16x32, pooled to 4"]
    found[0]["train"]["lr"] = 1.0  # a copy: the run's changes never reach the module's recipe
    assert VGG["train"]["lr"] == 0.1
    assert not [c for c in candidates(DoctorOptions(), "image") if set(c) != {"model"}]  # none by default
    with_backbone = candidates(DoctorOptions(recipe=("vgg",), backbone="runs/pre"), "image")
    assert "transfer" in with_backbone[0] and with_backbone[1] == VGG
    data = load("digits", seed=0)
    assert by_size(found, data, descending=True)[:2] == found[:2]  # the biggest networks first, after the recipes


@pytest.mark.parametrize(("value", "message"), [
    ("resnet", "error: `--recipe` must be a recipe name (vgg) or a .yaml/.yml/.toml file of recipe sections, got "
               "'resnet'"),
    ("no_model.yaml", "error: --recipe {path}: a recipe needs a `model` section (the network it trains), e.g. model: "
                      "{{name: cnn, widths: [32, 64]}}"),
    ("bad_lr.yaml", "error: --recipe {path}: train.lr: must be greater than 0, got -1"),
    ("typo.yaml", "error: --recipe {path}: train.max_epoch: unknown key (check the spelling; see `fitguard train "
                  "--help` for the sections and keys)"),
])
def test_a_recipe_that_is_no_name_nor_a_valid_file_is_one_line_and_nothing_is_written(tmp_path, value, message):
    texts = {"no_model.yaml": "train: {lr: 0.1}\n", "bad_lr.yaml": "model: {name: cnn}\ntrain: {lr: -1}\n",
             "typo.yaml": "model: {name: cnn}\ntrain: {max_epoch: 5}\n"}
    path = tmp_path / value
    if value in texts:
        path.write_text(texts[value])
    out = tmp_path / "run"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["doctor", "--recipe", str(path) if value in texts else value, "--out", str(out)])
    assert code == 2 and stderr.getvalue().strip() == message.format(path=path)
    assert not out.exists()


def test_the_remedies_after_it_keep_the_recipes_own_and_add_no_second_schedule():
    data = load("digits", seed=0)
    changes = dict(remedies_for(data, VGG, 1e-4, epochs=20))
    schedules = ("cosine schedule (40 epochs)", "snapshot ensemble (3 cycles of 20 epochs)", "SWA (last third of 30 "
                 "epochs)")
    assert not set(schedules) & set(changes)
    assert set(schedules) <= set(dict(remedies_for(data, {"model": VGG["model"]}, 1e-4, epochs=20)))
    flips = combine(VGG, [changes["augmentation with flips"], changes["L2 λ=0.0001"]])
    assert flips["remedies"]["one_cycle"] == {"warmup": 0.25} and flips["remedies"]["augment"]["flip"] is True
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
        assert recipe["remedies"]["one_cycle"] == {"warmup": 0.25}
        assert recipe["remedies"]["augment"] == VGG["remedies"]["augment"]
        assert 0.3 * 0.1 <= options["lr"] <= 3 * 0.1  # around the recipe's SGD 0.1, not Adam's 1e-3
        assert trial.recipe["train"] == {**recipe["train"], "lr": options["lr"]}
        # the refit of a study trial trains it as scored
        config = recipe_config(TrainConfig(train={"device": "cpu"}), trial.recipe, {"max_epochs": 100, "repeat": 4})
        assert (config.train.optimizer, config.train.lr, config.train.max_epochs, config.train.repeat) == (
            "sgd", options["lr"], 60, 1)


def test_train_longer_stretches_a_complete_recipes_own_schedule():
    score = _Study()
    reference = Trial("vgg", "architecture", VGG, 0.86, 0.0, 1000, 60, 1.0, details={"val_loss": 0.4})
    trial, = phases.train_longer(score, Clock(None, 100), reference, share=1.0, tick=lambda: None)
    assert trial.details["max_epochs"] == 180 and trial.details["patience"] is None  # no early stopping to stretch
    (recipe, options), = score.seen
    assert recipe["train"] == {**VGG["train"], "max_epochs": 180} and recipe["early_stopping"] is None
    assert recipe_config(TrainConfig(), recipe, options).train.max_epochs == 180


def test_a_doctor_run_scores_a_recipe_file_first_and_ships_it_on_its_own_schedule(tmp_path, monkeypatch):
    # a small stand-in for the VGG recipe (its sections, 4 epochs of a small network), before two networks too narrow
    # to compete (2 and 3 hidden units): the complete recipe is kept, and followed through to the shipped model
    small = {**copy.deepcopy(VGG), "model": {"name": "cnn", "widths": [8, 16], "convs": 2, "dropout": 0.3}}
    small["train"].update(max_epochs=4, lr=0.02)
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump(small))
    monkeypatch.setitem(ARCHITECTURES, "image", [{"name": "mlp", "hidden": [2]}, {"name": "mlp", "hidden": [3]}])
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--recipe", str(spec), "--budget", "none", "--trials", "20",
                 "--epochs", "6", "--search-epochs", "6", "--cv-max-rows", "0", "--train-fraction", "0.3",
                 "--min-steps", "0", "--no-references", "--ensemble", "1", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    # not a terminal: one line per phase, and a phase that trains nothing says why (not "no time left")
    lines = result.output.splitlines()
    for phase in ("λ on the validation split", "ablation"):  # --cv-max-rows 0: a validation split
        assert f"{phase}: 0 done in 0 s (the complete recipe is kept as given: no remedy is searched on it)" in lines
    assert "no time left" not in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert f"--recipe {spec}" in summary["command"]
    first = summary["remedies"]["architecture"][0]
    assert first["name"] == "cnn 8x16, 2 convs a block; SGD, one cycle over 4 epochs, label smoothing 0.1, augmented"
    assert first["status"] == "done" and first["recipe"] == small
    assert first["epochs"] == 4  # its own schedule, not --search-epochs 6
    assert summary["remedies"]["chosen_architecture"] == first["name"]
    assert summary["remedies"]["lambda_cv"]["skipped"]
    kept = summary["best"]
    assert summary["remedies"]["ablation"][0]["name"] == "the recipe as given"  # not "early stopping only"
    # its validation rows cannot resolve a point: kept as given, every change listed as skipped, no study
    why = summary["remedies"]["settled"]
    assert why.startswith(f"a complete recipe is kept as given: {summary['data']['n_val']} validation rows") and \
        why.endswith(
        " validation rows cannot tell a change of 1 point from noise, so no remedy is searched on it")
    assert {t["status"] for t in summary["remedies"]["ablation"][1:]} == {f"skipped: {why}"}
    assert summary["remedies"]["study"]["trials"] == [] and kept["name"] == "the recipe as given"
    report = (out / "report.html").read_text()
    assert f"A{why[1:]}." in report
    assert kept["recipe"]["train"]["optimizer"] == "sgd" and kept["recipe"]["remedies"]["one_cycle"] == {"warmup": 0.25}
    assert kept["shipped"]["epochs"] == kept["recipe"]["train"]["max_epochs"]
    assert kept["config"]["train"]["batch_size"] == 64 and kept["config"]["early_stopping"] is None
    # digits are no mirror images of each other: flip test-time augmentation measured, worse, and not used
    mirror = kept["mirror"]
    assert mirror["val_score"] < mirror["plain_val_score"] and not mirror["used"]
    assert json.loads((out / "best.json").read_text())["ensemble"] is None  # one network, no mirror views


def test_image_runs_without_a_model_get_the_default_recipes_as_copies():
    found = default_recipes(DoctorOptions(), "image")
    assert found == [VGG] and found[0] is not VGG
    found[0]["train"]["lr"] = 1.0  # a copy: the run's changes never reach the module's recipe
    assert VGG["train"]["lr"] == 0.1
    assert default_recipes(DoctorOptions(model="cnn"), "image") == []
    assert default_recipes(DoctorOptions(), "table") == default_recipes(DoctorOptions(), "signal") == []


@pytest.mark.parametrize("rows, passes", [(64, 2), (90, 2), (192, 2), (193, 1), (1000, 1), (None, 1)])
def test_a_built_in_recipe_takes_2_passes_an_epoch_on_at_most_192_labelled_rows_default_or_named(rows, passes):
    # 60 epochs of batch 64 take under phases.RECIPE_MIN_STEPS = 240 steps on 192 rows (3 an epoch), 240 on 193
    default = default_recipes(DoctorOptions(), "image", rows)[0]
    named = candidates(DoctorOptions(recipe=("vgg",)), "image", rows)[0]
    assert default == named == {**VGG, "train": {**VGG["train"], "repeat": passes}}  # --recipe vgg is not scored twice
    assert (" of 2 passes" in describe(default)) is (passes == 2)
    assert VGG["train"]["repeat"] == 1  # the module's recipe as written


def test_a_recipe_file_keeps_its_own_passes_or_the_searchs_on_few_rows(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**VGG, "train": {**VGG["train"], "max_epochs": 4}}))
    mine = candidates(DoctorOptions(recipe=(str(path),)), "image", 50)[0]
    assert mine["train"]["repeat"] == phases.passes_of(mine, {"repeat": 8}) == 1
    # a file that sets no repeat trains with the search's passes (fitguard.search.evaluate.train_keys)
    path.write_text(yaml.safe_dump({**VGG, "train": {"optimizer": "sgd", "lr": 0.1, "max_epochs": 4}}))
    mine = candidates(DoctorOptions(recipe=(str(path),)), "image", 50)[0]
    assert "repeat" not in mine["train"] and phases.passes_of(mine, {"repeat": 8}) == 8


def test_the_forecast_counts_an_epochs_passes_as_one_stream_of_batches_and_one_validation(monkeypatch):
    # a 96-row fold at 2 passes: ceil(192 / 64) = 3 steps an epoch, not 2 x 2; validation once an epoch, not twice
    rows = lambda n: TensorData(torch.zeros(n, 1, 8, 8), torch.zeros(n, dtype=torch.long))  # noqa: E731
    score = phases.Scorer(TrainConfig(), None, folds=[(rows(96), rows(48))] * 3)
    monkeypatch.setattr(phases, "train_recipe", lambda *_, **__: (None, None, {"time": [9.0, 1.0, 1.0]}))
    two = {**VGG, "train": {**VGG["train"], "repeat": 2}}
    step = 1.0 / (4 + 1 / 3)  # the timed epochs: 4 batches and a validation batch at a third of the cost
    assert phases.forecast(score, two) == pytest.approx(3 * step * 60 * (3 + 48 / 64 / 3))
    assert phases.forecast(score, VGG) == pytest.approx(3 * step * 60 * (2 + 48 / 64 / 3))


def test_the_final_phases_costs_count_an_epochs_passes():
    rows = lambda n: TensorData(torch.zeros(n, 1, 8, 8), torch.zeros(n, dtype=torch.long))  # noqa: E731
    score = phases.Scorer(TrainConfig(), None, folds=[(rows(60), rows(30))] * 3)  # no test split: 90 rows
    # an epoch of 2 passes spends half its seconds a training row: a forward row costs half as much
    assert phases._evaluation_seconds(6.0, score, 2) == pytest.approx(phases._evaluation_seconds(6.0, score) / 2)
    assert phases._evaluation_seconds(6.0, score) == pytest.approx(6.0 / 60 / 3 * 90)
    # the final training on 90 rows against one on 60 + 30 validated: 2 x 90 / (2 x 60 + 10) at 2 passes, 90 / 70 at 1
    assert phases._final_factor(score, 2) == pytest.approx(1 + RESERVE_FACTOR * 180 / 130)
    assert phases._final_factor(score) == pytest.approx(1 + RESERVE_FACTOR * 90 / 70)


class _Scores(Evaluator):
    """A stand-in Scorer: a score per candidate name, no training, on a validation split of 800 + 200 rows;
    remembers what it was asked."""

    def __init__(self, scores):
        rows = {"train": range(800), "val": range(200), "task": "classification"}
        super().__init__(base=None, data=type("Split", (), rows)())
        self.scores, self.asked = scores, []

    def __call__(self, recipe, *, name, phase, **options):
        self.asked.append(name)
        return Trial(name, phase, recipe, self.scores[name], 0.0, 1000, 10, 0.1, details={"val_loss": 0.5})


NETWORKS = [{"model": {"name": "cnn", "widths": w, "pool_to": 4}} for w in ([16, 32], [32, 64], [8, 16])]
NAMES = [describe(r) for r in [NETWORKS[0], VGG, *NETWORKS[1:]]]
SCORES = dict(zip(NAMES, (0.80, 0.86, 0.82, 0.79), strict=True))
# one training on the validation split, then the final one on 1,000 rows (x 1.3), its evaluation (a third of a
# training row's cost on 1,000 rows) and the report, by 300 s: at most (300 - 3 - 1.25) / (1 + 1.3 x 1000 /
# (800 + 200 / 3)) s of training, the validation rows at a third of a training row; at 180 s for 60 epochs, 39. The
# final training alone fits all 60: the recipe is trained once, unscored. At 400 s, 29 of them, and scored first
# under a third
SHORT = describe(shortened(VGG, 29))
SKIPPED = "skipped: the recipe, trained once without a score, takes the rest of the budget"


@pytest.mark.parametrize(("forecast", "kept", "epochs", "scored_epochs"),
                         [(0.5 * RECIPE_SHARE * 300, NAMES[1], None, None), (180.0, NAMES[1], 60, 39),
                          (400.0, SHORT, 29, None), (1000.0, None, None, None)])
def test_a_default_recipe_is_scored_first_as_far_as_its_forecast_fits_the_time_left(monkeypatch, forecast, kept,
                                                                                       epochs, scored_epochs):
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)  # no training here: the clock stands still
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: forecast if recipe == VGG else pytest.fail("asked"))
    monkeypatch.setattr(phases, "parameters_of", lambda _, recipe: 1234)
    clock = Clock(300, None, started=1000.0)
    trials, chosen = architecture(score, clock, NETWORKS, epsilon=0.0, tick=lambda: None, share=1.0, extend=0,
                                  optional=[copy.deepcopy(VGG)])
    assert [t.name for t in trials] == [kept or NAMES[1], NAMES[0], *NAMES[2:]]
    recipe = trials[0]
    assert recipe.details["forecast_seconds"] == round(forecast, 1)
    if epochs is None and kept:  # within 40% of the time left: as given, then every network
        assert score.asked == [NAMES[1], NAMES[0], *NAMES[2:]] and recipe.status == "done" and chosen.name == NAMES[1]
        assert "one_training" not in recipe.details and not phases.unscored(recipe)
    elif kept:  # 180 s or 400 s: scored first it would be cut to 39 epochs or under a third; trained once instead
        assert score.asked == [] and chosen is recipe and phases.unscored(recipe)
        assert recipe.recipe["train"]["max_epochs"] == recipe.epochs == recipe.details["best_epoch"] == epochs
        assert recipe.details["unscored"] == {
            "epochs": epochs, "of": 60, "forecast_seconds": forecast, "scored_epochs": scored_epochs,
            "more_seconds": round((60 - epochs) * RESERVE_FACTOR * forecast / 60 * 1000 / (800 + 200 / 3), 1)}
        assert math.isnan(recipe.val_score) and recipe.parameters == 1234 and recipe.seconds == 0.0
        assert [t.status for t in trials[1:]] == [SKIPPED] * 3 and recipe.metric == "val_accuracy"
        assert clock.left() <= 0  # the rest of the run is the final training's: no later phase starts one
        clock.reserve = 0.0  # and a reserve learned later does not reopen the search
        assert clock.left() <= 0
    else:  # under a third of its epochs would fit even trained once: not at all
        assert recipe.status == ("skipped: forecast 1000 s, over 40% of the time left (trained once, past the "
                                 "deadline even at 20 of its 60 epochs)")
        assert score.asked == [NAMES[0], *NAMES[2:]] and chosen.name == NAMES[2]


def test_a_recipe_is_never_trained_once_unscored_beside_candidates_the_user_named(monkeypatch):
    # a --backbone or another --recipe: the user's candidates are to be compared, so a recipe that scoring would cut
    # short is not scored at all, and they are
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: 180.0 if recipe == VGG else pytest.fail("asked"))
    clock = Clock(300, None, started=1000.0)
    trials, chosen = architecture(score, clock, NETWORKS, epsilon=0.0, tick=lambda: None, share=1.0, extend=0,
                                  optional=[copy.deepcopy(VGG)], named=[NETWORKS[0]])  # say the user's own network
    assert score.asked == [NAMES[0], *NAMES[2:]] and chosen.name == NAMES[2] and clock.left() > 0
    assert trials[0].status == ("skipped: forecast 180 s, over 40% of the time left (one training and its final "
                                "training: past the deadline; not trained once without a score: a candidate you named "
                                "waits to be compared)")


def test_a_recipe_the_user_named_is_budgeted_like_the_default_one(monkeypatch):
    # --recipe vgg at a small budget: named alone, it is forecast first and trained once where scoring would cut it
    # short, as the default recipe is (scored as a plain candidate it took the time its final training needed)
    monkeypatch.setattr(phases.time, "perf_counter", lambda: 1000.0)
    monkeypatch.setattr(phases, "parameters_of", lambda _, recipe: 1234)
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: 180.0 if recipe == VGG else pytest.fail("asked"))
    named = [copy.deepcopy(VGG)]
    trials, chosen = architecture(score, Clock(300, None, started=1000.0), [*named, *NETWORKS], epsilon=0.0,
                                  tick=lambda: None, share=1.0, extend=0, optional=[copy.deepcopy(VGG)], named=named)
    assert score.asked == [] and chosen is trials[0] and phases.unscored(chosen) and chosen.epochs == 60
    assert [t.name for t in trials] == [NAMES[1], NAMES[0], *NAMES[2:]]  # once each, the recipe first
    # and a second recipe the user named is compared, not left out: the first is scored by one training (its
    # forecast admits it) and the second, whose scoring does not fit, is not trained once after a score
    other = {**copy.deepcopy(VGG), "train": {**VGG["train"], "lr": 0.05}}
    score = _Scores({**SCORES, describe(other): 0.85})
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: 40.0 if recipe == VGG else 180.0)
    trials, chosen = architecture(score, Clock(300, None, started=1000.0), [VGG, other, *NETWORKS], epsilon=0.0,
                                  tick=lambda: None, share=1.0, extend=0, optional=[VGG], named=[VGG, other])
    assert score.asked[0] == NAMES[1] and not any(phases.unscored(t) for t in trials)
    assert trials[1].name == describe(other) and trials[1].status.startswith("skipped: forecast 180 s")
    assert trials[1].status.endswith("not trained once without a score: a candidate was scored before it)")


def test_two_networks_are_scored_whatever_the_share_when_the_recipe_before_them_is_not(monkeypatch):
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda *_: 1e9)
    clock = Clock(300, None)
    clock.started -= 290  # the phase's share is spent: only the two a choice needs start
    trials, _ = architecture(score, clock, NETWORKS, epsilon=0.0, tick=lambda: None, share=0.5, extend=0,
                             optional=[VGG])
    assert score.asked == [NAMES[0], NAMES[2]] and trials[3].status == "skipped: budget"


def test_no_network_is_started_after_a_recipe_that_ended_past_the_searchs_deadline(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(phases.time, "perf_counter", lambda: now[0])

    class SlowRecipe(_Scores):
        def __call__(self, recipe, *, name, phase, **options):
            now[0] += 301.0 if recipe == VGG else 1.0  # the recipe ends 1 s past the search's deadline
            return super().__call__(recipe, name=name, phase=phase, **options)

    score = SlowRecipe(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda *_: 10.0)
    trials, chosen = architecture(score, Clock(300, None, started=1000.0), NETWORKS, epsilon=0.0, tick=lambda: None,
                                  share=1.0, extend=0, optional=[VGG])
    # a network started now would train one batch before the deadline stopped it: a score that chooses nothing
    assert score.asked == [NAMES[1]] and chosen is trials[0]
    assert [t.status for t in trials[1:]] == ["skipped: budget"] * 3


def test_no_forecast_is_taken_when_the_search_has_less_than_its_floor_left(monkeypatch):
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda *_: pytest.fail("no forecast asked"))
    trials, _ = architecture(score, Clock(phases.RECIPE_MIN_LEFT - 1, None), NETWORKS, epsilon=0.0,
                             tick=lambda: None, share=1.0, extend=0, optional=[VGG])
    assert NAMES[1] not in score.asked and trials[0].status.startswith("skipped")


def test_a_default_recipe_is_not_scored_under_a_trials_budget_nor_twice_when_named(monkeypatch):
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda *_: pytest.fail("no forecast asked"))
    for clock in (Clock(None, 10), Clock(300, 10)):
        score.asked.clear()
        architecture(score, clock, NETWORKS, epsilon=0.0, tick=lambda: None, share=1.0, extend=0, optional=[VGG])
        assert score.asked == [describe(r) for r in NETWORKS]  # a trials budget: never the 60-epoch recipe
    # --recipe vgg: scored first, as named and as far as its forecast allows (since session 25), and not again
    named = [copy.deepcopy(VGG), *NETWORKS]
    score = _Scores(dict(SCORES))
    monkeypatch.setattr(phases, "forecast", lambda *_: 10.0)
    architecture(score, Clock(300, None), named, epsilon=0.0, tick=lambda: None, share=1.0, extend=0,
                 optional=[VGG], named=named[:1])
    assert score.asked == [NAMES[1], *(describe(r) for r in NETWORKS)]


def test_the_forecast_scales_three_timed_epochs_to_the_schedule_the_rows_and_the_folds(monkeypatch):
    # the first epoch (warm-up) is not counted, the fastest of the others is: 0.13 s for 4 batches and a third of one
    data = load("digits", seed=0)
    folds = [(data.train, data.val)] * 3
    base = TrainConfig(data={"source": "digits"}, train={"device": "cpu"})
    score = phases.Scorer(base, data, folds, {"max_epochs": 100, "repeat": 2})
    asked = {}

    def timed(base, recipe, data, **options):
        asked.update(recipe=recipe, rows=len(options["train"]), probe=len(options["val"]))
        return None, None, {"time": [5.0, 0.15, 0.13]}

    monkeypatch.setattr(phases, "train_recipe", timed)
    seconds = phases.forecast(score, VGG)
    assert asked["recipe"]["train"]["max_epochs"] == 3 and asked["rows"] == 4 * 64 and asked["probe"] == 64
    steps_per_epoch = -(-len(data.train) // 64) + len(data.val) / 64 / 3
    assert seconds == pytest.approx(0.13 / (4 + 1 / 3) * 60 * steps_per_epoch * 3)
