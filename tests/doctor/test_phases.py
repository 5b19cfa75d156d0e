"""The search phases' building blocks: the training schedule, the ranking, the budget and the cross-validating
scorer, checked against trainings run by hand."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.data import kfold, load
from fitguard.doctor import DoctorOptions, read_summary
from fitguard.doctor.phases import (
    DEADLINE_STOP,
    Clock,
    Scorer,
    _group,
    architecture,
    confirm,
    describe,
    lambda_cv,
    pooled,
    rank,
    schedule,
    simplest_within_one_se,
    tie_break,
    val_loss,
    within_epsilon,
)
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import Trial, train_recipe
from fitguard.search import Evaluator, ablate


def trial(score: float, loss: float | None) -> Trial:
    return Trial("t", "ablation", {}, score, 0.0, 10, 5, 1.0, details={} if loss is None else {"val_loss": loss})


@pytest.mark.parametrize(
    ("rows", "min_steps", "expected"),
    [
        (60, 1500, 8),  # 2 steps an epoch: 200 steps in 100 epochs -> 8 passes an epoch
        (5000, 1500, 1),  # 157 steps an epoch: already enough
        (10, 10**6, 20),  # capped
        (60, 0, 1),  # 0 turns it off
    ],
)
def test_schedule_repeats_the_rows_until_the_epochs_take_min_steps(rows, min_steps, expected):
    assert schedule(rows, 32, 100, min_steps) == expected


def test_rank_breaks_ties_on_the_lower_validation_loss():
    assert rank(trial(0.9, 0.30)) > rank(trial(0.9, 0.35))
    assert rank(trial(0.91, 0.50)) > rank(trial(0.9, 0.10))  # the score comes first
    assert rank(trial(0.9, 0.35)) > rank(trial(0.9, None)) == rank(trial(0.9, math.nan))


def test_only_the_best_of_alternative_remedies_is_combined():
    changes = [("augmentation", {"remedies": {"augment": {"rotate": 10.0}}}),
               ("augmentation with flips", {"remedies": {"augment": {"rotate": 10.0, "flip": True}}}),
               ("dropout 0.25", {"model": {"name": "cnn", "dropout": 0.25}}),
               ("L2", {"remedies": {"penalties": []}})]
    scores = {"augmentation": trial(0.95, 0.2), "augmentation with flips": trial(0.96, 0.3),
              "dropout 0.25": trial(0.93, 0.2), "L2": trial(0.93, 0.1)}

    named = dict(changes)

    def combinable():
        reference = trial(0.5, 1.0)
        rows = ablate(lambda batch: [scores[names[0]] if len(names) == 1 else trial(0.97, 0.1) for names in batch],
                      list(named), reference, combine="helpful", group=lambda name: _group(named[name]))
        return rows[-1].details["remedies"]

    assert combinable() == ["augmentation with flips", "dropout 0.25", "L2"]
    scores["augmentation"] = trial(0.96, 0.25)  # a tie on the score goes to the lower loss
    assert combinable() == ["augmentation", "dropout 0.25", "L2"]


def test_candidate_names_say_the_pooling_grid():
    assert describe({"model": {"name": "cnn", "widths": [32, 64], "pool_to": 4}}) == "cnn 32x64, pooled to 4"
    assert describe({"model": {"name": "cnn", "widths": [32, 64], "pool_to": 1}}) == "cnn 32x64"
    assert describe({"model": {"name": "cnn", "widths": [32, 64, 128], "convs": 2, "pool_to": 4}}) == (
        "cnn 32x64x128, 2 convs a block, pooled to 4")
    fourier = {"name": "mlp", "hidden": [256], "fourier": 512}
    assert describe({"model": fourier}) == "mlp 256 on 512 Fourier features"
    assert describe({"model": {**fourier, "fourier_gamma": 0.0625}}) == "mlp 256 on 512 Fourier features (γ=0.0625)"


def test_of_the_networks_within_epsilon_the_lowest_validation_loss_is_kept():
    nets = [trial(0.900, 0.30), trial(0.9296, 0.25), trial(0.931, 0.26), trial(0.9296, 0.25), trial(0.93, None)]
    for t, parameters in zip(nets, (1_000, 5_000, 20_000, 4_000, 100)):
        t.parameters = parameters
    pick = lambda epsilon: within_epsilon(nets, epsilon, score=lambda t: t.val_score,  # noqa: E731
                                          prefer=lambda t: (val_loss(t), t.parameters))
    # 0.9296 is within 0.005 of 0.931 and has the lower loss; of the two at 0.25, the one with fewer parameters;
    # a trial without a validation loss ranks last
    assert pick(0.005) is nets[3]
    assert pick(0.0) is nets[2]                 # nothing but the best is within 0
    assert pick(0.05) is nets[3]                # everything is: still the lowest loss, not the smallest
    assert val_loss(nets[4]) == math.inf
    with pytest.raises(ValueError, match=r"^`items` is empty: the rule needs at least one scored candidate$"):
        within_epsilon([], 0.005, score=float, prefer=float)


def test_scored_by_the_loss_itself_the_smallest_network_within_epsilon_is_kept():
    # regression: the score is minus the validation loss, so the loss breaks no tie; the fewer parameters do
    nets = [Trial(f"mlp {p}", "architecture", {}, -loss, 0.0, p, 10, 1.0, details={"val_loss": loss},
                  metric="val_loss", mode="min") for p, loss in ((5_000, 0.200), (1_000, 0.203), (100, 0.30))]
    kept = within_epsilon(nets, 0.005, score=lambda t: t.val_score, prefer=tie_break)
    assert kept is nets[1]
    # scored by accuracy, the same networks within epsilon: the lower loss is kept
    accuracy = [replace(t, val_score=0.9, metric="val_accuracy", mode="max") for t in nets[:2]]
    assert within_epsilon(accuracy, 0.005, score=lambda t: t.val_score, prefer=tie_break) is accuracy[0]


def test_the_simplest_recipe_within_one_standard_error_is_kept():
    def scored(name, score, remedies, folds, loss=0.2):
        details = {"folds": folds, "val_loss": loss, **({"remedies": remedies} if remedies is not None else {})}
        return Trial(name, "ablation" if remedies is not None else "study", {}, score, 0.0, 1, 1, 1.0, details=details)

    folds = [0.90, 0.94, 0.98]  # the best's standard error: 0.04 / sqrt(3) = 0.0231
    plain = scored("early stopping only", 0.93, [], [0.9, 0.93, 0.96])
    single = scored("augmentation", 0.925, ["augmentation"], [0.9, 0.92, 0.955])
    study = scored("study #3", 0.94, None, folds)
    assert simplest_within_one_se([plain, single, study]).name == "early stopping only"  # 0.93 >= 0.9169
    plain.val_score = 0.91  # now out of reach: the single remedy is the simplest left
    assert simplest_within_one_se([plain, single, study]).name == "augmentation"
    single.val_score = 0.91
    assert simplest_within_one_se([plain, single, study]).name == "study #3"
    # holdout scores carry no spread: the best-ranked trial, as before
    holdout = [trial(0.9, 0.2), trial(0.95, 0.3)]
    assert simplest_within_one_se(holdout) is holdout[1]


class _Curve(Scorer):
    """A scorer whose cross-validated score is a known function of λ: no training."""

    def __init__(self, curve):
        super().__init__(base=None, data=None, folds=[None, None, None])
        self.curve, self.asked = curve, []

    def __call__(self, recipe, *, name, phase, callbacks=(), **train):
        lam = recipe["remedies"]["penalties"][0]["lam"]
        self.asked.append(lam)
        return Trial(name, phase, recipe, self.curve(lam), 0.0, 1, 1, 0.0, details={"folds": [self.curve(lam)] * 3})


@pytest.mark.parametrize(
    ("curve", "asked", "best"),
    [
        (lambda lam: -abs(math.log10(lam) + 3), [1e-5, 1e-4, 1e-3, 1e-2], 1e-3),  # optimum inside: no extension
        (lambda lam: math.log10(lam), [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], 1.0),  # rising: two steps up
        # optimum just below the grid: found, then confirmed by one more step that scores lower
        (lambda lam: -abs(math.log10(lam) + 6), [1e-5, 1e-4, 1e-3, 1e-2, 1e-6, 1e-7], 1e-6),
    ],
)
def test_lambda_grid_extends_past_an_edge_optimum(curve, asked, best):
    scorer = _Curve(curve)
    result = lambda_cv(scorer, Clock(None, None), {"model": {"name": "mlp"}}, folds=3, tick=lambda: None, share=1.0)
    assert scorer.asked == pytest.approx(asked) and result["best_lam"] == pytest.approx(best)
    assert [r["lam"] for r in result["rows"]] == sorted(scorer.asked)


def test_clock_counts_trainings_against_each_share():
    clock = Clock(seconds=None, trials=10)
    assert clock.spend(0.5, 3) and not clock.spend(0.5, 3)  # 3 of 5 used; 6 > 5
    assert clock.spend(0.5, 3, always=True) and clock.used == 6
    assert clock.spend(1.0, 3) and clock.used == 9 and not clock.spend(1.0, 3)


def test_cross_validated_score_is_the_mean_of_the_folds_trained_by_hand():
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    base = base_config(DoctorOptions(device="cpu", patience=3))
    folds = list(kfold(data, k=3, seed=0))
    recipe = {"model": {"name": "mlp", "hidden": [16]}}
    scored = Scorer(base, data, folds, {"max_epochs": 6})(recipe, name="mlp 16", phase="architecture")
    by_hand = [train_recipe(base, recipe, data, name="f", phase="architecture", train=t, val=v, max_epochs=6)[0]
               for t, v in folds]
    assert scored.details["folds"] == [t.val_score for t in by_hand]
    assert scored.val_score == pytest.approx(np.mean([t.val_score for t in by_hand]), abs=1e-12)
    assert scored.details["val_loss"] == pytest.approx(np.mean([t.details["val_loss"] for t in by_hand]), abs=1e-12)
    assert scored.details["best_epoch"] == int(np.median([t.details["best_epoch"] or t.epochs for t in by_hand]))
    holdout = Scorer(base, data, None, {"max_epochs": 6})
    assert (holdout.trainings, Scorer(base, data, folds).trainings) == (1, 3)
    assert "folds" not in holdout(recipe, name="mlp 16", phase="architecture").details


def test_small_data_is_cross_validated_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "doctor", "--model", "mlp", "--train-fraction", "0.1", "--budget", "60s", "--trials", "8", "--epochs", "4",
        "--search-epochs", "3", "--folds", "2", "--rounds", "0", "--min-steps", "0", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = read_summary(out)
    selection = summary["remedies"]["selection"]
    assert selection["method"] == "cross-validation" and selection["folds"] == 2
    assert selection["labelled_rows"] == summary["data"]["n_train"] + summary["data"]["n_val"] <= 600
    scored = [t for t in summary["remedies"]["architecture"] if t["status"] == "done"]
    assert scored and all(len(t["details"]["folds"]) == 2 for t in scored)
    assert all(t["val_score"] == pytest.approx(np.mean(t["details"]["folds"])) for t in scored)
    assert summary["remedies"]["trainings"] % 2 == 0
    assert "2-fold cross-validation over the" in (out / "report.html").read_text()


def test_refit_members_is_the_mean_of_refits_with_their_own_seeds():
    import torch

    from fitguard.doctor.trials import MEMBER_SEED_STEP, refit_members, refit_recipe
    from fitguard.models.ensemble import MeanEnsemble

    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    base = base_config(DoctorOptions(device="cpu"))
    recipe = {"model": {"name": "mlp", "hidden": [16]}}
    asked = []
    run, history, seeds = refit_members(base, recipe, data, rows=data.train, epochs=3, seed=7,
                                        members=lambda seconds, first: asked.append((seconds, first)) or 3)
    assert seeds == [7, 7 + MEMBER_SEED_STEP, 7 + 2 * MEMBER_SEED_STEP] and len(asked) == 1 and asked[0][0] > 0
    assert asked[0][1].model is run.model.members[0]  # member 0's Run, before the others trained
    assert isinstance(run.model, MeanEnsemble) and len(history) == 3
    by_hand = [refit_recipe(base, recipe, data, rows=data.train, epochs=3, seed=s)[0].model.eval() for s in seeds]
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(data.test.X), 1) for m in by_hand]).mean(0)
    assert torch.allclose(torch.softmax(run.trainer.predict(data.test.X), 1), mean, atol=1e-5)
    loss = torch.nn.functional.nll_loss(mean.log(), data.test.y).item()
    assert run.trainer.evaluate(data.test)["loss"] == pytest.approx(loss, rel=1e-4)
    single, _, one = refit_members(base, recipe, data, rows=data.train, epochs=3, seed=7, members=1)
    assert one == [7] and not isinstance(single.model, MeanEnsemble)
    assert torch.allclose(single.trainer.predict(data.test.X), by_hand[0](data.test.X).detach(), atol=1e-6)


def test_the_baseline_recipe_is_kept_when_the_deadline_cut_every_search_training_below_it():
    from fitguard.doctor.phases import DEADLINE_STOP, Trial, kept_trial

    def trial(name, score, reasons):
        return Trial(name, "ablation", {}, score, 0.0, 10, 5, 1.0, details={"stop_reasons": reasons,
                                                                            "stop_reason": reasons[-1]})

    cut = f"{DEADLINE_STOP} after epoch 2"
    one_fold_cut = trial("one fold cut", 0.95, ["early stopping", cut, "early stopping"])
    finished = trial("finished", 0.90, ["early stopping"] * 3)
    baseline = Trial("baseline", "baseline", {}, 0.85, 0.0, 10, 150, 1.0)
    assert kept_trial([one_fold_cut, finished], "best", lambda: baseline) is one_fold_cut  # one finished: as before
    # every one cut: the baseline, unless the best of them already scores above it on validation
    assert kept_trial([trial("all cut", 0.80, [cut] * 3)], "best", lambda: baseline) is baseline
    above = trial("all cut, above", 0.97, [cut] * 3)
    assert kept_trial([above, trial("all cut", 0.80, [cut] * 3)], "best", lambda: baseline) is above
    assert kept_trial([trial("level", 0.85, [cut] * 3)], "best", lambda: baseline) is baseline  # not better: baseline


def test_doctor_ships_the_baseline_recipe_when_every_search_training_was_cut_below_it(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from fitguard.doctor import phases, pipeline
    from fitguard.runs import load
    from tests.doctor.conftest import TINY

    monkeypatch.setattr(phases, "cut_by_deadline", lambda trial: True)  # as if the budget had cut every one
    kept_trial = phases.kept_trial  # ... each below the baseline on validation
    monkeypatch.setattr(phases, "kept_trial", lambda scored, rule, fallback, **kw: kept_trial(
        [replace(t, val_score=-1.0) for t in scored], rule, fallback, **kw))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["doctor", *TINY, "--ensemble", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["name"] == pipeline.BASELINE_KEPT
    assert summary["best"]["recipe"] == {"model": {"name": "mlp", "hidden": [256, 256]}}  # the baseline's network
    assert load(out, stem="best").model.linear1.out_features == 256


class _ArchitectureScores(Evaluator):
    """A stand-in Scorer (the evaluator's strategy methods, no training): each network's validation score from a
    table, its size from its widths."""

    def __init__(self, scores):
        super().__init__(base=None, data=None)
        self.scores, self.asked = scores, []

    def __call__(self, recipe, *, name, phase):
        self.asked.append(name)
        widths = recipe["model"]["hidden"]
        fourier = recipe["model"].get("fourier")
        widths_in = [16, fourier] if fourier else [16]  # Fourier features: a first layer of that many
        parameters = sum(a * b for a, b in zip([*widths_in, *widths], [*widths_in[1:], *widths, 4], strict=False))
        return Trial(name, phase, recipe, self.scores[name], 0.0, parameters, 10, 0.1,
                     details={"val_loss": 1.0 - self.scores[name]})


@pytest.mark.parametrize(
    ("scores", "extra"),
    [
        # the largest network is the best: the grid may stop short, one twice as wide is tried
        ({"mlp 16": 0.80, "mlp 64": 0.85, "mlp 256x256": 0.90, "mlp 512x512": 0.92}, ["mlp 512x512"]),
        # the best lies inside the grid: nothing more
        ({"mlp 16": 0.80, "mlp 64": 0.91, "mlp 256x256": 0.90}, []),
    ],
)
def test_architecture_looks_beyond_the_grid_only_when_the_largest_network_is_best(scores, extra):
    candidates = [{"model": {"name": "mlp", "hidden": h}} for h in ([16], [64], [256, 256])]
    score = _ArchitectureScores(scores)
    trials, chosen = architecture(score, Clock(None, 100), candidates, epsilon=0.0, tick=lambda: None, share=1.0)
    assert score.asked == ["mlp 16", "mlp 64", "mlp 256x256", *extra]
    assert chosen.name == max(scores, key=scores.get)
    assert [t.details.get("beyond_grid", False) for t in trials] == [False] * 3 + [True] * len(extra)


@pytest.mark.parametrize(
    ("scores", "extra"),
    [
        # a plain MLP leads: the (larger) MLP on Fourier features is not of its family, the grid is extended
        ({"mlp 16": 0.80, "mlp 256x256": 0.92, "mlp 256 on 512 Fourier features": 0.90, "mlp 512x512": 0.93},
         ["mlp 512x512"]),
        # the Fourier network leads: it has no sibling of its own family, so nothing is extended
        ({"mlp 16": 0.80, "mlp 256x256": 0.90, "mlp 256 on 512 Fourier features": 0.92}, []),
    ],
)
def test_an_mlp_on_fourier_features_is_a_family_of_its_own_beyond_the_grid(scores, extra):
    candidates = [{"model": {"name": "mlp", "hidden": [16]}}, {"model": {"name": "mlp", "hidden": [256, 256]}},
                  {"model": {"name": "mlp", "hidden": [256], "fourier": 512}}]
    score = _ArchitectureScores(scores)
    _, chosen = architecture(score, Clock(None, 100), candidates, epsilon=0.0, tick=lambda: None, share=1.0)
    assert score.asked == ["mlp 16", "mlp 256x256", "mlp 256 on 512 Fourier features", *extra]
    assert chosen.name == max(scores, key=scores.get)


def test_architecture_does_not_look_beyond_the_grid_when_the_budget_is_spent():
    candidates = [{"model": {"name": "mlp", "hidden": h}} for h in ([16], [256, 256])]
    score = _ArchitectureScores({"mlp 16": 0.8, "mlp 256x256": 0.9})
    _, chosen = architecture(score, Clock(None, 2), candidates, epsilon=0.0, tick=lambda: None, share=1.0)
    assert score.asked == ["mlp 16", "mlp 256x256"] and chosen.name == "mlp 256x256"


def test_the_deadline_ends_a_training_within_its_epoch_from_min_epochs_on():
    import time

    import torch

    from fitguard.data import TensorData
    from fitguard.doctor.phases import DEADLINE_STOP, StopAtDeadline
    from fitguard.models import mlp
    from fitguard.train import Trainer

    generator = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(400, 4, generator=generator), torch.randint(0, 2, (400,), generator=generator))

    def fit(deadline, min_epochs):
        trainer = Trainer(mlp(4, 2, hidden=[8]), batch_size=10, max_epochs=4, quiet=True,
                          callbacks=[StopAtDeadline(lambda: deadline, min_epochs=min_epochs)])
        return trainer, trainer.fit(data, data)

    trainer, history = fit(time.perf_counter() - 1, 1)  # passed already: one batch of epoch 1, validated
    assert trainer.step == 1 and len(history) == 1 and "val_loss" in history.epochs[0]
    assert history.stop_reason == f"{DEADLINE_STOP} in epoch 1"
    trainer, history = fit(time.perf_counter() - 1, 3)  # two whole epochs first (40 steps each), then one batch
    assert trainer.step == 2 * 40 + 1 and len(history) == 3
    trainer, history = fit(time.perf_counter() + 3600, 1)
    assert trainer.step == 4 * 40 and history.stop_reason == "reached max_epochs=4"



def test_finalists_are_scored_again_on_a_second_fold_split_trained_by_hand():
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    base = base_config(DoctorOptions(device="cpu", patience=3))
    first, second = list(kfold(data, k=2, seed=0)), list(kfold(data, k=2, seed=1))
    assert [len(v) for _, v in first] == [len(v) for _, v in second]
    assert not torch.equal(first[0][1].X, second[0][1].X)  # the same rows, split otherwise
    score = Scorer(base, data, first, {"max_epochs": 4})
    recipes = {f"mlp {h}": {"model": {"name": "mlp", "hidden": [h]}} for h in (4, 16, 64)}
    scored = [score(recipe, name=name, phase="ablation") for name, recipe in recipes.items()]
    clock = Clock(None, None)
    pairs = confirm(replace(score, folds=second), clock, scored, finalists=2, share=1.0, tick=lambda: None)
    best_two = sorted(scored, key=rank, reverse=True)[:2]
    assert [s.name for s, _ in pairs] == [t.name for t in best_two] and clock.used == 4
    for search, again in pairs:
        by_hand = [train_recipe(base, search.recipe, data, name="f", phase="confirm", train=t, val=v, max_epochs=4)[0]
                   for t, v in second]
        assert again.phase == "confirm" and again.details["folds"] == [t.val_score for t in by_hand]
        both = pooled(search, again)
        assert both.val_score == pytest.approx(np.mean([*search.details["folds"], *again.details["folds"]]), abs=1e-12)
        assert both.details["best_epoch"] == int(np.median([*search.details["best_epochs"],
                                                            *again.details["best_epochs"]]))


def test_a_cross_validated_run_keeps_the_finalist_best_over_both_fold_splits(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "doctor", "--model", "mlp", "--budget", "none", "--trials", "40", "--epochs", "10", "--search-epochs", "8",
        "--folds", "2", "--cv-max-rows", "1000", "--rounds", "0", "--no-references", "--train-fraction", "0.3",
        "--min-steps", "0", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = read_summary(out)
    confirmed = summary["remedies"]["confirm"]
    finalists = confirmed["finalists"]
    assert len(finalists) >= 2 and all(len(f["fresh_folds"]) == 2 for f in finalists)
    assert [f["search_score"] for f in finalists] == sorted((f["search_score"] for f in finalists), reverse=True)
    for f in finalists:
        assert f["fresh_score"] == pytest.approx(np.mean(f["fresh_folds"]), abs=1e-12)
    kept = next(f for f in finalists if f["name"] == confirmed["kept"])
    assert kept["score"] == max(f["score"] for f in finalists) and summary["best"]["name"] == kept["name"]
    assert summary["best"]["search_val_score"] == pytest.approx(kept["score"], abs=1e-12)
    assert summary["remedies"]["trainings"] <= 40
    assert [s["phase"] for s in summary["plan"]["steps"]][-2:] == ["study", "confirm"]
    assert "Finalists scored again on a second 2-fold split of the same rows" in (out / "report.html").read_text()


class _SecondSplit:
    """Scores a finalist again (3 fold trainings each), the deadline cutting the ones named in ``cut``."""

    trainings = 3

    def __init__(self, cut=()) -> None:
        self.cut, self.asked = set(cut), []

    def __call__(self, recipe, *, name, phase, **train):
        self.asked.append(name)
        reason = f"{DEADLINE_STOP} after epoch 1" if name in self.cut else "early stopping"
        return Trial(name, phase, recipe, 0.5, 0.0, 10, 1, 1.0, details={"stop_reason": reason})


def test_a_confirmation_starts_only_when_two_finalists_fit_and_ends_at_one_the_deadline_cut():
    scored = [Trial(f"t{i}", "study", {"model": {"hidden": [i + 1]}}, 0.9 - i / 100, 0.0, 10, 5, 1.0) for i in range(4)]
    again = _SecondSplit()
    clock = Clock(None, 10, used=5)  # 5 trainings left: two finalists need 6
    assert confirm(again, clock, scored, finalists=3, share=1.0, tick=lambda: None) == []
    assert again.asked == [] and clock.used == 5
    again = _SecondSplit(cut={"t1"})
    pairs = confirm(again, Clock(None, None), scored, finalists=3, share=1.0, tick=lambda: None)
    assert again.asked == ["t0", "t1"] and [first.name for first, _ in pairs] == ["t0"]


def test_the_learning_curves_whole_split_point_is_the_holdout_searchs_own_trial_and_folds_train_it_again():
    from fitguard.doctor.suggestions import learning_curve_phase

    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)
    base = base_config(DoctorOptions(device="cpu", patience=3))
    recipe = {"model": {"name": "mlp", "hidden": [16]}}
    holdout = Scorer(base, data, None, {"max_epochs": 6})
    chosen = holdout(recipe, name="mlp 16", phase="architecture")
    clock = Clock(seconds=None, trials=10)
    curve = learning_curve_phase(holdout, clock, chosen, share=1.0, tick=lambda: None)
    whole = curve["points"][-1]
    # the last point: the chosen trial's figures on every training row, read from it (1 - accuracy, and the gap)
    assert whole == {"rows": len(data.train), "train_error": pytest.approx(max(0.0, 1 - chosen.val_score - chosen.gap)),
                     "val_error": pytest.approx(1 - chosen.val_score), "seconds": chosen.seconds, "reused": True}
    assert [p["rows"] for p in curve["points"]][:-1] == sorted({p["rows"] for p in curve["points"][:-1]})
    assert clock.used == 3 and not any(p.get("reused") for p in curve["points"][:-1])
    # cross-validated: the search's score is the folds' mean on other rows, so the whole split trains too
    folded = Scorer(base, data, list(kfold(data, k=2, seed=0)), {"max_epochs": 6})
    clock = Clock(seconds=None, trials=10)
    curve = learning_curve_phase(folded, clock, folded(recipe, name="mlp 16", phase="architecture"), share=1.0,
                                 tick=lambda: None)
    assert clock.used == 4 and not any(p.get("reused") for p in curve["points"])
    # a fraction whose forecast (the chosen trial's seconds per row, times its rows) would overrun the phase's share
    # of the time is not started: 25% of the rows at 1,000 s per whole split is 250 s, the search has 100
    clock = Clock(seconds=100.0, trials=None)
    clock.search_started = clock.started
    slow = replace(chosen, seconds=1000.0)
    assert learning_curve_phase(holdout, clock, slow, share=1.0, tick=lambda: None)["points"] == []
    assert clock.used == 0


def test_a_fixed_schedule_is_refit_with_the_train_keys_it_was_scored_with():
    # the search's options (its epoch limit and passes per epoch) go on an early-stopped network's refit, but a
    # recipe with its own schedule keeps its batch size and passes, as when it was scored (recipe_config)
    from fitguard.doctor.trials import refit_recipe
    from fitguard.search.evaluate import recipe_config
    from fitguard.train import Callback

    class Steps(Callback):
        def __init__(self):
            self.steps = 0

        def on_batch_end(self, trainer, step, loss):
            self.steps += 1

    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    base = base_config(DoctorOptions(device="cpu"))
    search = {"max_epochs": 100, "repeat": 3}
    fixed = {"model": {"name": "mlp", "hidden": [8]}, "early_stopping": None,
             "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 16, "max_epochs": 4, "repeat": 1}}
    early = {"model": {"name": "mlp", "hidden": [8]}}
    assert recipe_config(base, fixed, search).train.repeat == 1  # how it was scored
    steps = {}
    for name, recipe in (("fixed", fixed), ("early", early)):
        counter = Steps()
        refit_recipe(base, recipe, data, rows=data.train, epochs=2, callbacks=(counter,), **search)
        steps[name] = counter.steps
    rows = len(data.train)  # an epoch of `repeat` passes batches the rows repeated
    assert steps == {"fixed": 2 * -(-rows // 16), "early": 2 * -(-3 * rows // base.train.batch_size)}


def _with_l2(network: dict, lam: float) -> dict:
    return {**network, "remedies": {"penalties": [{"kind": "l2", "lam": lam, "layers": "*.weight"}]}}


def test_lambda_on_the_validation_split_is_one_training_per_strength_trained_by_hand():
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    base = base_config(DoctorOptions(device="cpu", patience=3))
    network = {"model": {"name": "mlp", "hidden": [16]}}
    holdout = Scorer(base, data, None, {"max_epochs": 4})
    result = lambda_cv(holdout, Clock(None, None), network, folds=3, tick=lambda: None, share=1.0,
                       lambdas=(1e-4, 1e-1), extend=0, split=True)
    by_hand = [train_recipe(base, _with_l2(network, lam), data, name="f", phase="lambda_cv", max_epochs=4)[0]
               for lam in (1e-4, 1e-1)]
    assert result["folds"] == 1
    assert [r["scores"] for r in result["rows"]] == [[t.val_score] for t in by_hand]
    assert [r["mean"] for r in result["rows"]] == [t.val_score for t in by_hand]
    assert [r["std"] for r in result["rows"]] == [None, None]
    assert result["best_lam"] == (1e-4, 1e-1)[int(np.argmax([t.val_score for t in by_hand]))]
    # a scorer that cross-validates keeps its folds: ``split`` changes only where there is a validation split
    folded = Scorer(base, data, list(kfold(data, k=2, seed=0)), {"max_epochs": 4})
    assert lambda_cv(folded, Clock(None, None), network, folds=3, tick=lambda: None, share=1.0, lambdas=(1e-4,),
                     extend=0, split=True)["folds"] == 2
    # and without ``split``, a holdout scorer's λ is cross-validated over ``folds`` folds of train + val
    assert lambda_cv(holdout, Clock(None, None), network, folds=2, tick=lambda: None, share=1.0, lambdas=(1e-4,),
                     extend=0)["folds"] == 2


def test_lambda_is_scored_on_the_split_through_the_cli_by_default(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "doctor", "--model", "mlp", "--train-fraction", "0.1", "--budget", "none", "--trials", "20", "--epochs", "3",
        "--search-epochs", "3", "--rounds", "0", "--min-steps", "0", "--cv-max-rows", "0", "--no-references",
        "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = read_summary(out)
    cv = summary["remedies"]["lambda_cv"]
    assert cv["folds"] == 1 and all(len(r["scores"]) <= 1 for r in cv["rows"])
    assert any(r["mean"] is not None for r in cv["rows"])  # scored, each on the validation split
    assert summary["options"]["lambda_cv"] is False and "lambda-cv" not in summary["command"]  # the default
    report = (out / "report.html").read_text()
    assert "<h3>λ on the validation split</h3>" in report
    assert '<th class="n">validation score</th>' in report and '<th class="n">folds run</th>' not in report
