import csv
import io
import json
import os
import re
import shutil
from html import unescape

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fitguard
from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import read_summary
from fitguard.errors import FitguardError
from fitguard.summary import Summary


def test_the_run_folder_holds_every_file(digits_run):
    names = {p.name for p in digits_run.iterdir()}
    assert {"report.html", "summary.json", "best.safetensors", "best.json", "metrics.jsonl", "tensorboard",
            "study.db", "baseline_history.json", "best_history.json", "run.json"} <= names
    assert any(p.name.startswith("events.out.tfevents") for p in (digits_run / "tensorboard").iterdir())
    assert len((digits_run / "metrics.jsonl").read_text().splitlines()) >= 1


def test_summary_matches_its_model_and_every_phase_ran(digits_run):
    summary = json.loads((digits_run / "summary.json").read_text())
    assert Summary.from_dict(summary).to_dict() == summary
    remedies = summary["remedies"]
    assert remedies["trainings"] <= 12
    assert [t for t in remedies["architecture"] if t["details"].get("chosen")]
    assert any(row["scores"] for row in remedies["lambda_cv"]["rows"])
    assert len(remedies["ablation"]) >= 2 and remedies["study"]["trials"]
    if not torch.cuda.is_available():  # the fixture's run trains on --device auto
        assert re.fullmatch(rf"CPU \({os.cpu_count()} cores, \d+ torch threads\)", summary["versions"]["device"])
    # broken on purpose: the model notices
    del summary["test"]
    with pytest.raises(FitguardError, match=r"^summary does not match the Summary model: test: Field required$"):
        Summary.from_dict(summary)


def test_the_baseline_is_refit_for_the_epoch_of_its_lowest_validation_loss(digits_run):
    summary = read_summary(digits_run)
    assert summary["remedies"]["selection"]["monitor"] == "val_loss"
    history = json.loads((digits_run / "baseline_history.json").read_text())
    assert history["monitor"] == "val_loss" and history["best_epoch"] is None  # it kept its last weights
    losses = [epoch["val_loss"] for epoch in history["epochs"]]
    assert summary["baseline"]["epochs"] == 1 + losses.index(min(losses))


def test_the_verdict_sentence_gives_the_accuracies_it_was_read_from(digits_run):
    verdict = read_summary(digits_run)["verdict"]
    last = json.loads((digits_run / "baseline_history.json").read_text())["epochs"][-1]
    assert (verdict["train_accuracy"], verdict["val_accuracy"]) == (last["accuracy"], last["val_accuracy"])
    scores = (f"its last epoch's accuracy is {last['accuracy']:.3f} on its training rows and "
              f"{last['val_accuracy']:.3f} on validation")
    assert scores in verdict["sentence"]
    if verdict["kind"] == "overfit":
        assert verdict["sentence"].endswith(f"and its validation loss exceeds training loss by {verdict['gap']:.3f}.")
    assert verdict["sentence"] in unescape((digits_run / "report.html").read_text())


def test_the_outcome_cards_show_each_test_figure_with_its_interval_on_one_line(digits_run):
    test = read_summary(digits_run)["test"]
    html = (digits_run / "report.html").read_text()
    for model in ("baseline", "best"):
        figure = test[model]["figure"]
        interval = f"{100 * figure['low']:.1f}–{100 * figure['high']:.1f}"
        assert (f'<div class="big">{100 * figure["value"]:.1f}% <span class="interval">({interval})</span></div>'
                in html)
    assert ".card .big .interval { font-size: 17px; font-weight: 600; white-space: nowrap; }" in html


def test_a_run_that_left_its_budget_unused_says_so_on_the_terminal_and_in_the_report(digits_run, tmp_path):
    from rich.console import Console

    from fitguard.report.html import render_report
    from fitguard.report.terminal import print_outcome, unused_time
    from fitguard.summary import load_summary

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["budget"]["seconds"] = 10 * summary["timings"]["total"]  # (the sentence's cases: tests/report)
    (run / "summary.json").write_text(json.dumps(summary))
    unused = unused_time(load_summary(run))
    assert unused is not None
    lines = io.StringIO()
    print_outcome(Console(file=lines, width=400), load_summary(run))
    assert f"of a {summary['budget']['seconds']:g} s budget; {unused}\n" in lines.getvalue()
    assert f'<p class="muted">{unused}.</p>' in unescape(render_report(run))


def test_best_recipe_is_at_least_as_good_as_the_baseline_on_test(digits_run):
    summary = read_summary(digits_run)
    # the paired test on the same rows, not the raw difference, decides what the report may call better
    assert summary["test"]["best_vs_baseline"]["verdict"] != "worse"


def test_the_tested_models_reproduce_the_summary(digits_run):
    summary = read_summary(digits_run)
    data = load("digits", val=0.2, test=0.2, seed=0)  # the test split does not depend on the train fraction
    truth = np.asarray([data.class_names[i] for i in data.test.y.tolist()], dtype=object)
    # the saved baseline is the model that was tested; the kept recipe's tested predictions are in the run folder
    baseline = float(np.mean(fitguard.load(digits_run, stem="baseline").predict(data.raw_test.inputs) == truth))
    assert baseline == pytest.approx(summary["test"]["baseline"]["accuracy"], abs=1e-9)
    with np.load(digits_run / "test_predictions.npz") as tested:
        assert np.array_equal(tested["y"], data.test.y.numpy())
        accuracy = summary["test"]["best"]["accuracy"]
        assert float(np.mean(tested["best"] == tested["y"])) == pytest.approx(accuracy, abs=1e-9)
        assert float(np.mean(tested["baseline"] == tested["y"])) == pytest.approx(baseline, abs=1e-9)
    # the shipped model learned every labelled row: train + val + test
    shipped = summary["best"]["shipped"]
    every_row = summary["data"]["n_train"] + summary["data"]["n_val"] + len(data.test)
    assert shipped["refit"] == "all" and shipped["rows"] == every_row


def test_the_shipped_model_is_the_ensemble_the_summary_describes(digits_run):
    from fitguard.models.ensemble import MeanEnsemble

    best = read_summary(digits_run)["best"]
    assert 1 <= best["members"] <= 5 and len(best["member_seeds"]) == best["members"]
    assert best["member_seeds"][0] == 0  # member 0 trains with the run's seed
    model = fitguard.load(digits_run).model
    # a run without a time budget trains --ensemble's members and tests them all: the refit ships as many
    assert best["shipped"]["members"] == best["members"]
    if best["shipped"]["members"] > 1:
        assert isinstance(model, MeanEnsemble) and len(model.members) == best["shipped"]["members"]
    else:
        assert not isinstance(model, MeanEnsemble)


def test_predict_command_writes_the_same_predictions(digits_run, tmp_path):
    data = load("digits", val=0.2, test=0.2, seed=0)
    np.savez(tmp_path / "rows.npz", X=data.raw_test.inputs)
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(app, ["predict", str(digits_run), str(tmp_path / "rows.npz"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    expected = fitguard.load(digits_run, stem="best").predict(data.raw_test.inputs)
    assert [r["prediction"] for r in rows] == list(expected)
    assert abs(sum(float(rows[0][f"p_{c}"]) for c in data.class_names) - 1) < 1e-4


def test_report_command_rebuilds_an_identical_report(digits_run):
    before = (digits_run / "report.html").read_bytes()
    (digits_run / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(digits_run)])
    assert result.exit_code == 0, result.output
    assert (digits_run / "report.html").read_bytes() == before


def test_report_is_self_contained(digits_run):
    html = (digits_run / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') >= 6
    for section in ("data-model", "baseline", "verdict", "bias-variance", "weights", "augmentation", "search",
                    "best", "test", "recommendations", "reproduce"):
        assert f'<section id="{section}">' in html


def test_a_model_fine_tuned_from_the_run_folder_reloads_after_the_folder_is_gone(digits_run, tmp_path):
    from fitguard.cli import main

    source = tmp_path / "doctor"
    shutil.copytree(digits_run, source)
    tuned = tmp_path / "tuned"
    assert main(["train", "--data", "digits", "--backbone", str(source), "--freeze-all-but", "1", "--epochs", "1",
                 "--out", str(tuned), "--quiet"]) == 0
    rows = load("digits", val=0.2, test=0.2, seed=0).raw_test.inputs
    before = fitguard.load(tuned).predict_proba(rows)
    shutil.rmtree(source)
    assert np.array_equal(fitguard.load(tuned).predict_proba(rows), before)
    assert json.loads((tuned / "model.json").read_text())["architecture"]["kind"] == "run"
