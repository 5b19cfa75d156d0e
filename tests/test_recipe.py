"""fitguard.recipe: a partial TrainConfig (Recipe) put on a base spec with model_copy(update=...), and the spec
turned into penalties, augmentation, callbacks, a model and a trainer (build_run)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fitguard.config import PenaltySpec, RemediesSpec, parse_config
from fitguard.data import from_arrays
from fitguard.errors import FitguardError
from fitguard.recipe import (
    Recipe,
    Run,
    build_model,
    build_run,
    load_data,
    make_augment,
    make_callbacks,
    make_penalty,
    model_choice,
    transferred_architecture,
)
from fitguard.regularize import L1, L2, ElasticNet
from fitguard.train import Checkpoint, CosineAnnealing, EarlyStopping, MetricsLog, TensorBoard, WeightAveraging

SUMMARY = Path(__file__).with_name("fixtures") / "doctor_summary_v2.json"


def overlay(base, recipe, **train):
    """The oracle: the hand merge of dicts the doctor used before Recipe (its sections replaced -- model -- or
    merged -- train, remedies, early_stopping -- then the call's train options on top)."""
    spec = base.model_dump(mode="json")
    for section, value in recipe.items():
        if section == "model" or value is None or not isinstance(spec.get(section), dict):
            spec[section] = value
        else:
            spec[section] = {**spec[section], **value}
    spec["train"] = {**spec["train"], **train}
    return parse_config(spec, "doctor recipe")

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
    assert kept == type(kept).model_validate(recorded)  # fields added since the fixture was made take their defaults


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


# ------------------------------------------------------------------------------------- building a run from a spec
# Everything below is what the merge tests above leave out: how recipe turns a validated spec into penalties,
# augmentation, callbacks, a model and a trainer. Oracles: the spec's own numbers read back from what was built,
# exact error lines, and files written then loaded.

RNG = np.random.default_rng(0)
TABLE = from_arrays(RNG.normal(size=(40, 3)), np.arange(40) % 2, seed=0)
REGRESSION = from_arrays(RNG.normal(size=(40, 3)), RNG.normal(size=40), seed=0)
TINY = {"data": {"source": "unused"}, "model": {"name": "auto", "hidden": [4]},
        "train": {"max_epochs": 2, "batch_size": 8, "device": "cpu", "seed": 0}, "early_stopping": False,
        "tensorboard": False}


def _spec(**sections):
    return parse_config({**TINY, **sections})


@pytest.mark.parametrize(("spec", "kind", "config"), [
    ({"kind": "l2", "lam": 0.01, "layers": "linear1.*", "decoupled": True}, L2,
     {"lam": 0.01, "layers": "linear1.*", "decoupled": True}),
    ({"kind": "l1", "lam": 0.001, "proximal": True}, L1,
     {"lam": 0.001, "layers": None, "proximal": True, "decoupled": False}),
    ({"kind": "elastic_net", "lam": 0.1, "l1_ratio": 0.25}, ElasticNet,
     {"lam": 0.1, "l1_ratio": 0.25, "layers": None, "decoupled": False}),
])
def test_make_penalty_builds_the_kind_with_the_specs_numbers(spec, kind, config):
    penalty = make_penalty(PenaltySpec(**spec))
    assert type(penalty) is kind and penalty.get_config() == config


def test_make_penalty_refuses_a_proximal_l2():
    with pytest.raises(ValueError) as caught:
        make_penalty(PenaltySpec(kind="l2", lam=0.01, proximal=True))
    assert str(caught.value) == "`proximal` applies to kind 'l1' only, got kind 'l2'"


def test_make_augment_is_none_without_augmentation():
    assert make_augment(RemediesSpec(), TABLE) is None


def test_input_noise_alone_is_one_step_with_the_specs_sigma():
    step = make_augment(RemediesSpec(input_noise=0.5), TABLE)
    assert step.__self__.sigma == 0.5  # InputNoise(0.5).augment, not wrapped in a Compose


@pytest.mark.parametrize(("remedies", "data", "message"), [
    ({"augment": {"flip": True}}, TABLE,
     "`remedies.augment` applies to image data, but 'arrays' is table data"),
    ({"cutmix": 1.0}, TABLE,
     "`remedies.cutmix` pastes a box of one image into another, so it applies to image data, but 'arrays' is "
     "table data (mixup blends any rows)"),
    ({"mixup": 0.2}, REGRESSION, "mixup and cutmix apply to classification data only"),
])
def test_make_augment_refuses_what_the_data_cannot_take(remedies, data, message):
    with pytest.raises(ValueError) as caught:
        make_augment(RemediesSpec(**remedies), data)
    assert str(caught.value) == message


def test_make_augment_names_an_unknown_image_option_and_the_allowed_ones():
    images = from_arrays(RNG.uniform(size=(8, 1, 4, 4)).astype(np.float32), np.arange(8) % 2, kind="image",
                         val=0.25, test=0.25, seed=0)
    with pytest.raises(ValueError) as caught:
        make_augment(RemediesSpec(augment={"flip": True, "zoom": 2, "blur": 1}), images)
    assert str(caught.value) == ("`remedies.augment` has unknown option 'blur'; allowed: brightness, contrast, crop, "
                                 "erase, flip, noise, p, rotate, scale, shift, vflip")


def test_make_callbacks_in_memory_is_early_stopping_only():
    config = _spec(early_stopping={"monitor": "val_accuracy", "patience": 3})
    callbacks = make_callbacks(config, out=None, has_val=True)
    assert [type(c) for c in callbacks] == [EarlyStopping]
    assert callbacks[0].monitor == "val_accuracy" and callbacks[0].patience == 3


def test_without_validation_rows_early_stopping_watches_the_training_metric():
    config = _spec(early_stopping={"monitor": "val_loss"})
    assert make_callbacks(config, out=None, has_val=False)[0].monitor == "loss"


def test_a_run_folder_adds_the_log_and_a_checkpoint_that_follows_early_stopping(tmp_path):
    config = _spec(early_stopping={"monitor": "val_accuracy", "mode": "max", "restore_best": False},
                   tensorboard=True, checkpoint={"keep_last": 3},
                   remedies={"cosine": {}, "weight_averaging": {"kind": "ema"}})
    callbacks = make_callbacks(config, out=tmp_path, has_val=True)
    assert [type(c) for c in callbacks] == [WeightAveraging, CosineAnnealing, EarlyStopping, MetricsLog, TensorBoard,
                                            Checkpoint]
    log, board, checkpoint = callbacks[3:]
    assert log.path == str(tmp_path / "metrics.jsonl") and board.log_dir == str(tmp_path / "tensorboard")
    assert {k: checkpoint.get_config()[k] for k in ("dirpath", "monitor", "mode", "keep_last")} == {
        "dirpath": str(tmp_path / "checkpoints"), "monitor": "val_accuracy", "mode": "max", "keep_last": 3}


@pytest.mark.parametrize(("has_val", "monitor"), [(True, "val_loss"), (False, "loss")])
def test_without_early_stopping_the_checkpoint_keeps_the_lowest_loss(tmp_path, has_val, monitor):
    callbacks = make_callbacks(_spec(), out=tmp_path, has_val=has_val)
    assert [type(c) for c in callbacks] == [MetricsLog, Checkpoint]  # tensorboard: false
    assert (callbacks[1].monitor, callbacks[1].mode) == (monitor, "auto")


def test_model_choice_picks_by_kind_of_data_and_passes_the_options():
    assert model_choice(_spec(), TABLE) == ("mlp", {"hidden": [4]})
    assert model_choice(_spec(model={"name": "cnn1d", "widths": [2]}), TABLE) == ("cnn1d", {"widths": [2]})


def test_build_model_is_seeded():
    first, again, other = (build_model("mlp", {"hidden": [4]}, TABLE, seed) for seed in (3, 3, 4))
    assert all(torch.equal(first.state_dict()[k], v) for k, v in again.state_dict().items())
    assert not torch.equal(first.state_dict()["linear1.weight"], other.state_dict()["linear1.weight"])


@pytest.mark.parametrize(("data", "loss"), [(TABLE, "cross_entropy"), (REGRESSION, "mse")])
def test_build_run_picks_the_loss_by_task_and_keeps_the_spec(data, loss):
    config = _spec(train={**TINY["train"], "lr": 0.02})
    run = build_run(config, data=data)
    assert isinstance(run, Run) and run.config is config and run.data is data
    assert (run.model_name, run.model_options, run.architecture) == ("mlp", {"hidden": [4]}, None)
    assert run.trainer.loss == loss and run.trainer.model is run.model
    assert run.trainer.optimizer.param_groups[0]["lr"] == 0.02
    assert run.final_model() is run.model  # no snapshots: the trained model itself
    expected = build_model("mlp", {"hidden": [4]}, data, seed=0)
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in expected.state_dict().items())


def test_freezing_without_a_backbone_is_refused():
    with pytest.raises(ValueError) as caught:
        build_run(_spec(transfer={"freeze_all_but": 1}), data=TABLE)
    assert str(caught.value) == "`freeze_all_but` and `unfreeze_every` need a `backbone` (--backbone NAME|PATH)"


def test_snapshots_make_the_final_model_their_mean():
    run = build_run(_spec(train={**TINY["train"], "max_epochs": 4}, remedies={"snapshots": {"cycles": 2}}),
                    data=TABLE)
    run.trainer.fit(TABLE.train, TABLE.val)
    final = run.final_model()
    assert type(final).__name__ == "MeanEnsemble" and len(final.members) == 2


def test_load_data_reads_the_file_the_spec_names_and_takes_a_fraction(tmp_path):
    rows = RNG.normal(size=(80, 2))
    source = tmp_path / "rows.csv"
    source.write_text("a,b,label\n" + "".join(f"{a},{b},{'yes' if a > 0 else 'no'}\n" for a, b in rows))
    spec = {"source": str(source), "target": "label", "val": 0.25, "test": 0.25, "seed": 0}
    full = load_data(_spec(data=spec))
    half = load_data(_spec(data={**spec, "train_fraction": 0.5}))
    assert (len(full.train), len(full.val), len(full.test)) == (40, 20, 20)
    assert (len(half.train), len(half.val), len(half.test)) == (20, 20, 20)
    assert full.feature_names == ("a", "b") and sorted(full.class_names) == ["no", "yes"]
    assert torch.equal(half.val.y, full.val.y)  # the same validation rows


@pytest.mark.parametrize(("backbone", "name", "options", "image_size", "saved"), [
    ("resnet18", None, None, 64, {"kind": "named", "name": "resnet18", "image_size": 64}),
    ("weights.safetensors", "mlp", {"hidden": [4]}, None,
     {"kind": "weights", "model": {"name": "mlp", "options": {"hidden": [4]}}}),
])
def test_transferred_architecture_of_names_and_bare_weights(tmp_path, backbone, name, options, image_size, saved):
    path = backbone if "." not in backbone else str(tmp_path / backbone)  # a weights file that is not a saved model
    assert transferred_architecture(path, name, options, image_size).to_saved() == saved


def test_a_bare_weights_file_needs_the_network_it_is_loaded_into(tmp_path):
    # pydantic's ValidationError (a ValueError); build_run always passes the spec's network, so users never see it
    with pytest.raises(ValueError, match=r"kind 'weights' needs model"):
        transferred_architecture(str(tmp_path / "weights.pt"))
