"""A tie in the architecture phase between a fixed schedule and early stopping is settled on a second split of the
same labelled rows (``fitguard.doctor.phases.settle_tie``), never by their validation losses, which do not compare."""

import copy
import json
import math
import time

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.data import kfold, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import (
    ARCHITECTURES,
    DEADLINE_STOP,
    RECIPE_SHARE,
    RECIPES,
    Clock,
    Scorer,
    as_shipped,
    chosen_epochs,
    second_split,
    settle_tie,
)
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import Trial

RECIPE = {"model": {"name": "cnn", "widths": [32, 64, 128]}, "train": {"max_epochs": 60}}
CNN = {"model": {"name": "cnn", "widths": [32, 64], "pool_to": 4}}
MLP = {"model": {"name": "mlp", "hidden": [256]}}


def scored(name, recipe, score, loss, seconds=10.0, phase="architecture", status="done", epochs=10, best=None):
    details = {"val_loss": loss, **({"best_epoch": best} if best else {})}
    return Trial(name, phase, recipe, score, 0.0, 1000, epochs, seconds, status=status, details=details)


class Second:
    """A stand-in second split: a score per network name, no training; remembers what it was asked."""

    trainings = 1

    def __init__(self, scores, status="done"):
        self.scores, self.asked, self.status = scores, [], status

    def lazily(self):
        """What settle_tie is given: a function that gives the split's scorer (this one)."""
        return self

    def __call__(self, recipe, *, name, phase, **options):
        self.asked.append((name, phase, recipe, options))
        return scored(name, recipe, self.scores[name], 0.3, phase=phase, status=self.status,
                      epochs=options.get("max_epochs", 60))


class First:
    trainings = 1


def session19():
    # Fashion-MNIST 100/class, seed 2 (session 19): the recipe 0.870 with the higher loss, a CNN 0.875 (best epoch 23)
    return [scored("recipe", RECIPE, 0.870, 0.512, seconds=45.0, epochs=60),
            scored("cnn", CNN, 0.875, 0.410, epochs=38, best=23), scored("mlp", MLP, 0.825, 0.505)]


@pytest.mark.parametrize(("fresh", "kept"), [({"recipe": 0.885, "cnn": 0.850}, "recipe"),
                                             ({"recipe": 0.860, "cnn": 0.880}, "cnn"),
                                             ({"recipe": 0.880, "cnn": 0.880}, "recipe")])  # equal: the schedule
def test_a_tie_of_a_schedule_and_early_stopping_is_decided_on_a_second_split_trained_as_shipped(fresh, kept):
    done = session19()
    second = Second(fresh)
    clock = Clock(None, None)
    chosen = settle_tie(First(), second.lazily, clock, done, done[1], epsilon=0.005, rows=10_000)
    assert chosen.name == kept and chosen is next(t for t in done if t.name == kept)  # the first split's trial
    # the recipe on its own schedule; the CNN for the 23 epochs its first split chose, without early stopping
    assert second.asked == [("recipe", "tie", RECIPE, {}),
                            ("cnn", "tie", {**CNN, "early_stopping": None}, {"max_epochs": 23})]
    assert clock.used == 2
    for trial, epochs in zip(done[:2], (60, 23)):
        assert trial.details["tie"] == {"search_score": trial.val_score, "fresh_score": fresh[trial.name],
                                        "fresh_folds": [fresh[trial.name]], "epochs": epochs,
                                        "kept": trial.name == kept}
    assert done[0].val_score == 0.870 and done[1].val_score == 0.875  # the later phases compare with these
    assert "tie" not in done[2].details


def test_ties_of_one_kind_and_clear_winners_stay_with_the_tie_break():
    second = Second({"recipe": 0.9, "cnn": 0.9, "cnn 2": 0.9})
    done = [scored("cnn", CNN, 0.875, 0.41), scored("cnn 2", {"model": {**CNN["model"], "widths": [16]}}, 0.873, 0.3)]
    assert settle_tie(First(), second.lazily, Clock(None, None), done, done[1], epsilon=0.005, rows=10_000) is done[1]
    beaten = [scored("recipe", RECIPE, 0.860, 0.5), *done]  # the recipe is 0.015 below: no tie
    assert settle_tie(First(), second.lazily, Clock(None, None), beaten, done[1], epsilon=0.005, rows=10_000) is done[1]
    assert second.asked == []


def test_the_second_split_runs_only_when_its_forecast_fits_the_time_left():
    # the finalists took 45 + 10 s on the first split: 55 s must be at most RECIPE_SHARE of the time left
    for seconds, runs in ((55 / RECIPE_SHARE + 5, True), (55 / RECIPE_SHARE - 5, False)):
        done, second = session19(), Second({"recipe": 0.885, "cnn": 0.85})
        clock = Clock(seconds, None, started=time.perf_counter())
        chosen = settle_tie(First(), second.lazily, clock, done, done[1], epsilon=0.005, rows=10_000)
        assert (chosen.name, len(second.asked), clock.used) == (("recipe", 2, 2) if runs else ("cnn", 0, 0))
    # under a trials budget, the clock must have the two trainings: 1 of 2 spent leaves one
    done, second = session19(), Second({"recipe": 0.885, "cnn": 0.85})
    clock = Clock(None, 2, used=1)
    assert settle_tie(First(), second.lazily, clock, done, done[1], epsilon=0.005, rows=10_000) is done[1]
    assert second.asked == []


@pytest.mark.parametrize("status", [DEADLINE_STOP, "failed: out of memory"])
def test_a_second_split_the_deadline_cut_or_that_failed_decides_nothing(status):
    done = session19()
    second = Second({"recipe": 0.95, "cnn": 0.80}, status=status)
    if status == DEADLINE_STOP:  # the deadline's stop reason on a finished training
        second.status = "done"
        original = second.__call__

        def cut(recipe, *, name, phase, **options):
            trial = original(recipe, name=name, phase=phase, **options)
            trial.details["stop_reason"] = DEADLINE_STOP
            return trial

        second = type("Cut", (), {"trainings": 1, "__call__": staticmethod(cut), "lazily": lambda self: self})()
    assert settle_tie(First(), second.lazily, Clock(None, None), done, done[1], epsilon=0.005, rows=10_000) is done[1]
    assert all("tie" not in t.details for t in done)


def test_the_second_split_mirrors_the_first_on_the_same_labelled_rows():
    data = load("digits", val=0.2, test=0.2, seed=3)
    base = base_config(DoctorOptions(device="cpu"))
    first = Scorer(base=base, data=data)
    second = second_split(first, data, folds=3, seed=4)
    (train, val), = second.folds
    # the sizes the first had, up to stratification's rounding (a row a class at most)
    assert len(train) + len(val) == len(data.train) + len(data.val) and second.trainings == 1
    assert abs(len(val) - len(data.val)) <= len(data.class_names)
    assert second.fold_seed == 4 and not second.grouped
    # the same labelled rows, split otherwise: kfold's first fold with k = labelled / validation rows
    labelled = len(data.train) + len(data.val)
    again = next(iter(kfold(data, k=round(labelled / len(data.val)), seed=4)))
    assert torch.equal(again[1].y, val.y) and torch.equal(again[1].X, val.X) and not torch.equal(val.y, data.val.y)
    assert sorted(torch.cat([train.y, val.y]).tolist()) == sorted(torch.cat([data.train.y, data.val.y]).tolist())
    crossed = Scorer(base=base, data=data, folds=list(kfold(data, k=3, seed=3)))
    fresh = second_split(crossed, data, folds=3, seed=4)
    assert len(fresh.folds) == 3 and fresh.fold_seed == 4
    assert [torch.equal(a.y, b.y) for (_, a), (_, b) in zip(fresh.folds, kfold(data, k=3, seed=4))] == [True] * 3


def test_on_too_few_validation_rows_the_tie_goes_to_the_fixed_schedule_without_a_second_split():
    done, second = session19(), Second({"recipe": 0.8, "cnn": 0.95})
    clock = Clock(None, None)
    assert settle_tie(First(), second.lazily, clock, done, done[1], epsilon=0.005, rows=200) is done[0]
    assert second.asked == [] and clock.used == 0
    margin = 2 * math.sqrt(2 * 0.87 * 0.13 / 200)  # two standard errors of a difference: 6.7 points
    assert [t.details["tie"] for t in done[:2]] == [
        {"search_score": s, "fresh_score": None, "fresh_folds": [], "epochs": None, "kept": k,
         "noise": pytest.approx(margin)} for s, k in ((0.870, True), (0.875, False))]
    # a wide epsilon ties scores far apart: a lead beyond the noise keeps the network
    far = [scored("recipe", RECIPE, 0.70, 0.9), scored("cnn", CNN, 0.875, 0.41, best=23)]
    assert settle_tie(First(), second.lazily, clock, far, far[1], epsilon=0.5, rows=200) is far[1]
    assert far[1].details["tie"]["kept"] and far[1].details["tie"]["noise"] == pytest.approx(
        2 * math.sqrt(2 * 0.7 * 0.3 / 200))
    assert second.asked == []


def test_on_too_few_rows_a_lead_beyond_epsilon_but_within_the_noise_ties_too_unless_the_schedule_was_cut():
    # the CNN leads by 3 points, beyond epsilon (0.5 point), within the noise of 200 rows (6.7 points): the recipe
    done, second = session19(), Second({})
    done[1] = scored("cnn", CNN, 0.90, 0.41, best=23)
    assert settle_tie(First(), second.lazily, Clock(None, None), done, done[1], epsilon=0.005, rows=200) is done[0]
    assert done[0].details["tie"]["kept"] and not done[1].details["tie"]["kept"] and second.asked == []
    # 10 points is beyond the noise: the CNN, with no tie to record
    ahead = [scored("recipe", RECIPE, 0.80, 0.6), scored("cnn", CNN, 0.90, 0.41, best=23)]
    assert settle_tie(First(), second.lazily, Clock(None, None), ahead, ahead[1], epsilon=0.005, rows=200) is ahead[1]
    assert not any("tie" in t.details for t in ahead)
    # a recipe the deadline cut short ties nothing, however close
    cut = [scored("recipe", RECIPE, 0.90, 0.6), scored("cnn", CNN, 0.905, 0.41, best=23)]
    cut[0].details["stop_reason"] = f"{DEADLINE_STOP} after epoch 30"
    assert settle_tie(First(), second.lazily, Clock(None, None), cut, cut[1], epsilon=0.005, rows=200) is cut[1]
    # on rows that resolve a point the window stays epsilon: a 3-point lead is the network's, no second split
    resolved = [scored("recipe", RECIPE, 0.87, 0.5), scored("cnn", CNN, 0.90, 0.41, best=23)]
    assert settle_tie(First(), second.lazily, Clock(None, None), resolved, resolved[1], epsilon=0.005,
                      rows=100_000) is resolved[1]
    assert second.asked == []


def _small_recipe(epochs=3):
    small = {**copy.deepcopy(RECIPES["vgg"]), "model": {"name": "cnn", "widths": [8, 16], "convs": 1}}
    small["train"].update(max_epochs=epochs, lr=0.02)
    return small


def test_the_second_split_trains_each_finalist_as_shipped():
    # real trainings: digits, a small recipe on its 3-epoch schedule against an early-stopped MLP, every network
    # tied (epsilon 0.99) and as many rows assumed as resolve a point, so that the second split runs
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)
    base = base_config(DoctorOptions(device="cpu", patience=2))
    first = Scorer(base=base, data=data, train={"max_epochs": 8, "repeat": 1})
    recipe, mlp = _small_recipe(), {"model": {"name": "mlp", "hidden": [16]}}
    done = [first(recipe, name="recipe", phase="architecture"), first(mlp, name="mlp", phase="architecture")]
    second = second_split(first, data, folds=3, seed=1)
    kept = settle_tie(first, lambda: second, Clock(None, None), done, done[1], epsilon=0.99, rows=10**6)
    ties = [t.details["tie"] for t in done]
    assert ties[0]["epochs"] == 3 and ties[1]["epochs"] == chosen_epochs(done[1])  # no early stopping on it
    assert all(0 <= t["fresh_score"] <= 1 and t["fresh_folds"] == [t["fresh_score"]] for t in ties)
    assert kept is (done[0] if ties[0]["fresh_score"] >= ties[1]["fresh_score"] else done[1])
    # what the second split trained the MLP as: its first split's epochs, no early stopping
    recipe_again, options = as_shipped(done[1])
    assert recipe_again == {**mlp, "early_stopping": None} and options == {"max_epochs": chosen_epochs(done[1])}


def recipe_beside(tmp_path, monkeypatch, networks, *options):
    """A doctor run on 30% of digits, no time budget: :func:`_small_recipe` (a ``--recipe`` file) scored beside
    ``networks`` (the image architectures) on a validation split of a few hundred rows, with more ``options``; the
    run folder."""
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump(_small_recipe()))
    monkeypatch.setitem(ARCHITECTURES, "image", networks)
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--recipe", str(spec), "--budget", "none", "--trials", "20",
                 "--epochs", "4", "--search-epochs", "4", "--cv-max-rows", "0", "--train-fraction", "0.3",
                 "--min-steps", "0", "--quiet", "--no-references", *options, "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    return out


def test_a_doctor_run_settles_a_tie_its_validation_rows_cannot_resolve_by_the_noise(tmp_path, monkeypatch):
    # epsilon 0.99: every network ties; the recipe (a fixed schedule) and the MLPs (early stopping) tie on a
    # validation split of a few hundred rows, which cannot resolve a point: the recipe is kept unless the MLP leads
    # it by more than two standard errors of a difference, and the report says which
    out = recipe_beside(tmp_path, monkeypatch, [{"name": "mlp", "hidden": [16]}, {"name": "mlp", "hidden": [32]}],
                        "--ensemble", "1", "--epsilon", "0.99")
    summary = json.loads((out / "summary.json").read_text())
    tie = summary["remedies"]["tie"]
    assert tie["split"] is None and tie["fold_seed"] == summary["config"]["data"]["seed"] + 1
    architecture = {t["name"]: t for t in summary["remedies"]["architecture"]}
    recipe, network = tie["finalists"]
    assert recipe["name"] == "cnn 8x16; SGD, one cycle over 3 epochs, label smoothing 0.1, augmented"
    assert network["name"].startswith("mlp")
    assert recipe["search_score"] == architecture[recipe["name"]]["val_score"]
    assert (recipe["fresh_score"], network["epochs"]) == (None, None)
    noise = recipe["noise"]
    assert noise == pytest.approx(2 * math.sqrt(2 * recipe["search_score"] * (1 - recipe["search_score"])
                                                / summary["data"]["n_val"]))
    network_kept = network["search_score"] - recipe["search_score"] > noise
    assert (recipe["kept"], network["kept"]) == (not network_kept, network_kept)
    kept = network if network_kept else recipe
    assert tie["kept"] == kept["name"] == summary["remedies"]["chosen_architecture"]
    assert architecture[kept["name"]]["details"]["chosen"]
    report = (out / "report.html").read_text()
    ending = "the network, further ahead than that, was kept" if network_kept else "the fixed schedule was kept"
    assert f"a lead under {100 * noise:.1f} points is noise on these validation rows, so {ending}." in report
    assert f"a lead under {100 * noise:.1f} points of accuracy is noise, so {ending}." in report
