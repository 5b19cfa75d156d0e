"""``write_logs``: a History written as a training's MetricsLog and TensorBoard callbacks write it, replacing what
the folder held (the doctor's kept baseline, whose tested model is reused without training again)."""

from __future__ import annotations

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fitguard.train.callbacks.event_logs import read_metrics_log, write_logs
from fitguard.train.history import History


def _history(epochs: int) -> History:
    history = History()
    for epoch in range(1, epochs + 1):
        history.append({"epoch": float(epoch), "loss": 1.0 / epoch, "val_loss": math.nan if epoch == 2 else 2.0 / epoch,
                        "lr": 0.01})
    return history


def test_a_history_is_written_as_the_callbacks_write_it_and_replaces_an_earlier_write(tmp_path):
    write_logs(tmp_path, _history(5))
    write_logs(tmp_path, _history(3))  # a second attempt (--resume) replaces, never adds
    logged = read_metrics_log(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in logged] == [1.0, 2.0, 3.0] and math.isnan(logged[1]["val_loss"])
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert sorted(events.Tags()["scalars"]) == ["loss/train", "loss/val", "train/lr"]
    assert [(e.step, e.value) for e in events.Scalars("loss/train")] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]


def test_without_tensorboard_only_the_metrics_log_is_written(tmp_path):
    write_logs(tmp_path, _history(2), tensorboard=False)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
