from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fitguard.config import parse_config
from fitguard.data import fold_indices, from_arrays
from fitguard.search import expand_grid, grid_cv

LAMBDAS = [1e-3, 3e-2, 0.3, 3.0]


@pytest.fixture(scope="module")
def ridge_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(125, 30)) * rng.uniform(0.5, 3.0, size=30)  # unequal scales: standardization matters
    y = X @ rng.normal(0, 0.3, size=30) / X.std(0).mean() + rng.normal(0, 1.0, size=125)
    data = from_arrays(X, y, task="regression", val=0.2, test=0.2, seed=0)
    recipe = parse_config({
        "data": {"source": "unused", "seed": 0},
        "model": {"name": "mlp", "hidden": []},  # a linear model: the net is one Linear layer
        "train": {"optimizer": "sgd", "lr": 0.1, "batch_size": 1000, "max_epochs": 300, "device": "cpu"},
        "early_stopping": False, "tensorboard": False,
    })
    return data, recipe


def test_grid_cv_picks_the_lambda_sklearn_gridsearchcv_picks_on_the_same_folds(ridge_problem) -> None:
    data, recipe = ridge_problem
    result = grid_cv(recipe, {"l2": LAMBDAS}, folds=5, stratified=False, refit=False, data=data)
    # oracle: the CV pool is train + val in that order; the same seeded folds; Ridge minimizes
    # ||y - Xw - b||^2 + alpha ||w||^2, our trainer mean((Xw + b - y)^2) + lam ||w||^2, so alpha = n_train * lam
    X = np.concatenate([data.raw_train.inputs, data.raw_val.inputs]).astype(np.float64)
    y = np.concatenate([data.raw_train.labels, data.raw_val.labels]).astype(np.float64)
    folds = fold_indices(len(y), 5, seed=0)
    n_train = len(folds[0][0])
    assert all(len(train) == n_train for train, _ in folds)
    search = GridSearchCV(make_pipeline(StandardScaler(), Ridge()),
                          {"ridge__alpha": [n_train * lam for lam in LAMBDAS]},
                          cv=folds, scoring="neg_mean_squared_error").fit(X, y)
    assert result.metric == "val_loss" and result.mode == "min"
    assert result.best_point_ == {"l2": LAMBDAS[int(search.best_index_)]}
    assert 0 < search.best_index_ < len(LAMBDAS) - 1  # the oracle's choice is interior: the test can tell
    for row, index in zip(result.rows, range(len(LAMBDAS))):
        # each fold trains on its target standardized with its training rows' std s (ridge is scale-equivariant:
        # the same λ wins), so its validation MSE is the raw one divided by s²
        oracle = [-search.cv_results_[f"split{k}_test_score"][index] / y[folds[k][0]].var() for k in range(5)]
        np.testing.assert_allclose(row.fold_scores, oracle, rtol=2e-3)


def test_fold_scores_are_reproducible_from_the_seed(tiny_recipe) -> None:
    first = grid_cv(tiny_recipe, {"dropout": [0.0, 0.3]}, folds=3, refit=False)
    second = grid_cv(tiny_recipe, {"dropout": [0.0, 0.3]}, folds=3, refit=False)
    assert [r.fold_scores for r in first.rows] == [r.fold_scores for r in second.rows]
    other = grid_cv(tiny_recipe, {"dropout": [0.0, 0.3]}, folds=3, refit=False, seed=1)
    assert [r.fold_scores for r in other.rows] != [r.fold_scores for r in first.rows]


def test_shared_stopping_scores_every_fold_at_one_epoch_and_refits_with_it(tiny_recipe) -> None:
    result = grid_cv(tiny_recipe, {"lr": [0.01]}, folds=3, shared_stopping=True)
    row = result.rows[0]
    assert 1 <= row.epochs <= tiny_recipe.train.max_epochs
    assert result.refit_epochs_ == row.epochs
    assert result.refit_ is not None and len(result.refit_.trainer.history) == row.epochs
    assert row.mean == pytest.approx(np.mean(row.fold_scores))


def test_expand_grid_and_bad_arguments(tiny_recipe) -> None:
    assert expand_grid({"l2": [0, 1], "dropout": [0.0]}) == [{"l2": 0, "dropout": 0.0}, {"l2": 1, "dropout": 0.0}]
    with pytest.raises(ValueError) as error:
        grid_cv(tiny_recipe, {"l2": [0.0]}, folds=1)
    assert str(error.value) == "`folds` must be an integer >= 2, got 1"
