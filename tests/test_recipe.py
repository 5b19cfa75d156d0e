"""fitguard.recipe.Recipe: a partial TrainConfig put on a base spec with model_copy(update=...)."""

import json
from pathlib import Path

import pytest

from fitguard.config import parse_config
from fitguard.doctor.trials import overlay
from fitguard.errors import FitguardError
from fitguard.recipe import Recipe

SUMMARY = Path(__file__).with_name("fixtures") / "doctor_summary_v2.json"

BASE = {"data": {"source": "digits"}, "model": {"name": "cnn", "widths": [8, 16], "dropout": 0.1},
        "train": {"lr": 0.01, "max_epochs": 40, "batch_size": 16},
        "early_stopping": {"monitor": "val_loss", "patience": 5},
        "remedies": {"mixup": 0.2, "penalties": [{"kind": "l1", "lam": 1e-5}]}, "transfer": {"body_lr_factor": 0.5}}

# the sections a doctor candidate sets, in each way the merge treats them
RECIPES = [
    ({}, {}),
    ({"model": {"name": "mlp", "hidden": [32]}}, {}),  # replaced: no cnn widths or dropout left over
    ({"train": {"lr": 0.001}}, {"max_epochs": 8, "repeat": 2}),  # the call's train options win over the recipe's
    ({"train": {"max_epochs": 3}}, {"max_epochs": 8}),
    ({"remedies": {"penalties": [{"kind": "l2", "lam": 1e-3}]}}, {}),  # penalties replaced, mixup kept
    ({"remedies": {"weight_noise": {"sigma": 0.01}, "mixup": None}}, {}),
    ({"early_stopping": None}, {"max_epochs": 5}),
    ({"early_stopping": {"patience": 2, "restore_best": False}}, {}),  # monitor kept
    ({"transfer": {"backbone": "runs/pretrained", "freeze_all_but": 1}}, {}),
]


@pytest.mark.parametrize(("recipe", "train"), RECIPES)
def test_a_recipe_applies_as_the_hand_merge_did(recipe, train):
    base = parse_config(BASE)
    assert Recipe.parse(recipe).apply(base, **train) == overlay(base, recipe, **train)


def test_every_recipe_a_doctor_run_tried_applies_as_the_hand_merge_did():
    summary = json.loads(SUMMARY.read_text())
    base = parse_config(summary["config"])
    remedies = summary["remedies"]
    trials = [*remedies["architecture"], *remedies["ablation"], *remedies["train_longer"], *remedies["study"]["trials"]]
    recipes = [trial["recipe"] for trial in trials] + [summary["best"]["recipe"]]
    assert len(recipes) >= 5 and any("remedies" in r for r in recipes) and any("train" in r for r in recipes)
    for recipe in recipes:
        assert Recipe.parse(recipe).apply(base, max_epochs=7) == overlay(base, recipe, max_epochs=7)
    # and the kept recipe, refit as the doctor refits it (no early stopping, the epochs validation chose), is the
    # config the run recorded for its kept model
    recorded = summary["best"]["config"]
    refit = Recipe.parse({**summary["best"]["recipe"], "early_stopping": None})
    kept = refit.apply(base, max_epochs=recorded["train"]["max_epochs"], repeat=recorded["train"]["repeat"])
    assert kept.model_dump(mode="json") == recorded


def test_early_stopping_false_turns_it_off_as_in_a_spec():
    # the hand merge raised TypeError here ('bool' object is not a mapping)
    assert Recipe.parse({"early_stopping": False}).apply(parse_config(BASE)).early_stopping is None


def test_the_base_is_not_changed():
    base = parse_config(BASE)
    before = base.model_dump()
    Recipe.parse({"train": {"lr": 0.5}, "remedies": {"mixup": None}, "early_stopping": None}).apply(base, seed=3)
    assert base.model_dump() == before


@pytest.mark.parametrize(("recipe", "train", "message"), [
    ({"train": {"lr": -1}}, {}, "doctor recipe: train.lr: must be greater than 0, got -1"),
    ({"remedy": {}}, {}, "doctor recipe: remedy: unknown key (check the spelling; see `fitguard train --help` for the "
                         "sections and keys)"),
    ({}, {"max_epochs": 0}, "doctor recipe: train.max_epochs: must be greater than or equal to 1, got 0"),
    # each part is valid, the whole is not
    ({"remedies": {"weight_averaging": {"kind": "ema"}}}, {},
     "doctor recipe: `remedies.weight_averaging` decides the final weights, and so would "
     "`early_stopping.restore_best`: set early_stopping.restore_best: false (early stopping may still end the run) "
     "or early_stopping: false"),
])
def test_a_bad_recipe_is_one_line_naming_the_field(recipe, train, message):
    with pytest.raises(FitguardError) as caught:
        Recipe.parse(recipe, "doctor recipe").apply(parse_config(BASE), "doctor recipe", **train)
    assert str(caught.value) == message
