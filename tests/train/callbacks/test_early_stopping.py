import math

import pytest
import torch

from fitguard.data.tensors import TensorData
from fitguard.train import EarlyStopping, Trainer


def _run(values, **kwargs):
    """Feed a scripted metric sequence; return (stop epoch or None, best epoch, reason)."""
    stopper = EarlyStopping(**kwargs)
    for epoch, value in enumerate(values, start=1):
        _, stop, reason = stopper.decide(epoch, value)
        if stop:
            return epoch, stopper.best_epoch, reason
    return None, stopper.best_epoch, None


# (values, kwargs, expected stop epoch, expected best/restored epoch)
CASES = [
    ([1.0, 0.9, 0.8, 0.85, 0.86, 0.87], {"patience": 3}, 6, 3),
    ([1.0, 0.9, 0.8, 0.85, 0.86, 0.87], {"patience": 4}, None, 3),
    ([1.0, 0.9, 0.8, 0.85, 0.86, 0.87], {"patience": 0}, 4, 3),
    ([1.0, 0.9, 0.8, 0.85, 0.86, 0.87], {"patience": 1}, 4, 3),
    # min_delta: 0.995 and 0.99 are not improvements of more than 0.01 over 1.0
    ([1.0, 0.995, 0.991, 0.98, 0.975], {"patience": 2, "min_delta": 0.01}, 3, 1),
    # relative delta of 5%: 0.96 is only 4% better than 1.0
    ([1.0, 0.96, 0.94, 0.93, 0.92], {"patience": 2, "min_delta": 0.05, "delta_mode": "relative"}, 5, 3),
    # mode max on accuracy
    ([0.5, 0.6, 0.7, 0.65, 0.69], {"monitor": "val_accuracy", "patience": 2}, 5, 3),
    ([0.5, 0.6, 0.7, 0.65, 0.69], {"monitor": "val_accuracy", "mode": "min", "patience": 2}, 3, 1),
    # baseline never beaten: stops after patience epochs
    ([0.9, 0.85, 0.8], {"patience": 3, "baseline": 0.5}, 3, None),
    # baseline beaten at epoch 3
    ([0.9, 0.6, 0.4, 0.45, 0.5, 0.55], {"patience": 3, "baseline": 0.5}, 6, 3),
    # start_from_epoch: the first 3 epochs are not monitored
    ([5.0, 0.1, 0.2, 1.0, 0.9, 0.95, 0.96], {"patience": 2, "start_from_epoch": 3}, 7, 5),
]


@pytest.mark.parametrize(("values", "kwargs", "stop_epoch", "best_epoch"), CASES)
def test_scripted_sequences(values, kwargs, stop_epoch, best_epoch):
    stopped, best, _ = _run(values, **kwargs)
    assert stopped == stop_epoch
    assert best == best_epoch


def test_smoothing_rides_out_a_lucky_dip_that_stops_the_raw_monitor():
    # a noisy validation curve: one lucky low at epoch 2, then a steady real improvement
    values = [1.0, 0.6, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.58]
    raw_stop, raw_best, _ = _run(values, patience=3)
    smooth_stop, smooth_best, _ = _run(values, patience=3, smoothing=0.8)
    assert (raw_stop, raw_best) == (5, 2)
    assert (smooth_stop, smooth_best) == (None, 9)


def test_ema_values_are_the_documented_recurrence():
    stopper = EarlyStopping(patience=10, smoothing=0.25)
    expected = None
    for epoch, value in enumerate([1.0, 0.5, 0.8, 0.1], start=1):
        stopper.decide(epoch, value)
        expected = value if expected is None else 0.25 * expected + 0.75 * value
        assert stopper.state_dict()["monitor"]["smoothed"] == pytest.approx(expected)


def test_reason_names_metric_delta_best_and_last():
    _, _, reason = _run([1.0, 0.9, 0.95, 0.97], patience=2, min_delta=0.001)
    assert reason == ("val_loss did not improve by more than 0.001 for 2 epochs "
                      "(best 0.9 at epoch 2, last 0.97 at epoch 4)")
    _, _, reason = _run([0.9, 0.8], patience=2, baseline=0.5)
    assert reason == "val_loss did not beat the baseline 0.5 in 2 epochs (last 0.8 at epoch 2)"
    _, _, reason = _run([1.0, math.nan], patience=5)
    assert reason == "val_loss is nan at epoch 2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "`patience` must be an integer >= 0, got -1"),
        ({"patience": 2.5}, "`patience` must be an integer >= 0, got 2.5"),
        ({"mode": "up"}, "`mode` must be 'min', 'max' or 'auto', got 'up'"),
        ({"min_delta": -0.1}, "`min_delta` must be a finite number >= 0, got -0.1"),
        ({"delta_mode": "percent"}, "`delta_mode` must be 'absolute' or 'relative', got 'percent'"),
        ({"smoothing": 1.0}, "`smoothing` must be a number in [0, 1), got 1.0"),
        ({"start_from_epoch": -2}, "`start_from_epoch` must be an integer >= 0, got -2"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        EarlyStopping(**kwargs)
    assert str(error.value) == message


def test_config_round_trips_and_is_not_rewritten():
    stopper = EarlyStopping(monitor="val_accuracy", patience=4, min_delta=0.01, smoothing=0.3, restore_best=True)
    assert EarlyStopping(**stopper.get_config()).get_config() == stopper.get_config()
    assert stopper.get_config()["min_delta"] == 0.01 and stopper.get_config()["mode"] == "auto"


def test_state_dict_resumes_mid_sequence():
    values = [1.0, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88]
    first = EarlyStopping(patience=3)
    for epoch, value in enumerate(values[:4], start=1):
        first.decide(epoch, value)
    second = EarlyStopping(patience=3)
    second.load_state_dict(first.state_dict())
    results = [second.decide(epoch, value)[1] for epoch, value in enumerate(values[4:], start=5)]
    assert results == [False, True, True]


def test_restore_best_loads_the_best_epochs_weights_in_a_real_run():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 20, generator=g)
    train = TensorData(X, torch.randint(0, 3, (60,), generator=g))  # random labels: validation gets worse
    val = TensorData(torch.randn(60, 20, generator=g), torch.randint(0, 3, (60,), generator=g))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 128), torch.nn.ReLU(), torch.nn.Linear(128, 3))
    stopper = EarlyStopping(patience=3, restore_best=True)
    trainer = Trainer(model, lr=1e-2, max_epochs=40, device="cpu", callbacks=[stopper])
    history = trainer.fit(train, val)
    best = min(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    assert stopper.restored_epoch == best == history.best_epoch
    assert history.stop_reason.startswith("early stopping: val_loss did not improve")
    assert trainer.evaluate(val)["loss"] == pytest.approx(history["val_loss"][best - 1], rel=1e-6)


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_the_history_records_what_early_stopping_watched(monitor):
    g = torch.Generator().manual_seed(1)
    data = TensorData(torch.randn(40, 5, generator=g), torch.randint(0, 2, (40,), generator=g))
    stopper = EarlyStopping(monitor=monitor, patience=2, restore_best=False)
    trainer = Trainer(torch.nn.Linear(5, 2), max_epochs=3, device="cpu", callbacks=[stopper])
    history = trainer.fit(data, data)
    assert history.monitor == monitor
    assert history.best_epoch is None  # nothing was restored
    assert Trainer(torch.nn.Linear(5, 2), max_epochs=1, device="cpu").fit(data, data).monitor is None
