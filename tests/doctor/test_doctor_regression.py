"""The doctor's regression path end to end on a real table (scikit-learn's diabetes, 442 rows): the target is
standardized on the training rows for the networks, and every test figure, saved prediction and ``predict`` is in
the target's own units -- checked against scikit-learn's metrics and the raw targets."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score, root_mean_squared_error
from typer.testing import CliRunner

import fitguard
from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import read_summary

SMALL = ["--budget", "none", "--trials", "6", "--epochs", "4", "--search-epochs", "3", "--folds", "2", "--rounds", "0",
         "--min-steps", "0"]


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("regression") / "run"
    result = CliRunner().invoke(app, ["doctor", "--data", "diabetes", "--refit", "trainval", *SMALL,
                                      "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result.output


def test_rmse_and_r2_equal_scikit_learns_on_the_saved_test_predictions(diabetes_run):
    out, _ = diabetes_run
    test = read_summary(out)["test"]
    with np.load(out / "test_predictions.npz") as saved:
        y = saved["y"]
        for key, figure in [("best", test["best"]["figure"]), ("baseline", test["baseline"]["figure"]),
                            *((f"reference {r['name']}", r["figure"]) for r in test["references"])]:
            predicted = saved[key]
            assert figure["rmse"]["value"] == pytest.approx(root_mean_squared_error(y, predicted), rel=1e-9)
            assert figure["r2"]["value"] == pytest.approx(r2_score(y, predicted), rel=1e-9)
            assert figure["rmse"]["low"] <= figure["rmse"]["value"] <= figure["rmse"]["high"]
            assert figure["r2"]["low"] <= figure["r2"]["value"] <= figure["r2"]["high"]
        assert test["best"]["rmse"] == pytest.approx(root_mean_squared_error(y, saved["best"]), rel=1e-9)
    # the saved targets are the raw ones (diabetes' disease progression, 25 to 346), not standardized values
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    np.testing.assert_allclose(y.ravel(), data.raw_test.labels, rtol=1e-5)
    assert len(test["references"]) == 3 and test["references"][0]["name"] == "ridge regression"


def test_the_target_scale_is_the_training_rows_and_predict_returns_original_units(diabetes_run):
    out, _ = diabetes_run
    summary = read_summary(out)
    data = load("diabetes", val=0.2, test=0.2, seed=0)
    raw_train = np.asarray(data.raw_train.labels, dtype=np.float64)
    assert summary["data"]["target_scale"]["mean"] == pytest.approx([raw_train.mean()], rel=1e-12)
    assert summary["data"]["target_scale"]["std"] == pytest.approx([raw_train.std()], rel=1e-12)
    predictions = fitguard.load(out).predict(data.raw_test.inputs)
    with np.load(out / "test_predictions.npz") as saved:  # --refit trainval: the shipped model is the tested one
        np.testing.assert_allclose(predictions, saved["best"].ravel(), rtol=1e-5)
    targets = load_diabetes().target
    # standardized outputs would sit near 0 with a spread near 1; these are in the raw targets' range and spread
    assert abs(predictions.mean() - targets.mean()) < 0.5 * targets.std()
    assert 0.2 * targets.std() < predictions.std() < 1.5 * targets.std()
    assert targets.min() - targets.std() < predictions.min() and predictions.max() < targets.max() + targets.std()


def test_the_terminal_and_the_report_show_rmse_and_r2(diabetes_run):
    out, output = diabetes_run
    best = read_summary(out)["test"]["best"]["figure"]
    rmse, r2 = best["rmse"], best["r2"]
    assert f"RMSE {rmse['value']:.4g} ({rmse['low']:.4g}–{rmse['high']:.4g})" in output
    assert f"{r2['value']:.3f} ({r2['low']:.3f}–{r2['high']:.3f})" in output
    html = (out / "report.html").read_text()
    assert '<th class="n">RMSE (95% interval)</th>' in html and '<th class="n">R² (95% interval)</th>' in html
    assert f"{rmse['value']:.4g} ({rmse['low']:.4g}–{rmse['high']:.4g})" in html
    assert "standardized on the training rows" in html
