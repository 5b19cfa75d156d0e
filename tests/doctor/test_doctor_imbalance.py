"""Skewed classes: the plan proposes class weights from 3:1 on, the doctor tries them first, and the test section
reports balanced accuracy and per-class recall (checked against scikit-learn on the saved test predictions), in
the summary, the terminal table and the report."""

import csv

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import balanced_accuracy_score, recall_score
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import read_summary
from fitguard.doctor.phases import remedies_for
from fitguard.doctor.plan import PROPOSALS, SKEW_RATIO, class_skew, plan_for


@pytest.mark.parametrize(("counts", "skewed"), [([30, 10], True), ([29, 10], False), ([10, 300, 40], True),
                                                ([50, 50, 0], False)])
def test_class_weights_are_proposed_from_a_ratio_of_three(counts, skewed):
    for kind in ("underfit", "overfit", "good"):
        plan = plan_for(kind, class_counts=counts)
        present = [c for c in counts if c]
        assert plan.class_skew == pytest.approx(max(present) / min(present))
        assert (plan.remedies[0] == "class weights") is skewed
        assert plan.remedies[1 if skewed else 0:] == plan_for(kind).remedies  # the verdict's own remedies stay
        ablation = next(step for step in plan.steps if step.phase == "ablation")
        assert ("class weights first" in ablation.why) is skewed
        proposed = [p["remedy"] for p in plan.proposals(4)]
        assert proposed == (["class weights"] if skewed else []) + [r for r, _ in PROPOSALS.get(kind, [])]
        assert [p["priority"] for p in plan.proposals(4)] == list(range(4, 4 + len(proposed)))
    assert SKEW_RATIO == 3.0


def test_without_counts_nothing_changes():
    assert plan_for("good").class_skew is None and "class weights" not in plan_for("good").remedies
    assert class_skew([7]) is None


def test_only_classification_gets_class_weights_and_first():
    wine = load("wine", seed=0)
    names = [name for name, _ in remedies_for(wine, {"model": {"name": "mlp", "hidden": [16]}}, 1e-3)]
    assert names[0] == "class weights (balanced)"
    change = dict(remedies_for(wine, {"model": {"name": "mlp"}}, None, ("class weights",)))
    assert change == {"class weights (balanced)": {"remedies": {"class_weight": "balanced"}}}
    diabetes = load("diabetes", seed=0)
    assert not any("class" in name for name, _ in remedies_for(diabetes, {"model": {"name": "mlp"}}, 1e-3))


@pytest.fixture(scope="module")
def skewed_run(tmp_path_factory):
    """Breast cancer with 60 of its 212 malignant rows kept: a real table, 357 to 60."""
    folder = tmp_path_factory.mktemp("imbalance")
    table = load_breast_cancer()
    keep = np.flatnonzero(table.target == 1).tolist() + np.flatnonzero(table.target == 0)[:60].tolist()
    path = folder / "cancer.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(name.replace(" ", "_") for name in table.feature_names), "diagnosis"])
        for row in sorted(keep):
            writer.writerow([*table.data[row], table.target_names[table.target[row]]])
    out = folder / "run"
    # a trial budget, no clock: the phases run the same however busy the machine is
    result = CliRunner().invoke(app, [
        "doctor", "--data", str(path), "--target", "diagnosis", "--budget", "none", "--trials", "12", "--epochs", "4",
        "--search-epochs", "3", "--folds", "2", "--rounds", "0", "--min-steps", "0", "--out", str(out)],
        env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return path, out, result.output


def test_the_doctor_tries_class_weights_first_on_skewed_classes(skewed_run):
    path, out, _ = skewed_run
    summary = read_summary(out)
    data = load(str(path), target="diagnosis", val=0.2, test=0.2, seed=0)
    counts = np.bincount(data.train.y.numpy())
    assert summary["plan"]["class_skew"] == pytest.approx(counts.max() / counts.min())
    assert summary["plan"]["remedies"][0] == "class weights"
    tried = [t for t in summary["remedies"]["ablation"] if t["name"] == "class weights (balanced)"]
    assert len(tried) == 1 and tried[0]["status"] == "done"
    assert tried[0]["recipe"]["remedies"] == {"class_weight": "balanced"}
    outcome = next(o for o in summary["plan"]["outcomes"] if o["remedy"] == "class weights")
    assert outcome["tried"] and outcome["trial"] == "class weights (balanced)"


def test_balanced_accuracy_and_recall_match_scikit_learn_on_the_saved_predictions(skewed_run):
    _, out, _ = skewed_run
    summary = read_summary(out)
    test = summary["test"]
    with np.load(out / "test_predictions.npz") as saved:
        y = saved["y"]
        models = [("best", test["best"]["figure"]), ("baseline", test["baseline"]["figure"]),
                  *((f"reference {r['name']}", r["figure"]) for r in test["references"])]
        for key, figure in models:
            predicted = saved[key]
            assert figure["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y, predicted))
            assert figure["balanced_accuracy"]["low"] <= figure["balanced_accuracy"]["value"]
            assert figure["balanced_accuracy"]["value"] <= figure["balanced_accuracy"]["high"]
            assert [r["value"] for r in figure["recall"]] == pytest.approx(list(recall_score(y, predicted,
                                                                                             average=None)))
    assert [r["class"] for r in test["best"]["figure"]["recall"]] == summary["data"]["class_names"]
    assert len(test["references"]) == 3


def test_the_terminal_and_the_report_show_them(skewed_run):
    _, out, output = skewed_run
    summary = read_summary(out)
    recall = summary["test"]["best"]["figure"]["recall"]
    assert "balanced accuracy" in output
    line = next(line for line in output.splitlines() if line.startswith("kept model's recall per class: "))
    assert line == "kept model's recall per class: " + ", ".join(f"{r['class']} {r['value']:.2f}" for r in recall)
    html = (out / "report.html").read_text()
    assert "balanced accuracy" in html and "<h3>Recall per class" in html
    balanced = summary["test"]["best"]["figure"]["balanced_accuracy"]
    assert f"{100 * balanced['value']:.1f}% ({100 * balanced['low']:.1f}–{100 * balanced['high']:.1f})" in html


def test_the_verdicts_remedies_go_first_in_its_order_after_class_weights():
    recommended = ["augmentation", "shrink the network", "dropout", "L2", "early stopping", "more data"]
    plan = plan_for("overfit", class_counts=[90, 10], recommended=recommended)
    assert plan.remedies[:7] == ("class weights", "augmentation", "augmentation with flips",
                                 "augmentation with cutout", "dropout 0.25", "dropout 0.5 (inputs 0.2)", "L2")
    assert sorted(plan.remedies) == sorted(plan_for("overfit", class_counts=[90, 10]).remedies)  # the same set
    # an underfit plan has no regularizer to move forward: only what it holds moves
    assert plan_for("underfit", recommended=["dropout", "augmentation"]).remedies[:3] == (
        "augmentation", "augmentation with flips", "augmentation with cutout")
    # remedies_for follows the plan's order
    digits = load("digits", seed=0)
    names = [n for n, _ in remedies_for(digits, {"model": {"name": "cnn", "widths": [8]}}, 1e-3,
                                        plan_for("overfit", recommended=["augmentation"]).remedies)]
    assert names[:3] == ["augmentation", "augmentation with flips", "augmentation with cutout"]
