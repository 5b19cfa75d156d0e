"""Reference models against a by-hand grid search on the same folds, sklearn's metrics and a scripted clock."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from threadpoolctl import threadpool_limits

import fitguard.data as fd
import fitguard.doctor.references as references
from fitguard.data import TensorData
from fitguard.doctor.references import Reference, reference_models

CLASSIFIERS = ["logistic regression", "RBF SVC", "gradient boosting"]
REGRESSORS = ["ridge regression", "RBF SVR", "gradient boosting"]


def flat(data: TensorData) -> tuple[np.ndarray, np.ndarray]:
    X = data.X.numpy()
    return X.reshape(len(X), -1).astype(np.float64), data.y.numpy()


@pytest.fixture(scope="module")
def digits():
    """300 digit images from fitguard's loader (180 train, 60 val, 60 test) and 3 folds over train + val."""
    data = fd.load("digits", val=0.2, test=0.2, seed=0)
    train, val, test = data.train.subset(range(180)), data.val.subset(range(60)), data.test.subset(range(60))
    folds = list(fd.kfold(TensorData(torch.cat([train.X, val.X]), torch.cat([train.y, val.y])), k=3, seed=0))
    return train, val, test, folds, reference_models("classification", folds, train, val, test)


@pytest.fixture(scope="module")
def diabetes():
    data = fd.load("diabetes", val=0.2, test=0.2, seed=0)
    return data, reference_models("regression", None, data.train, data.val, data.test)


def test_logistic_regression_matches_a_grid_search_by_hand(digits):
    train, val, test, folds, results = digits
    means = {}
    with threadpool_limits(1):  # as fast as the module on a busy machine; the results do not depend on it
        for C in (0.01, 0.1, 1, 10):
            scores = []
            for fold_train, fold_val in folds:
                model = LogisticRegression(C=C, max_iter=1000).fit(*flat(fold_train))
                X_val, y_val = flat(fold_val)
                scores.append(float(np.mean(model.predict(X_val) == y_val)))
            means[C] = (float(np.mean(scores)), scores)
        chosen = max(means, key=lambda C: means[C][0])  # the first of equal means, as the module promises
        (X_train, y_train), (X_val, y_val), (X_test, y_test) = flat(train), flat(val), flat(test)
        final = LogisticRegression(C=chosen, max_iter=1000)
        predictions = final.fit(np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])).predict(X_test)

    logistic = results[0]
    assert logistic["name"] == "logistic regression" and logistic["status"] == "done"
    assert logistic["params"] == {"C": chosen}
    assert logistic["cv_scores"] == means[chosen][1] and logistic["cv_mean"] == means[chosen][0]
    assert logistic["predictions"] == predictions.tolist()
    assert logistic["test_accuracy"] == float(np.mean(predictions == y_test))


def test_classifiers_report_every_field_in_test_row_order(digits):
    _, _, test, folds, results = digits
    y_test = test.y.numpy()
    assert [r["name"] for r in results] == CLASSIFIERS
    for result in results:
        assert set(result) == {"name", "params", "cv_scores", "cv_mean", "test_accuracy", "predictions", "seconds",
                               "status"}
        assert result["status"] == "done" and result["seconds"] > 0
        assert len(result["cv_scores"]) == len(folds)
        assert result["cv_mean"] == pytest.approx(np.mean(result["cv_scores"]))
        assert len(result["predictions"]) == len(test) and all(type(p) is int for p in result["predictions"])
        assert result["test_accuracy"] == accuracy_score(y_test, result["predictions"])
        assert result["test_accuracy"] > 0.6  # 10 classes, chance is 0.1: every model here reaches 0.8+
    assert results[1]["params"]["gamma"] == "scale" and results[1]["params"]["C"] in (1, 10, 100)


def test_a_deadline_in_the_past_skips_every_model(digits):
    train, val, test, folds, _ = digits
    results = reference_models("classification", folds, train, val, test, deadline=0.0)
    for result, name in zip(results, CLASSIFIERS, strict=True):
        assert result.pop("seconds") >= 0
        assert result == {"name": name, "params": {}, "cv_scores": [], "cv_mean": None, "test_accuracy": None,
                          "predictions": [], "status": "skipped: budget"}


def test_the_deadline_is_checked_before_each_model_and_grid_point(monkeypatch, digits):
    """A scripted clock: every model built advances it by one second."""
    train, val, test, folds, _ = digits
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(references, "time", SimpleNamespace(perf_counter=lambda: clock.now))

    def ticking(build):
        def build_and_tick(seed, **params):
            clock.now += 1
            return build(seed, **params)
        return build_and_tick

    ticking_references = [Reference(r.name, ticking(r.build), r.grid) for r in references.REFERENCES["classification"]]
    monkeypatch.setitem(references.REFERENCES, "classification", tuple(ticking_references))

    # logistic: 4 grid points x 3 folds + 1 refit = 13 s; SVC's grid starts at 13, 16 and 19 (< 20), refit ends at 23
    results = reference_models("classification", folds, train, val, test, deadline=20.0)
    assert [r["status"] for r in results] == ["done", "done", "skipped: budget"]
    assert [r["seconds"] for r in results] == [13.0, 10.0, 0.0]

    # the logistic regression's third grid point would start at 6 >= 4: it and all after it are skipped
    clock.now = 0.0
    results = reference_models("classification", folds, train, val, test, deadline=4.0)
    assert [r["status"] for r in results] == ["skipped: budget"] * 3
    assert [r["seconds"] for r in results] == [6.0, 0.0, 0.0]


def test_regression_scores_match_sklearn_metrics_on_the_predictions(diabetes):
    data, results = diabetes
    y_test = data.test.y.double().numpy()
    assert [r["name"] for r in results] == REGRESSORS
    for result in results:
        assert result["status"] == "done" and len(result["cv_scores"]) == 1  # holdout: one score
        assert len(result["predictions"]) == len(data.test) and all(type(p) is float for p in result["predictions"])
        mse = mean_squared_error(y_test, result["predictions"])
        assert math.isfinite(result["test_rmse"]) and math.isfinite(result["test_r2"])
        assert result["test_mse"] == pytest.approx(mse, rel=1e-6)
        assert result["test_rmse"] == pytest.approx(math.sqrt(mse), rel=1e-6)
        assert result["test_r2"] == pytest.approx(r2_score(y_test, result["predictions"]), rel=1e-6)
    assert results[0]["test_r2"] > 0.3  # diabetes: a linear model explains roughly half the variance


def test_ridge_is_chosen_on_the_holdout_by_minus_mse(diabetes):
    data, results = diabetes
    (X_train, y_train), (X_val, y_val) = flat(data.train), flat(data.val)
    scores = {alpha: -mean_squared_error(y_val, Ridge(alpha=alpha)
                                          .fit(X_train, y_train).predict(X_val))
              for alpha in (100, 10, 1, 0.1)}
    chosen = max(scores, key=scores.get)  # the first (most regularized) of ties
    assert results[0]["params"] == {"alpha": chosen}
    assert results[0]["cv_scores"] == pytest.approx([scores[chosen]], rel=1e-9)


@pytest.mark.parametrize("outputs", [1, 2])
def test_regression_targets_as_columns_keep_their_shape(outputs):
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(50, 3)).astype(np.float32))
    y = torch.stack([X[:, 0] * (k + 1) + 0.1 * k for k in range(outputs)], dim=1)
    train, val, test = TensorData(X[:30], y[:30]), TensorData(X[30:40], y[30:40]), TensorData(X[40:], y[40:])
    for result in reference_models("regression", None, train, val, test):
        assert np.asarray(result["predictions"]).shape == (10, outputs)
        expected = mean_squared_error(y[40:].double().numpy(), result["predictions"])
        assert result["test_mse"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("task", "folds", "test_rows", "message"),
    [
        ("clustering", None, 5, "`task` must be 'classification' or 'regression', got 'clustering'"),
        ("classification", [], 5, "`folds` must be None or a non-empty list of (train, val) pairs, got []"),
        ("classification", None, 0, "`test` must have at least one row, got 0"),
    ],
)
def test_reference_models_rejects_bad_arguments(task, folds, test_rows, message):
    data = TensorData(torch.zeros(10, 2), torch.arange(10) % 2)
    with pytest.raises(ValueError) as error:
        reference_models(task, folds, data, data, data.subset(range(test_rows)))
    assert str(error.value) == message


def test_r2_of_a_single_test_row_is_nan_without_a_warning(recwarn):
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(21, 3)).astype(np.float32))
    y = X[:, 0] * 2 + 0.5
    train, val, test = TensorData(X[:15], y[:15]), TensorData(X[15:20], y[15:20]), TensorData(X[20:], y[20:])
    for result in reference_models("regression", None, train, val, test):
        assert math.isnan(result["test_r2"])  # R² of one row is undefined (scikit-learn: nan, and a warning)
        assert result["test_mse"] == pytest.approx((result["predictions"][0] - float(y[20])) ** 2, rel=1e-6)
    assert not [w for w in recwarn if "R^2" in str(w.message)]
