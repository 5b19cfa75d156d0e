"""Overfitting onset on scripted curves: clean, noisy, none, late, and unstable runs."""

from __future__ import annotations

import math
import random

import pytest
from scipy.stats import kendalltau

from fitguard.diagnose.onset import mann_kendall, overfitting_onset, running_median
from fitguard.train.history import History


def _history(train: list[float], val: list[float]) -> History:
    return History([{"epoch": e + 1, "loss": t, "val_loss": v} for e, (t, v) in enumerate(zip(train, val))])


def _u_curve(epochs: int, minimum: int, noise: float = 0.0, seed: int = 0) -> History:
    """Training loss decays; validation loss follows it, then rises linearly after epoch ``minimum``."""
    rng = random.Random(seed)
    train = [math.exp(-e / 10) for e in range(1, epochs + 1)]
    val = [0.2 + math.exp(-e / 10) + 0.02 * max(0, e - minimum) + rng.gauss(0, noise) for e in range(1, epochs + 1)]
    return _history(train, val)


def test_running_median_is_centred_and_ignores_spikes() -> None:
    assert running_median([1.0, 9.0, 2.0, 3.0, 4.0], 3) == [1.0, 2.0, 3.0, 3.0, 4.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_kendall_p_value_matches_scipy_kendall_tau(seed: int) -> None:
    rng = random.Random(seed)
    values = [0.05 * i + rng.gauss(0, 0.3) for i in range(25)]
    _, p_value = mann_kendall(values)
    expected = kendalltau(list(range(25)), values, alternative="greater", method="asymptotic").pvalue
    assert p_value == pytest.approx(expected, rel=1e-9)


def test_mann_kendall_sen_slope_of_a_line() -> None:
    assert mann_kendall([3.0 - 0.5 * i for i in range(8)])[0] == -0.5


def test_clean_curve_onset_at_the_minimum() -> None:
    onset = overfitting_onset(_u_curve(60, 25))
    assert onset is not None
    true_min = min(range(1, 61), key=lambda e: 0.2 + math.exp(-e / 10) + 0.02 * max(0, e - 25))
    assert onset.epoch == onset.min_epoch == true_min
    assert onset.confidence > 0.99
    assert onset.p_value < 1e-6 and onset.slope > 0 and onset.train_change < 0


@pytest.mark.parametrize("seed", range(5))
def test_noisy_curve_onset_near_the_minimum(seed: int) -> None:
    onset = overfitting_onset(_u_curve(80, 30, noise=0.03, seed=seed))
    true_min = min(range(1, 81), key=lambda e: 0.2 + math.exp(-e / 10) + 0.02 * max(0, e - 30))
    assert onset is not None
    assert abs(onset.epoch - true_min) <= 5
    assert 0.5 < onset.confidence <= 1.0


@pytest.mark.parametrize("seed", range(5))
def test_no_overfitting_when_validation_keeps_falling(seed: int) -> None:
    rng = random.Random(seed)
    train = [math.exp(-e / 10) for e in range(1, 81)]
    val = [0.2 + math.exp(-e / 20) + rng.gauss(0, 0.01) for e in range(1, 81)]
    assert overfitting_onset(_history(train, val)) is None


@pytest.mark.parametrize("seed", range(5))
def test_no_overfitting_on_a_noisy_plateau(seed: int) -> None:
    rng = random.Random(seed)
    train = [math.exp(-e / 10) for e in range(1, 81)]
    val = [0.5 + rng.gauss(0, 0.03) for _ in range(80)]
    assert overfitting_onset(_history(train, val)) is None


def test_late_overfitting_is_found_at_the_end() -> None:
    rng = random.Random(0)
    train = [1.0 - 0.009 * e for e in range(1, 101)]
    val = [1.0 - 0.008 * min(e, 88) + 0.02 * max(0, e - 88) + rng.gauss(0, 0.005) for e in range(1, 101)]
    onset = overfitting_onset(_history(train, val))
    assert onset is not None
    assert 86 <= onset.epoch <= 90


def test_too_few_epochs_after_the_minimum_is_not_yet_overfitting() -> None:
    assert overfitting_onset(_u_curve(100, 97)) is None


def test_rising_training_loss_is_instability_not_overfitting() -> None:
    val = [1.0 - 0.02 * e for e in range(20)] + [0.6 + 0.03 * e for e in range(20)]
    train = [1.0 - 0.02 * e for e in range(20)] + [0.6 + 0.01 * e for e in range(20)]
    assert overfitting_onset(_history(train, val)) is None
    falling = [1.0 - 0.02 * e for e in range(40)]
    assert overfitting_onset(_history(falling, val)).epoch == 21  # val_loss 0.6 is the 21st value


def test_bad_input_messages() -> None:
    h = _u_curve(30, 10)
    for kwargs, message in [
        ({"window": 4}, "`window` must be an odd integer >= 1, got 4"),
        ({"alpha": 1.5}, "`alpha` must be in (0, 1), got 1.5"),
        ({"min_epochs_after": 1}, "`min_epochs_after` must be >= 2, got 1"),
        ({"monitor": "val_acc"}, "`monitor` 'val_acc' is not in the history; available: epoch, loss, val_loss"),
    ]:
        with pytest.raises(ValueError) as error:
            overfitting_onset(h, **kwargs)
        assert str(error.value) == message
