"""The regularization cocktail's remedies in the doctor's search (Kadra et al., NeurIPS 2021): skip connections, a
cosine schedule, snapshot ensembles, SWA, cutmix and FGSM are ablation rows; the fixed schedules train their own
epoch count without early stopping, a snapshot ensemble is scored and refit as the mean of its snapshots -- each
checked against the same networks built and averaged by hand."""

import copy
import math

import pytest
import torch

from fitguard.data import kfold, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import Clock, Scorer, _group, ablation, combine, remedies_for, schedules
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.plan import PROPOSALS, REMEDIES, plan_for
from fitguard.doctor.suggestions import outcomes
from fitguard.doctor.trials import MEMBER_SEED_STEP, Trial, refit_members, train_recipe
from fitguard.models.ensemble import MeanEnsemble
from fitguard.search import ablate
from fitguard.train.callbacks import SnapshotEnsemble

COCKTAIL = ["skip connections", "cosine schedule", "snapshot ensemble", "SWA", "cutmix", "FGSM"]


@pytest.fixture(scope="module")
def digits():
    return load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)


@pytest.fixture(scope="module")
def base():
    return base_config(DoctorOptions(device="cpu", patience=3))


def keys(found):
    return [name.split(" (")[0].split(" α")[0].split(" ε")[0] for name, _ in found]


def test_the_cocktail_follows_the_usual_remedies_and_applies_where_it_can(digits):
    cnn = {"model": {"name": "cnn", "widths": [4, 8]}}
    found = remedies_for(digits, cnn, 1e-3, epochs=10)
    assert keys(found)[-6:] == COCKTAIL and list(REMEDIES[-6:]) == COCKTAIL
    assert dict(found)["skip connections"]["model"] == {"name": "cnn", "widths": [4, 8], "residual": True}
    # a table: no cutmix (it pastes boxes of images); no epochs known: no fixed schedule; a residual net: no skip
    wine = load("wine", val=0.2, test=0.2, seed=0)
    table = remedies_for(wine, {"model": {"name": "mlp", "hidden": [8], "residual": True}}, None, epochs=None)
    assert not {"cutmix", "skip connections", "cosine schedule", "snapshot ensemble", "SWA"} & set(keys(table))
    assert "FGSM" in keys(table)
    # a user's network takes no residual option
    assert "skip connections" not in keys(remedies_for(digits, {"model": {"name": "my.nets:net"}}, None, epochs=4))
    assert keys(remedies_for(digits, {"model": {"name": "mlp", "hidden": [8]}}, None,
                             allowed=("cosine schedule", "skip connections"), epochs=4)) == [
        "cosine schedule", "skip connections"]  # in the plan's order


def test_a_linear_head_on_fourier_features_gets_no_remedy_that_acts_on_hidden_layers():
    # dropout 0.25, batch norm and skip connections act on hidden layers: on a network without one each would train
    # the same network again (checked: the built models are the same modules)
    from fitguard.recipe import build_model

    wine = load("wine", val=0.2, test=0.2, seed=0)
    linear = {"model": {"name": "mlp", "hidden": [], "fourier": 64}}
    found = dict(remedies_for(wine, linear, 1e-3, epochs=5))
    assert not {"dropout 0.25", "batch norm", "skip connections"} & set(found)
    assert {"dropout 0.5 (inputs 0.2)", "L2 λ=0.001", "mixup α=0.2", "cosine schedule (10 epochs)"} <= set(found)

    def modules(model: dict) -> list[str]:
        options = {k: v for k, v in model.items() if k != "name"}
        return [type(m).__name__ for m in build_model("mlp", options, wine, seed=0).modules()]

    plain = modules(linear["model"])
    for change in ({"dropout": 0.25}, {"batchnorm": True}, {"residual": True}):
        assert modules({**linear["model"], **change}) == plain, change
    with_hidden = dict(remedies_for(wine, {"model": {"name": "mlp", "hidden": [8], "fourier": 64}}, 1e-3, epochs=5))
    assert {"dropout 0.25", "batch norm", "skip connections"} <= set(with_hidden)


def test_fixed_schedules_are_sized_from_the_early_stopped_epochs():
    found = {key: change for key, _, change in schedules(7)}
    assert found["cosine schedule"] == {"early_stopping": None, "train": {"max_epochs": 14}, "remedies": {"cosine": {}}}
    assert found["snapshot ensemble"]["train"]["max_epochs"] == 3 * 7
    assert found["snapshot ensemble"]["remedies"] == {"snapshots": {"cycles": 3}}
    assert found["SWA"]["train"]["max_epochs"] == math.ceil(1.5 * 7) == 11
    assert found["SWA"]["remedies"]["weight_averaging"] == {"kind": "swa", "start": 0.67}
    assert [c["train"]["max_epochs"] for _, _, c in schedules(0)] == [2, 3, 2]  # never an empty cycle


def ablated(named, scores):
    """The ablation's helpful combination over ``named`` remedy changes, grouped as the doctor groups them
    (``phases._group``), each batch of remedies scored from ``scores`` (0.9 when absent) against a reference at 0.7:
    the batches it asked for, and its rows."""
    asked = []

    def evaluate(batch):
        asked.extend(batch)
        return [Trial(" + ".join(names), "ablation", {}, scores.get(names, 0.9), 0.0, 10, 5, 1.0,
                      details={"val_loss": 0.1}) for names in batch]

    reference = Trial("early stopping only", "ablation", {}, 0.7, 0.0, 10, 5, 1.0, details={"val_loss": 0.3})
    return asked, ablate(evaluate, list(named), reference, combine="helpful", group=lambda name: _group(named[name]))


def test_a_fixed_schedule_combines_with_other_remedies_but_not_with_another_schedule():
    network = {"model": {"name": "mlp", "hidden": [8]}}
    named = {key: change for key, _, change in schedules(6)}
    recipe = combine(network, [{"remedies": {"mixup": 0.2}}, named["SWA"]])
    assert recipe["early_stopping"] is None and recipe["train"] == {"max_epochs": 9}
    assert recipe["remedies"] == {"mixup": 0.2, "weight_averaging": {"kind": "swa", "start": 0.67}}
    assert "early_stopping" not in combine(network, [{"remedies": {"mixup": 0.2}}])

    named["mixup"] = {"remedies": {"mixup": 0.2}}
    asked, rows = ablated(named, {("cosine schedule",): 0.80, ("snapshot ensemble",): 0.85, ("SWA",): 0.82,
                                  ("mixup",): 0.81})
    # every schedule helped alone; the combination takes the best-ranked of them and the mixup
    assert asked[-1] == ("snapshot ensemble", "mixup") and rows[-1].details["stage"] == "combined"
    assert [r.details["helped"] for r in rows[1:]] == [True] * 5


def test_the_scorer_trains_a_fixed_schedule_for_its_own_epochs(digits, base):
    recipe = combine({"model": {"name": "mlp", "hidden": [16]}}, [{k: c for k, _, c in schedules(3)}["SWA"]])
    score = Scorer(base, digits, list(kfold(digits, k=2, seed=0)), {"max_epochs": 12})
    trial = score(recipe, name="SWA", phase="ablation")
    # 5 epochs each (ceil(1.5 * 3)), not the search's 12, and never stopped early
    assert trial.details["best_epochs"] == [5, 5] and trial.epochs == 5 and trial.details["best_epoch"] == 5
    assert score({"model": {"name": "mlp", "hidden": [16]}, "early_stopping": None}, name="plain",
                 phase="ablation").epochs == 12


def test_a_snapshot_ensemble_is_scored_as_the_mean_of_its_snapshots(digits, base):
    recipe = combine({"model": {"name": "mlp", "hidden": [16]}},
                     [{k: c for k, _, c in schedules(1)}["snapshot ensemble"]])
    trial, run, history = train_recipe(base, recipe, digits, name="snapshots", phase="ablation")
    snapshots = next(c for c in run.trainer.callbacks if isinstance(c, SnapshotEnsemble))
    assert len(history) == 3 and snapshots.epochs == [1, 2, 3]
    networks = []
    for state in snapshots.snapshots:  # each snapshot rebuilt by hand into the trained network
        network = copy.deepcopy(run.model)
        network.load_state_dict(state)
        networks.append(network.eval())
    with torch.no_grad():
        mean = torch.stack([torch.softmax(n(digits.val.X), 1) for n in networks]).mean(0)
    loss = torch.nn.functional.nll_loss(mean.log(), digits.val.y).item()
    accuracy = (mean.argmax(1) == digits.val.y).float().mean().item()
    assert trial.details["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert trial.val_score == pytest.approx(accuracy, abs=1e-6)  # float32 mean of 0/1
    with torch.no_grad():  # the last snapshot alone scores otherwise: the ensemble is what was scored
        last = torch.nn.functional.cross_entropy(networks[-1](digits.val.X), digits.val.y).item()
    assert last != pytest.approx(loss, rel=1e-5)


def test_refit_members_of_a_snapshot_ensemble_average_every_snapshot_once(digits, base):
    recipe = combine({"model": {"name": "mlp", "hidden": [16]}},
                     [{k: c for k, _, c in schedules(2)}["snapshot ensemble"]])
    run, _history, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=2)
    assert seeds == [5, 5 + MEMBER_SEED_STEP] and isinstance(run.model, MeanEnsemble)
    assert len(run.model.members) == 6 and not any(isinstance(m, MeanEnsemble) for m in run.model.members)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m.eval()(digits.test.X), 1) for m in run.model.members]).mean(0)
    assert torch.allclose(torch.softmax(run.trainer.predict(digits.test.X), 1), mean, atol=1e-5)
    single, _, _ = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1)
    assert len(single.model.members) == 3  # one seed: its three snapshots


def test_the_ablation_tries_the_cocktail_and_the_plan_proposes_it(digits, base):
    score = Scorer(base, digits, None, {"max_epochs": 6})
    network = {"model": {"name": "mlp", "hidden": [16]}}
    reference = score(network, name="mlp 16", phase="architecture")
    allowed = ("skip connections", "cosine schedule", "snapshot ensemble", "SWA")
    rows = ablation(score, Clock(seconds=None, trials=None), reference, network, None, tick=lambda: None,
                    share=1.0, allowed=allowed)
    tried = {t.name.split(" (")[0]: t for t in rows[1:]}
    assert set(allowed) <= set(tried)
    epochs = reference.details["best_epoch"] or reference.epochs
    assert tried["cosine schedule"].epochs == 2 * epochs and tried["SWA"].epochs == math.ceil(1.5 * epochs)
    assert tried["snapshot ensemble"].epochs == 3 * epochs
    assert tried["skip connections"].recipe["model"]["residual"] is True
    # what the plan proposes for an overfit model is measured by those rows
    search = {"ablation": rows}
    proposals = plan_for("overfit").proposals(1)
    assert [p["remedy"] for p in proposals] == [r for r, _ in PROPOSALS["overfit"]] == ["weight averaging"]
    measured = outcomes({"recommendations": []}, search, digits, reference, proposals)[0]
    best = max((tried["SWA"], tried["snapshot ensemble"]), key=lambda t: (t.val_score, -t.details["val_loss"]))
    assert measured["tried"] and measured["trial"] == best.name and measured["reference"] == rows[0].name


def test_a_kept_snapshot_ensemble_saves_and_loads_as_the_mean_of_its_snapshots(digits, base, tmp_path):
    import fitguard
    from fitguard.runs import save_model

    recipe = combine({"model": {"name": "mlp", "hidden": [16]}},
                     [{k: c for k, _, c in schedules(2)}["snapshot ensemble"]])
    run, _, _ = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1)
    save_model(tmp_path, run.model, run.model_name, run.model_options, digits, stem="best")
    loaded = fitguard.load(tmp_path)
    assert isinstance(loaded.model, MeanEnsemble) and len(loaded.model.members) == 3
    with torch.no_grad():
        assert torch.allclose(loaded.model.eval()(digits.test.X), run.trainer.predict(digits.test.X), atol=1e-6)


def test_train_recipe_keeps_a_fixed_schedules_own_epochs(digits, base):
    recipe = combine({"model": {"name": "mlp", "hidden": [8]}}, [{k: c for k, _, c in schedules(2)}["cosine schedule"]])
    trial, _, history = train_recipe(base, recipe, digits, name="cosine", phase="ablation", max_epochs=9)
    assert len(history) == trial.epochs == 4


def test_the_study_around_a_fixed_schedule_keeps_its_epochs(digits, base, tmp_path):
    from fitguard.doctor.phases import study

    recipe = combine({"model": {"name": "mlp", "hidden": [16]}}, [{k: c for k, _, c in schedules(3)}["SWA"]])
    score = Scorer(base, digits, None, {"max_epochs": 12})
    leader = score(recipe, name="SWA", phase="ablation")
    trials = study(score, Clock(seconds=None, trials=3), leader, tmp_path / "study.db", seed=0, tick=lambda: None)
    assert len(trials) == 3  # the clock counts the study's trainings only
    for trial in trials:
        assert trial.epochs == 5 and trial.recipe["train"] == {"max_epochs": 5, "lr": trial.details["params"]["lr"]}
        assert trial.recipe["early_stopping"] is None and "weight_averaging" in trial.recipe["remedies"]
