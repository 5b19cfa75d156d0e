"""fitguard.train.callbacks.monitor: the one "did the metric improve" rule, fed scripted sequences.

Oracles: improvements worked out by hand per sequence; the moving average recomputed in the test with its
formula; a resumed monitor against one that ran through.
"""

from __future__ import annotations

import math

import pytest

from fitguard.train import Monitor
from fitguard.train.callbacks.monitor import resolve_mode

NAN = float("nan")


@pytest.mark.parametrize(("metric", "mode", "expected"), [
    ("val_loss", "auto", "min"),
    ("loss", "auto", "min"),
    ("val_error", "auto", "min"),
    ("val_mae", "auto", "min"),
    ("val_rmse", "auto", "min"),
    ("val_penalty", "auto", "min"),
    ("val_accuracy", "auto", "max"),
    ("val_r2", "auto", "max"),
    ("val_loss", "max", "max"),  # an explicit mode wins over the name
    ("val_accuracy", "min", "min"),
])
def test_resolve_mode(metric, mode, expected):
    assert resolve_mode(metric, mode) == expected


def test_resolve_mode_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match=r"^`mode` must be 'min', 'max' or 'auto', got 'best'$"):
        resolve_mode("val_loss", "best")


def _improvements(values, **kwargs):
    monitor = Monitor(**kwargs)
    return [monitor.update(value, epoch) for epoch, value in enumerate(values, start=1)], monitor


# (values, Monitor options, improved per epoch, best, best epoch) -- each worked out by hand
SEQUENCES = [
    ([1.0, 0.9, 0.95, 0.8], {}, [True, True, False, True], 0.8, 4),
    # a tie is no improvement: strictly better only
    ([1.0, 1.0, 0.5, 0.5], {}, [True, False, True, False], 0.5, 3),
    ([0.5, 0.5, 0.7], {"metric": "val_accuracy"}, [True, False, True], 0.7, 3),
    # mode max on a loss name: higher counts as better
    ([1.0, 0.9, 1.1], {"mode": "max"}, [True, False, True], 1.1, 3),
    # absolute delta 0.1: 0.95 and 0.9 are not more than 0.1 below 1.0 (0.9 == 1.0 - 0.1 is not below), 0.85 is
    ([1.0, 0.95, 0.9, 0.85], {"min_delta": 0.1}, [True, False, False, True], 0.85, 4),
    ([0.5, 0.55, 0.61], {"metric": "val_accuracy", "min_delta": 0.1}, [True, False, True], 0.61, 3),
    # relative delta 10%: from 2.0 a better value must be < 1.8; from 1.7 it must be < 1.53
    ([2.0, 1.85, 1.7, 1.6, 1.5], {"min_delta": 0.1, "delta_mode": "relative"},
     [True, False, True, False, True], 1.5, 5),
    # relative in mode max on negative values uses |best|: from -2.0 a better value must be > -1.8
    ([-2.0, -1.9, -1.7], {"metric": "val_score", "min_delta": 0.1, "delta_mode": "relative"},
     [True, False, True], -1.7, 3),
    # a baseline must be beaten first; a value equal to it is not
    ([0.9, 0.5, 0.4], {"baseline": 0.5}, [False, False, True], 0.4, 3),
    ([0.6, 0.8], {"metric": "val_accuracy", "baseline": 0.7}, [False, True], 0.8, 2),
    # NaN never improves, neither as the first value nor later, and leaves the best alone
    ([NAN, 1.0, NAN, 0.9], {}, [False, True, False, True], 0.9, 4),
    ([1.0, NAN, NAN], {}, [True, False, False], 1.0, 1),
    ([NAN, NAN], {}, [False, False], None, None),
    # inf is an ordinary (bad) value: any finite loss beats it
    ([math.inf, 5.0], {}, [True, True], 5.0, 2),
]


@pytest.mark.parametrize(("values", "options", "improved", "best", "best_epoch"), SEQUENCES)
def test_scripted_sequences(values, options, improved, best, best_epoch):
    got, monitor = _improvements(values, **options)
    assert got == improved
    assert monitor.best == best
    assert monitor.best_epoch == best_epoch


def test_the_docstring_example_without_an_epoch_records_none():
    monitor = Monitor("val_loss", min_delta=0.01)
    assert [monitor.update(v) for v in (1.0, 0.995, 0.9)] == [True, False, True]
    assert monitor.best == 0.9 and monitor.best_epoch is None


def test_update_accepts_numbers_that_are_not_floats():
    monitor = Monitor()
    assert monitor.update(3) is True and monitor.best == 3.0 and isinstance(monitor.best, float)


def _ema(values, weight):
    """The exponential moving average, written out from its definition."""
    smoothed = []
    for value in values:
        smoothed.append(value if not smoothed else weight * smoothed[-1] + (1 - weight) * value)
    return smoothed


def test_smoothing_tracks_the_moving_average_and_judges_it():
    values = [1.0, 0.5, 0.9, 0.8, 0.2]
    expected = _ema(values, 0.6)  # 1.0, 0.8, 0.84, 0.824, 0.5744
    monitor = Monitor(smoothing=0.6)
    improved = [monitor.update(value, epoch) for epoch, value in enumerate(values, start=1)]
    assert monitor.smoothed == pytest.approx(expected[-1], abs=1e-12)
    assert improved == [True, True, False, False, True]  # 0.84 and 0.824 do not beat 0.8
    assert monitor.best == pytest.approx(0.5744, abs=1e-12) and monitor.best_epoch == 5


def test_smoothing_restarts_from_the_raw_value_after_a_nan():
    monitor = Monitor(smoothing=0.5)
    assert [monitor.update(v) for v in (1.0, NAN, 0.4, 0.2)] == [True, False, True, True]
    # the NaN poisons the average, so 0.4 starts it afresh: 0.4, then 0.5 * 0.4 + 0.5 * 0.2
    assert monitor.smoothed == pytest.approx(0.3, abs=1e-12)


def test_smoothing_zero_is_the_raw_value():
    monitor = Monitor(smoothing=0.0)
    for value in (1.0, 3.0, 2.0):
        assert monitor.smooth(value) == value


def test_is_better_does_not_touch_the_state():
    monitor = Monitor(min_delta=0.1)
    assert monitor.is_better(0.8, 1.0) is True
    assert monitor.is_better(0.9, 1.0) is False
    assert monitor.is_better(NAN, 1.0) is False
    assert monitor.best is None and monitor.smoothed is None


def test_value_reads_the_metric_from_the_logs():
    assert Monitor("val_accuracy").value({"epoch": 3, "val_accuracy": 1}) == 1.0


def test_value_names_what_is_logged_when_the_metric_is_not():
    logs = {"epoch": 3, "time": 1.5, "loss": 0.4, "val_loss": 0.5, "accuracy": 0.9}
    message = "cannot monitor 'val_accuracy': it is not logged; available metrics: accuracy, loss, val_loss"
    with pytest.raises(ValueError) as caught:
        Monitor("val_accuracy").value(logs)
    assert str(caught.value) == message


@pytest.mark.parametrize(("options", "message"), [
    ({"metric": ""}, "`monitor` must be a metric name such as 'val_loss', got ''"),
    ({"metric": 3}, "`monitor` must be a metric name such as 'val_loss', got 3"),
    ({"mode": "best"}, "`mode` must be 'min', 'max' or 'auto', got 'best'"),
    ({"min_delta": -0.1}, "`min_delta` must be a finite number >= 0, got -0.1"),
    ({"min_delta": math.inf}, "`min_delta` must be a finite number >= 0, got inf"),
    ({"min_delta": NAN}, "`min_delta` must be a finite number >= 0, got nan"),
    ({"min_delta": True}, "`min_delta` must be a finite number >= 0, got True"),
    ({"delta_mode": "percent"}, "`delta_mode` must be 'absolute' or 'relative', got 'percent'"),
    ({"min_delta": 1.0, "delta_mode": "relative"}, "`min_delta` must be < 1 with delta_mode='relative', got 1.0"),
    ({"smoothing": 1}, "`smoothing` must be a number in [0, 1), got 1"),
    ({"smoothing": -0.1}, "`smoothing` must be a number in [0, 1), got -0.1"),
])
def test_bad_arguments_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as caught:
        Monitor(**options)
    assert str(caught.value) == message


def test_a_relative_delta_just_below_one_is_accepted():
    assert Monitor(min_delta=0.99, delta_mode="relative").min_delta == 0.99


def test_config_round_trips_and_keeps_the_arguments_as_given():
    monitor = Monitor("val_accuracy", mode="auto", min_delta=0.05, delta_mode="relative", smoothing=0.3,
                      baseline=0.6)
    config = monitor.get_config()
    assert config == {"metric": "val_accuracy", "mode": "auto", "min_delta": 0.05, "delta_mode": "relative",
                      "smoothing": 0.3, "baseline": 0.6}  # "auto" is kept, not rewritten to "max"
    assert Monitor(**config).get_config() == config


def test_a_resumed_monitor_decides_as_one_that_ran_through():
    values = [1.0, 0.7, 0.9, 0.6, 0.65, 0.5, 0.55]
    options = {"smoothing": 0.5, "min_delta": 0.01}
    straight = Monitor(**options)
    expected = [straight.update(value, epoch) for epoch, value in enumerate(values, start=1)]

    first = Monitor(**options)
    decisions = [first.update(value, epoch) for epoch, value in enumerate(values[:3], start=1)]
    state = first.state_dict()
    assert set(state) == {"best", "best_epoch", "smoothed"}
    resumed = Monitor(**options)
    resumed.load_state_dict(state)
    decisions += [resumed.update(value, epoch) for epoch, value in enumerate(values[3:], start=4)]
    assert decisions == expected
    assert resumed.state_dict() == straight.state_dict()


def test_a_fresh_state_is_empty():
    assert Monitor().state_dict() == {"best": None, "best_epoch": None, "smoothed": None}
