"""``--one-se``: on a table scored by accuracy, the architecture phase's tie reaches one standard error of the best
validation accuracy (Breiman's one-standard-error rule), and the validation loss chooses within it; elsewhere
``--epsilon`` alone. Checked by hand-computed standard errors, a stand-in scorer, and a real run through the CLI."""

import math
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.doctor import phases, read_summary
from fitguard.doctor.phases import Clock, architecture, tie_window, validation_rows
from fitguard.doctor.trials import Trial
from fitguard.search import Evaluator


def scored(score: float, loss: float = 0.3, metric: str = "val_accuracy") -> Trial:
    return Trial("t", "architecture", {}, score, 0.0, 10, 5, 1.0, details={"val_loss": loss}, metric=metric)


def test_the_window_is_one_standard_error_of_the_best_accuracy_on_a_table():
    views = [scored(0.95), scored(0.964), scored(0.9)]
    # Vowel's 139 validation rows at 0.964: sqrt(0.964 * 0.036 / 139) = 0.0158, three times epsilon
    assert tie_window(views, 0.005, 139, "table") == pytest.approx(math.sqrt(0.964 * 0.036 / 139), rel=1e-12)
    assert tie_window(views, 0.05, 139, "table") == 0.05  # epsilon is the floor
    assert tie_window(views, 0.005, 10_000, "table") == 0.005  # many rows: a standard error under epsilon
    # a perfect score is kept half a row from 1: 20 rows at 1.0 count as 0.975
    assert tie_window([scored(1.0)], 0.005, 20, "table") == pytest.approx(math.sqrt(0.975 * 0.025 / 20))


@pytest.mark.parametrize(("kind", "metric"), [("image", "val_accuracy"), ("signal", "val_accuracy"),
                                              ("table", "val_loss")])
def test_images_signals_and_losses_keep_epsilon(kind, metric):
    assert tie_window([scored(0.8, metric=metric)], 0.005, 139, kind) == 0.005


class _Scores(Evaluator):
    """A stand-in scorer of a table with 139 validation rows: each network's validation accuracy and loss from a
    table, no training."""

    def __init__(self, scores):
        super().__init__(base=None, data=SimpleNamespace(kind="table", val=[None] * 139))
        self.scores = scores

    def __call__(self, recipe, *, name, phase):
        score, loss = self.scores[name]
        return Trial(name, phase, recipe, score, 0.0, 1_000, 10, 0.1, details={"val_loss": loss})


@pytest.mark.parametrize(("one_se", "kept"), [(False, "mlp 256"), (True, "mlp 256 on 512 Fourier features")])
def test_a_network_a_row_behind_with_a_lower_loss_is_kept_with_one_se(one_se, kept):
    # Vowel, seed 0 of session 32's 60 s runs: the plain MLP led by one validation row (0.971 against 0.964), the
    # Fourier network had the far lower loss (0.105 against 0.192) and tested 4 points higher
    scores = {"mlp 256": (0.971, 0.192), "mlp 256 on 512 Fourier features": (0.964, 0.105), "mlp 16": (0.763, 0.68)}
    candidates = [{"model": {"name": "mlp", "hidden": [256]}},
                  {"model": {"name": "mlp", "hidden": [256], "fourier": 512}},
                  {"model": {"name": "mlp", "hidden": [16]}}]
    score = _Scores(scores)
    assert validation_rows(score) == 139
    _, chosen = architecture(score, Clock(None, 100), candidates, epsilon=0.005, tick=lambda: None, share=1.0,
                             extend=0, one_se=one_se)
    assert chosen.name == kept
    assert chosen.details.get("window") == (pytest.approx(math.sqrt(0.971 * 0.029 / 139)) if one_se else None)


def test_with_a_recipe_scored_on_one_fold_the_window_counts_that_folds_rows(monkeypatch):
    from tests.doctor.test_one_fold import CANNED, NAMES, NETWORKS, VGG, scorer

    score = scorer()  # 3 folds of 150 validation rows: 450 rows behind a mean, 150 behind fold 1's scores
    score.data = SimpleNamespace(kind="table")
    score.canned = {**CANNED, NAMES[1]: [(0.60, 1.2)]}  # the recipe far behind on fold 1: the networks decide there
    monkeypatch.setattr(phases, "forecast", lambda _, recipe: 45.0)  # its 3 folds do not fit 40% of 60 s; one does
    clock = Clock(60, None, started=phases.time.perf_counter())
    trials, chosen = architecture(score, clock, NETWORKS, epsilon=0.0, tick=lambda: None, share=1.0, extend=0,
                                  optional=[VGG], one_se=True)
    assert trials[0].details["one_fold"]["validation_rows"] == 150
    assert chosen is trials[2]  # 0.85 on fold 1; 0.80 is beyond one standard error of it there
    assert chosen.details["window"] == pytest.approx(math.sqrt(0.85 * 0.15 / 150), rel=1e-12)


def test_one_se_through_the_cli_is_recorded_and_reported(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["doctor", "--data", "wine", "--budget", "none", "--trials", "8",
                                      "--epochs", "4", "--search-epochs", "4", "--folds", "2", "--rounds", "0",
                                      "--min-steps", "0", "--confirm", "0", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = read_summary(out)
    assert summary["options"]["one_se"] is True  # the default
    remedies = summary["remedies"]
    done = [t for t in remedies["architecture"] if t["status"] == "done"]
    best = max(t["val_score"] for t in done)
    rows = summary["data"]["n_train"] + summary["data"]["n_val"]  # cross-validated: every labelled row once
    p = min(max(best, 0.5 / rows), 1 - 0.5 / rows)
    window = math.sqrt(p * (1 - p) / rows)
    assert len(done) > 1 and window > 0.005, (done, rows)  # this run's tie reaches beyond --epsilon
    assert remedies["window"] == pytest.approx(window, rel=1e-9)
    within = [t for t in done if t["val_score"] >= best - window]
    assert remedies["chosen_architecture"] == min(within, key=lambda t: (t["details"]["val_loss"], t["parameters"]))[
        "name"]
    report = (out / "report.html").read_text()
    assert f"one standard error ({window:.3f}) of the best accuracy" in report
    assert f"within {window:.3f} (one standard error of the best validation accuracy, --one-se)" in report
