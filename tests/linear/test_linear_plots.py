"""CV-curve and coefficient-path figures: written as PNG, log λ axis, labelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from fitguard.linear import lasso_path, plot_coefficient_paths, plot_cv_curve, ridge_path


def _saved_axes(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record the axes of every figure saved, to check scales and labels without reading pixels."""
    saved: list = []
    original = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        saved.append(self.axes[0])
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


@pytest.fixture
def problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    return X, X @ np.array([1.0, 0.0, -2.0, 0.5]) + rng.normal(size=60)


def test_ridge_figures_are_pngs_with_log_lambda_axes(
    problem: tuple[np.ndarray, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = _saved_axes(monkeypatch)
    result = ridge_path(*problem, np.logspace(-3, 3, 20), cv="loo")
    curve = plot_cv_curve(result, tmp_path / "cv.png")
    paths = plot_coefficient_paths(result, tmp_path / "paths.png", ["a", "b", "c", "d"])
    for file in (curve, paths):
        with Image.open(file) as image:
            assert image.format == "PNG"
    cv_axes, path_axes = saved
    assert cv_axes.get_xscale() == "log" and path_axes.get_xscale() == "log"
    assert cv_axes.get_xlabel() == "λ (regularization strength, log scale)"
    assert cv_axes.get_ylabel() == "Leave-one-out mean squared error"
    assert path_axes.get_ylabel() == "coefficient"
    labels = [text.get_text() for text in path_axes.get_legend().get_texts()]
    assert {"a", "b", "c", "d"} <= set(labels) and f"best λ = {result.best_lambda_:.3g}" in labels


def test_lasso_figures_show_the_fold_band(
    problem: tuple[np.ndarray, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = _saved_axes(monkeypatch)
    result = lasso_path(*problem, n_lambdas=15, cv=3)
    plot_cv_curve(result, tmp_path / "cv.png", title="Lasso")
    plot_coefficient_paths(result, tmp_path / "paths.png")
    labels = [text.get_text() for text in saved[0].get_legend().get_texts()]
    assert "±1 std across folds" in labels
    assert saved[0].get_ylabel() == "3-fold CV mean squared error"
    assert saved[0].get_title() == "Lasso"


def test_wrong_number_of_feature_names(problem: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    result = ridge_path(*problem, [1.0])
    with pytest.raises(ValueError) as error:
        plot_coefficient_paths(result, tmp_path / "paths.png", ["a"])
    assert str(error.value) == "`feature_names` must have 4 names (one per coefficient), got 1"
