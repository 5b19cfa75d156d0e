"""The test figures beside accuracy and MSE -- balanced accuracy, per-class recall, RMSE and R² with bootstrap
intervals -- against scikit-learn's metrics, and the intervals against a brute-force loop of scikit-learn calls on
the same resampled rows."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
    recall_score,
    root_mean_squared_error,
)

from fitguard.diagnose import bootstrap_interval, bootstrap_statistics, paired_bootstrap
from fitguard.doctor import evidence


def resampled(rows: int, seed: int = 0, rounds: int = evidence.ROUNDS):
    """The resamples every bootstrap of the doctor draws: numpy's default_rng(seed), one line of rows per round."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, rows, size=rows) for _ in range(rounds)]


def brute_interval(metric, *arrays, seed=0):
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a resample without some class: sklearn warns and averages the rest
        for rows in resampled(len(arrays[0]), seed):
            values.append(metric(*(a[rows] for a in arrays)))
    return np.quantile(values, [0.025, 0.975])


def skewed_predictions(seed: int, rows: int = 300):
    rng = np.random.default_rng(seed)
    y = rng.choice(4, rows, p=[0.7, 0.15, 0.1, 0.05])
    # the big class is nearly always right, the rare ones often mistaken for it
    predicted = np.where(rng.random(rows) < np.array([0.97, 0.7, 0.5, 0.3])[y], y, 0)
    return y, predicted


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_accuracy_and_recall_equal_scikit_learns(seed):
    y, predicted = skewed_predictions(seed)
    found = evidence.figure("classification", y, predicted, seed=seed, class_names=("a", "b", "c", "d"))
    balanced = found["balanced_accuracy"]
    assert balanced["value"] == pytest.approx(balanced_accuracy_score(y, predicted), abs=1e-12)
    assert [balanced["low"], balanced["high"]] == pytest.approx(
        list(brute_interval(balanced_accuracy_score, y, predicted, seed=seed)), abs=1e-12)
    assert [r["class"] for r in found["recall"]] == ["a", "b", "c", "d"]
    assert [r["value"] for r in found["recall"]] == pytest.approx(list(recall_score(y, predicted, average=None)))
    assert [r["rows"] for r in found["recall"]] == np.bincount(y, minlength=4).tolist()
    # accuracy flatters a model that leans on the big class; the balanced figure does not
    assert found["value"] > balanced["high"]


def test_a_class_without_test_rows_has_no_recall_and_does_not_count():
    y, predicted = np.array([0, 0, 1, 1, 1]), np.array([0, 2, 1, 1, 0])
    found = evidence.figure("classification", y, predicted, class_names=("a", "b", "c"))
    assert found["recall"][2] == {"class": "c", "value": None, "rows": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert found["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y, predicted))


@pytest.mark.parametrize("columns", [1, 3])
def test_rmse_and_r2_with_intervals_equal_scikit_learns(columns):
    rng = np.random.default_rng(columns)
    y = rng.normal(150, 70, size=(200, columns))
    predicted = y * 0.6 + 60 + rng.normal(0, 40, size=y.shape)
    found = evidence.figure("regression", y, predicted, seed=3)

    def rmse(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2)))  # the root of the MSE over every value

    assert found["rmse"]["value"] == pytest.approx(rmse(y, predicted), rel=1e-12)
    if columns == 1:
        assert found["rmse"]["value"] == pytest.approx(root_mean_squared_error(y, predicted), rel=1e-12)
    assert found["r2"]["value"] == pytest.approx(r2_score(y, predicted), rel=1e-12)
    assert [found["rmse"]["low"], found["rmse"]["high"]] == pytest.approx(
        list(brute_interval(rmse, y, predicted, seed=3)), rel=1e-10)
    assert [found["r2"]["low"], found["r2"]["high"]] == pytest.approx(
        list(brute_interval(r2_score, y, predicted, seed=3)), rel=1e-10)
    assert [found["low"], found["high"]] == pytest.approx(
        list(brute_interval(lambda a, b: np.mean((a - b) ** 2), y, predicted, seed=3)), rel=1e-10)


def test_r2_of_a_constant_resample_follows_scikit_learn():
    # two rows: some resamples hold one row twice (a constant target), where sklearn says 1.0 if exact else 0.0
    y, predicted = np.array([1.0, 3.0]), np.array([1.0, 2.0])
    found = evidence.figure("regression", y, predicted)
    assert [found["r2"]["low"], found["r2"]["high"]] == pytest.approx(list(brute_interval(r2_score, y, predicted)))


def test_regression_scores_are_the_trainers_names_in_the_given_units():
    rng = np.random.default_rng(5)
    y = rng.normal(150, 70, size=(120, 1))
    predicted = y + rng.normal(0, 30, size=y.shape)
    scores = evidence.regression_scores(y, predicted)
    assert scores == pytest.approx({"loss": float(np.mean((y - predicted) ** 2)),
                                    "mae": mean_absolute_error(y, predicted),
                                    "rmse": root_mean_squared_error(y, predicted), "r2": r2_score(y, predicted)})


def test_bootstrap_helpers_draw_the_same_resamples_as_the_paired_bootstrap():
    rng = np.random.default_rng(9)
    first, second = rng.normal(size=500), rng.normal(0.1, 1.0, size=500)
    differences = second - first
    means = bootstrap_statistics(lambda rows: differences[rows].mean(axis=1), 500, rounds=3000, seed=4)
    expected = np.array([differences[rows].mean() for rows in resampled(500, seed=4, rounds=3000)])
    np.testing.assert_allclose(means, expected, rtol=1e-12)
    paired = paired_bootstrap(first, second, rounds=3000, seed=4)
    assert [paired.low, paired.high] == pytest.approx(list(np.quantile(expected, [0.025, 0.975])), rel=1e-12)
    several = bootstrap_interval(lambda rows: np.stack([differences[rows].mean(1), differences[rows].max(1)], 1),
                                 500, rounds=3000, seed=4)
    assert several.shape == (2, 2)
    assert list(several[:, 0]) == pytest.approx([paired.low, paired.high], rel=1e-12)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bootstrap_statistics(lambda rows: rows.mean(1), 0), "`rows` must be an integer >= 1, got 0"),
    (lambda: bootstrap_statistics(lambda rows: rows.mean(1), 5, rounds=0), "`rounds` must be an integer >= 1, got 0"),
    (lambda: bootstrap_interval(lambda rows: rows.mean(1), 5, confidence=1.0),
     "`confidence` must be a number in (0, 1), got 1.0"),
])
def test_bad_bootstrap_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message
