"""`fitguard ridge` / `fitguard lasso` through typer's CliRunner on a CSV, checked against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from sklearn.linear_model import LassoCV, RidgeCV
from sklearn.model_selection import KFold
from typer.testing import CliRunner

from fitguard.commands.linear import register
from fitguard.data import load
from fitguard.linear import parse_lambdas


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    X[:, 4] = X[:, 3] + 0.01 * rng.normal(size=120)  # a near-duplicate column: a big cond(XᵀX)
    y = X @ np.array([1.0, 0.0, -2.0, 1.0, 1.0]) + rng.normal(size=120)
    path = tmp_path / "table.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,price", comments="")
    return path


def _training_arrays(csv: Path) -> tuple[np.ndarray, np.ndarray]:
    dataset = load(str(csv), target="price", val=0, test=0)
    # the target in its own units, as the command fits it (networks get it standardized, closed forms do not)
    return dataset.train.X.double().numpy(), np.asarray(dataset.raw_train.labels, dtype=np.float32).astype(np.float64)


def test_ridge_prints_the_table_and_writes_plots_matching_ridgecv(
    app: typer.Typer, table_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ridge_run"
    result = CliRunner().invoke(app, ["ridge", str(table_csv), "--target", "price", "--lambdas", "1e-4:1e4:50",
                                      "--cv", "loo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for row in ("best λ", "CV error (leave-one-out MSE)", "cond(XᵀX)", "cond(XᵀX + λI) at best λ",
                "nonzero coefficients"):
        assert row in result.output
    assert (out / "ridge_cv_curve.png").stat().st_size > 0
    assert (out / "ridge_coefficient_paths.png").stat().st_size > 0
    summary = json.loads((out / "ridge.json").read_text())
    X, y = _training_arrays(table_csv)
    reference = RidgeCV(alphas=parse_lambdas("1e-4:1e4:50")).fit(X, y)
    assert summary["best_lambda"] == reference.alpha_
    assert summary["cv_error"] == pytest.approx(-reference.best_score_, rel=1e-9)
    assert summary["condition_gram"] > 1e3 > summary["condition_regularized"] / 1e3
    assert f"{summary['best_lambda']:.4g}" in result.output


def test_lasso_reports_sparsity_and_matches_lassocv(app: typer.Typer, table_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "lasso_run"
    result = CliRunner().invoke(app, ["lasso", str(table_csv), "--target", "price", "--cv", "5",
                                      "--lambdas", "1e-3:1:20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "lasso.json").read_text())
    X, y = _training_arrays(table_csv)
    reference = LassoCV(alphas=parse_lambdas("1e-3:1:20"), cv=KFold(5)).fit(X, y)
    assert summary["best_lambda"] == reference.alpha_
    assert summary["nonzeros"] == int(np.count_nonzero(reference.coef_))
    assert len(summary["nonzeros_per_lambda"]) == 20
    assert (out / "lasso_coefficient_paths.png").exists()
    assert "CV error (5-fold MSE)" in result.output


def test_existing_outputs_need_overwrite(app: typer.Typer, table_csv: Path, tmp_path: Path) -> None:
    arguments = ["ridge", str(table_csv), "--target", "price", "--lambdas", "0.1,1", "--out", str(tmp_path)]
    assert CliRunner().invoke(app, arguments).exit_code == 0
    again = CliRunner().invoke(app, arguments)
    assert isinstance(again.exception, ValueError)
    assert str(again.exception) == (
        f"{tmp_path / 'ridge_cv_curve.png'} already exists; pass --overwrite to replace it or choose another --out"
    )
    assert CliRunner().invoke(app, [*arguments, "--overwrite"]).exit_code == 0


@pytest.mark.parametrize(
    "options, message",
    [
        (["--lambdas", "1:2"],
         "`lambdas` must be 'start:stop:count' (log-spaced, e.g. '1e-4:1e4:50') or a comma list (e.g. '0.1,1,10'),"
         " got '1:2'"),
        (["--cv", "kfold"], "`--cv` must be 'loo', 'gcv' or a number of folds >= 2, got 'kfold'"),
    ],
)
def test_bad_options_are_one_clear_error(
    app: typer.Typer, table_csv: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["ridge", str(table_csv), "--target", "price", "--out", str(tmp_path), *options])
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == message


@pytest.fixture
def classes_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3))
    labels = np.array(["low", "mid", "high"])[np.digitize(X[:, 0] + 0.3 * rng.normal(size=90), [-0.4, 0.4])]
    path = tmp_path / "classes.csv"
    rows = [",".join([*map(str, features), label]) for features, label in zip(X, labels)]
    path.write_text("u,v,w,kind\n" + "\n".join(rows) + "\n")
    return path


def test_ridge_fits_one_hot_classes_in_one_pass(app: typer.Typer, classes_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ridge", str(classes_csv), "--target", "kind", "--cv", "gcv",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "ridge.json").read_text())["outputs"] == 3


def test_lasso_refuses_more_than_two_classes(app: typer.Typer, classes_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lasso", str(classes_csv), "--target", "kind", "--out", str(tmp_path)])
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == "lasso needs a numeric target or two classes, got 3 classes in 'kind'"
