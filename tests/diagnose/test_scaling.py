"""The power law against known curves, scipy's curve_fit and hand-solved row counts; scaling_curve with scripted
train_fns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit

from fitguard.diagnose.scaling import PowerLaw, fit_power_law, rows_to_close, scaling_curve

SIZES = [50, 100, 200, 400, 800, 1600, 3200]


def _curve(n: float, a: float, b: float, c: float) -> float:
    return a * n**-b + c


@pytest.mark.parametrize(("a", "b", "c"), [(2.0, 0.5, 0.05), (5.0, 1.2, 0.0), (0.8, 0.3, 0.1), (30.0, 1.0, 0.02)])
def test_exact_points_give_back_the_curve(a: float, b: float, c: float) -> None:
    law = fit_power_law(SIZES, [_curve(n, a, b, c) for n in SIZES])
    assert law.a == pytest.approx(a, rel=1e-6)
    assert law.b == pytest.approx(b, rel=1e-6)
    assert law.c == pytest.approx(c, abs=1e-7)


def test_binomial_noise_fits_no_worse_than_curve_fit_from_the_truth_and_recovers_the_exponent_on_average() -> None:
    a, b, c, n_val = 2.0, 0.5, 0.05, 2000
    exponents = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        errors = [rng.binomial(n_val, _curve(n, a, b, c)) / n_val for n in SIZES]
        law = fit_power_law(SIZES, errors)
        exponents.append(law.b)
        # independent oracle: scipy's curve_fit started at the true parameters finds no lower sum of squares
        reference, _ = curve_fit(_curve, np.array(SIZES, dtype=float), np.array(errors), p0=[a, b, c],
                                 bounds=([0, 1e-3, 0], [np.inf, 4, np.inf]))

        def squares(a_: float, b_: float, c_: float, errors: list[float] = errors) -> float:
            return sum((_curve(n, a_, b_, c_) - e) ** 2 for n, e in zip(SIZES, errors))

        assert squares(law.a, law.b, law.c) <= squares(*reference) + 1e-12
        # extrapolated to 4x the data, within 3 points of the true curve (sd over seeds: about 1 point)
        assert abs(law.predict(12_800) - _curve(12_800, a, b, c)) < 0.03
    # the exponent's sd over seeds is about 0.07, so the mean of 40 is within 0.05 of 0.5 by a wide margin
    assert abs(float(np.mean(exponents)) - b) < 0.05


def test_a_flat_curve_has_no_data_effect() -> None:
    law = fit_power_law([100, 200, 400], [0.2, 0.2, 0.2])
    assert (law.a, law.c) == (pytest.approx(0.0, abs=1e-6), pytest.approx(0.2))
    assert law.rows_for(0.1) is None
    assert rows_to_close(law, 400, 0.0, 0.2) is None


# hand-solved: n = (a / (target - c)) ** (1 / b), rounded up to whole rows
ROWS_TABLE = [
    # a=2, b=1/2, c=0.05; 100 rows: val 0.25, train 0.05; half the gap -> 0.15 -> (2 / 0.1)^2 = 400 rows
    (PowerLaw(2.0, 0.5, 0.05), 100, 0.05, 0.25, 0.5, 300),
    # a quarter of the gap -> 0.2 -> (2 / 0.15)^2 = 177.8 -> 178 rows
    (PowerLaw(2.0, 0.5, 0.05), 100, 0.05, 0.25, 0.25, 78),
    # a=1, b=1, c=0; 200 rows: val 0.005, train 0.001; 0.004 of gap, 3/4 of it -> 0.002 -> 500 rows
    (PowerLaw(1.0, 1.0, 0.0), 200, 0.001, 0.005, 0.75, 300),
    # the target 0.003 -> 333.3 -> 334 rows
    (PowerLaw(1.0, 1.0, 0.0), 200, 0.001, 0.005, 0.5, 134),
    # all of the gap down to a train error at c: unreachable by more data
    (PowerLaw(2.0, 0.5, 0.05), 100, 0.05, 0.25, 1.0, None),
    # target below c
    (PowerLaw(2.0, 0.5, 0.1), 100, 0.0, 0.3, 0.9, None),
    # no gap: nothing to close
    (PowerLaw(2.0, 0.5, 0.05), 100, 0.3, 0.25, 0.5, 0),
    # the measured val error is above the curve: the target is already met at today's size
    (PowerLaw(2.0, 0.5, 0.05), 1000, 0.05, 0.25, 0.5, 0),
]


@pytest.mark.parametrize(("law", "n_now", "train_error", "val_error", "share", "expected"), ROWS_TABLE)
def test_rows_to_close_against_the_hand_solved_curve(law: PowerLaw, n_now: int, train_error: float, val_error: float,
                                                     share: float, expected: int | None) -> None:
    assert rows_to_close(law, n_now, train_error, val_error, share=share) == expected


def test_rows_for_is_the_fewest_rows_reaching_the_error() -> None:
    law = PowerLaw(0.8, 0.3, 0.1)
    for error in (0.5, 0.3, 0.2, 0.15, 0.12):
        rows = law.rows_for(error)
        assert rows == math.ceil((0.8 / (error - 0.1)) ** (1 / 0.3) - 1e-9)
        assert law.predict(rows) <= error * (1 + 1e-12) and (rows == 1 or law.predict(rows - 1) > error)
    assert law.rows_for(0.1) is None and law.rows_for(0.05) is None
    assert law.rows_for(5.0) == 1
    assert PowerLaw(1.0, 0.001, 0.0).rows_for(1e-6) is None  # 1e6000 rows: past any float


def test_scaling_curve_calls_train_fn_per_size_and_fits_the_validation_errors() -> None:
    calls = []

    def train_fn(n: int) -> tuple[float, float]:
        calls.append(n)
        return 0.02, _curve(n, 2.0, 0.5, 0.05)

    curve = scaling_curve(train_fn, [100, 200, 400, 800])
    assert calls == [100, 200, 400, 800]
    assert curve.sizes == [100, 200, 400, 800] and curve.train_errors == [0.02] * 4
    assert (curve.val_law.a, curve.val_law.b, curve.val_law.c) == (
        pytest.approx(2.0, rel=1e-6), pytest.approx(0.5, rel=1e-6), pytest.approx(0.05, abs=1e-7))
    # 800 rows: val 0.05 + 2 / sqrt(800); half the gap to 0.02 -> (2 / (target - 0.05))^2 rows
    val = 0.05 + 2 / math.sqrt(800)
    assert curve.rows_to_close() == math.ceil((2 / (val - (val - 0.02) / 2 - 0.05)) ** 2) - 800 == 8854


@pytest.mark.parametrize(("sizes", "errors", "message"), [
    ([100, 200], [0.3, 0.2], "`sizes` must hold at least 3 sizes to fit a, b and c, got 2"),
    ([100, 100, 400], [0.3, 0.2, 0.1], "`sizes` must be strictly increasing: sizes[1] = 100 follows 100"),
    ([100, 200, 150], [0.3, 0.2, 0.1], "`sizes` must be strictly increasing: sizes[2] = 150 follows 200"),
    ([0, 200, 400], [0.3, 0.2, 0.1], "`sizes[0]` = 0, must be a positive integer"),
    ([100, 200.0, 400], [0.3, 0.2, 0.1], "`sizes[1]` = 200.0, must be a positive integer"),
    ([True, 200, 400], [0.3, 0.2, 0.1], "`sizes[0]` = True, must be a positive integer"),
    ([100, 200, 400], [0.3, 0.2], "`errors` must hold one error per size: 3 sizes, 2 errors"),
    ([100, 200, 400], [0.3, -0.1, 0.1], "`errors[1]` = -0.1, must be finite and >= 0"),
    ([100, 200, 400], [0.3, 0.2, math.nan], "`errors[2]` = nan, must be finite and >= 0"),
])
def test_fit_messages(sizes: list, errors: list, message: str) -> None:
    with pytest.raises(ValueError) as error:
        fit_power_law(sizes, errors)
    assert str(error.value) == message


@pytest.mark.parametrize(("call", "message"), [
    (lambda: PowerLaw(1.0, 0.0, 0.1), "`b` must be finite and > 0, got 0.0"),
    (lambda: PowerLaw(-1.0, 0.5, 0.1), "`a` must be finite and >= 0, got -1.0"),
    (lambda: PowerLaw(1.0, 0.5, math.inf), "`c` must be finite and >= 0, got inf"),
    (lambda: PowerLaw(1.0, 0.5, 0.1).predict(0), "`n` must be > 0, got 0"),
    (lambda: rows_to_close(PowerLaw(1.0, 0.5, 0.1), 0, 0.1, 0.2), "`n_now` must be an integer >= 1, got 0"),
    (lambda: rows_to_close(PowerLaw(1.0, 0.5, 0.1), 10, -0.1, 0.2), "`train_error` = -0.1, must be finite and >= 0"),
    (lambda: rows_to_close(PowerLaw(1.0, 0.5, 0.1), 10, 0.1, math.inf), "`val_error` = inf, must be finite and >= 0"),
    (lambda: rows_to_close(PowerLaw(1.0, 0.5, 0.1), 10, 0.1, 0.2, share=0.0), "`share` must be in (0, 1], got 0.0"),
    (lambda: scaling_curve(lambda n: (0.1, 0.2), [10, 20]),
     "`sizes` must hold at least 3 sizes to fit a, b and c, got 2"),
    (lambda: scaling_curve(lambda n: 0.2, [10, 20, 40]),
     "`train_fn(10)` must return (train_error, val_error), both finite and >= 0, got 0.2"),
    (lambda: scaling_curve(lambda n: (0.1, math.nan), [10, 20, 40]),
     "`train_fn(10)` must return (train_error, val_error), both finite and >= 0, got (0.1, nan)"),
])
def test_other_messages(call, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message
