"""Where no refit of the kept recipe fits the time left, the doctor tests and ships the search's own model of it (the
holdout training validation scored, restored to its best epoch) rather than a refit the deadline would cut
(``fitguard.doctor.phases.SearchModels``, ``pipeline._searched_instead``): the shipped model reproduces the search's
validation score, and the summary says which model was tested and why."""

import json
from dataclasses import replace
from html import unescape

import numpy as np
import pytest
import torch

from fitguard import load as load_model
from fitguard.config import TrainConfig
from fitguard.data import from_arrays, kfold, load
from fitguard.doctor import DoctorOptions, phases, pipeline
from fitguard.doctor.phases import SearchModels
from fitguard.report import build_report
from fitguard.search.evaluate import Evaluator
from fitguard.search.scoring import Trial
from fitguard.train import History


def test_the_evaluator_hands_over_each_holdout_training_and_no_fold_of_a_cross_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3))
    data = from_arrays(x, (x[:, 0] > 0).astype(int), seed=0)
    base = TrainConfig(model={"name": "mlp", "hidden": [8]}, train={"max_epochs": 3, "device": "cpu"})
    handed = []
    trial = Evaluator(base, data, on_trained=lambda t, run: handed.append((t, run)))({}, name="plain", phase="x")
    assert len(handed) == 1 and handed[0][0] is trial
    # the Run handed over is the model validation scored: evaluated on the validation rows, it gives the trial's score
    run = handed[0][1]
    assert run.trainer.evaluate(data.val)["accuracy"] == pytest.approx(trial.val_score, abs=1e-12)
    folds = Evaluator(base, data, folds=list(kfold(data, k=3, seed=0)), on_trained=lambda t, r: handed.append(t))
    folds({}, name="folds", phase="x")
    assert len(handed) == 1


def test_search_models_hold_every_training_until_the_architecture_is_chosen_then_the_best_and_the_chosen():
    def trial(score: float, loss: float = 0.5, reason: str = "early stopping", status: str = "done") -> Trial:
        return Trial("t", "x", {}, score, 0.0, 10, 5, 1.0, status, details={"val_loss": loss, "stop_reason": reason},
                     history=History([]))

    models = SearchModels(keep=1)
    low, tie_lower_loss, tie, cut, unscored = (trial(0.8), trial(0.9, 0.4), trial(0.9),
                                              trial(0.99, reason=phases.DEADLINE_STOP), trial(float("nan")))
    for t in (low, tie_lower_loss, tie, cut, unscored):
        models.offer(t, t)
    # before the architecture is chosen: every scored training, one the deadline cut too (as it stopped, restored)
    assert [models.run_of(t) is t for t in (low, tie_lower_loss, tie, cut, unscored)] == [True, True, True, True,
                                                                                           False]
    models.pin(low)  # chosen though it ranks last: held with the best-ranked (the cut one ranks first)
    assert [models.run_of(t) is t for t in (low, cut, tie_lower_loss, tie)] == [True, True, False, False]
    better = trial(0.995)
    models.offer(better, better)
    assert [models.run_of(t) is t for t in (low, cut, better)] == [True, False, True]
    # a trial pruned after it was offered, or one with no History, is no training of a kept recipe
    assert models.run_of(replace(better, status="pruned")) is None
    assert models.run_of(Trial("t", "x", {}, 0.95, 0.0, 10, 5, 1.0)) is None


@pytest.fixture(scope="module")
def shipped_search_model(tmp_path_factory):
    """A doctor run on a holdout split whose refit forecast never fits (``training_cost`` made huge): the final phase
    ships the search's own model. The trials bound the search, not the clock, so no training is cut (a cut one is
    never held) whatever the machine's speed; the budget only makes the final phase weigh the forecast."""
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.5)
    options = DoctorOptions(model="mlp", budget=600.0, trials=6, epochs=8, search_epochs=8, cv_max_rows=0, rounds=0,
                            min_steps=0, references=False, quiet=True, device="cpu",
                            out=str(tmp_path_factory.mktemp("searched") / "run"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phases, "training_cost", lambda score, trial: 1e6)
        run_dir = pipeline.run_doctor(options, data=data)
    return data, run_dir, json.loads((run_dir / "summary.json").read_text())


def test_the_shipped_model_is_the_search_s_own_and_reproduces_its_validation_score(shipped_search_model):
    data, run_dir, summary = shipped_search_model
    best = summary["best"]
    assert best["shipped"]["rows"] == len(data.train) and best["members"] == 1
    tested = len(data.train) + len(data.val)  # the refit's forecast: the search's cost, scaled by the rows
    assert best["shipped"]["note"].startswith("the model that was tested: the search's own training on the training "
                                              f"split; a refit on {tested} rows would take about "
                                              f"{1e6 * tested / len(data.train):.0f} s (x 1.3 reserve) and ")
    assert best["gap_note"].startswith("training rows - test, on the model that was tested (the search's own "
                                       f"training on the training split ({len(data.train)} rows), restored to epoch ")
    model = load_model(run_dir, "best").model
    with torch.no_grad():
        model.eval()
        val_right = int((model(data.val.X).argmax(1) == data.val.y).sum())
        test_predictions = model(data.test.X).argmax(1).numpy()
    # a refit on train + val would not reproduce the search's validation score; the search's model does
    assert val_right == round(best["search_val_score"] * len(data.val))
    assert np.array_equal(test_predictions, np.load(run_dir / "test_predictions.npz")["best"])
    assert best["scores"]["test"]["accuracy"] == pytest.approx((test_predictions == data.test.y.numpy()).mean())
    assert (run_dir / "metrics.jsonl").exists()  # the tested model's epochs are the run folder's logs
    assert best["tested"] == "search"


def test_the_report_says_which_model_was_tested(shipped_search_model):
    _, run_dir, summary = shipped_search_model
    text = unescape(build_report(run_dir).read_text())
    assert ("the kept recipe's model is the search's own training of it on the training split, the model validation "
            "scored: no refit of it on the tested rows fitted the time left (see the shipped model below), so the "
            "baseline learned from more rows. Both read the test split once.") in text
    assert ("The model tested is that search training itself, restored as validation chose (no refit of it fitted "
            f"the time left), on the training rows for {summary['best']['epochs']} epochs") in text
    assert "trained afresh" not in text.split("Best recipe vs baseline")[1].split("</section>")[0]
    assert "Both models were trained afresh" not in text


def _options(out, **changes) -> DoctorOptions:
    return DoctorOptions(**{"model": "mlp", "budget": 600.0, "trials": 4, "epochs": 5, "search_epochs": 5,
                            "cv_max_rows": 0, "rounds": 0, "min_steps": 0, "references": False, "quiet": True,
                            "device": "cpu", "out": str(out), **changes})


def test_a_refit_that_fits_is_trained_as_before(tmp_path, monkeypatch):
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)
    monkeypatch.setattr(phases, "training_cost", lambda score, trial: 0.0)  # every refit fits
    best = json.loads((pipeline.run_doctor(_options(tmp_path / "run"), data=data) / "summary.json").read_text())["best"]
    assert best["shipped"]["rows"] == len(data.train) + len(data.val) + len(data.test)  # --refit all
    assert "search's own" not in best["shipped"]["note"] and "search's own" not in best["gap_note"]
    assert best["tested"] == "refit"
    assert best["gap_note"].endswith(f"(trained afresh on {len(data.train) + len(data.val)} rows for {best['epochs']} "
                                     "epochs)")


def test_a_refit_the_deadline_cuts_after_all_gives_way_to_the_search_s_model(tmp_path, monkeypatch):
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)
    monkeypatch.setattr(phases, "training_cost", lambda score, trial: 0.0)  # the forecast admits the refit
    original = pipeline.refit_members

    def cut(*args, **kwargs):
        run, history, seeds = original(*args, **kwargs)
        history.stop_reason = f"{phases.DEADLINE_STOP} in epoch {len(history)}"  # as the deadline would have
        return run, history, seeds

    monkeypatch.setattr(pipeline, "refit_members", cut)
    run_dir = pipeline.run_doctor(_options(tmp_path / "run"), data=data)
    best = json.loads((run_dir / "summary.json").read_text())["best"]
    assert best["tested"] == "search" and best["shipped"]["rows"] == len(data.train)
    assert best["shipped"]["note"] == (
        "the model that was tested: the search's own training on the training split; a refit on "
        f"{len(data.train) + len(data.val)} rows was cut by the run's deadline at epoch {best['epochs']} of "
        f"{best['epochs']}, a network no validation chose")
    assert best["gap_note"].endswith(": the deadline cut the refit)")


def test_a_cut_training_above_the_baseline_is_kept_and_its_search_model_shipped(tmp_path, monkeypatch):
    # as at 60 s on MNIST-1D: the deadline cut every search training, the best already above the baseline on
    # validation; no refit fits, so the held model of that cut training is what is tested and shipped
    data = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)
    monkeypatch.setattr(phases, "cut_by_deadline", lambda trial: True)
    monkeypatch.setattr(phases, "training_cost", lambda score, trial: 1e6)
    kept_trial = phases.kept_trial
    compared = []

    def above_the_baseline(scored, rule, fallback, **kw):
        baseline = fallback()
        compared.append(baseline)
        raised = [replace(t, val_score=baseline.val_score + 0.5) for t in scored]  # the same trainings, scored above
        return kept_trial(raised, rule, lambda: baseline, **kw)

    monkeypatch.setattr(phases, "kept_trial", above_the_baseline)
    run_dir = pipeline.run_doctor(_options(tmp_path / "run"), data=data)
    summary = json.loads((run_dir / "summary.json").read_text())
    best = summary["best"]
    assert best["name"] != pipeline.BASELINE_KEPT and best["tested"] == "search"
    assert summary["remedies"]["selection"]["kept"] == ("best validation score: the deadline cut every search "
                                                        "training, and the best scored above the baseline on "
                                                        "validation")
    # the baseline was compared at the epoch count it is refit for, by that epoch's validation score
    records = json.loads((run_dir / "baseline_history.json").read_text())["epochs"]
    baseline, epochs = compared[0], summary["baseline"]["epochs"]
    assert baseline.details["best_epoch"] == epochs < len(records) or epochs == len(records)
    assert baseline.val_score == pytest.approx(records[epochs - 1]["val_accuracy"], abs=1e-12)
    assert "the best of them had already scored above the baseline on validation" in unescape(
        build_report(run_dir).read_text())
