"""Diverging training stops with its reason, and what was saved before stays intact.

The oracle for "intact": the best checkpoint of a run that blows up at epoch 4 holds exactly the weights of the
same run stopped after epoch 3, and its metrics log holds the same first three rows.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from fitguard.data.tensors import TensorData
from fitguard.train import Callback, Checkpoint, MetricsLog, Trainer
from fitguard.train.callbacks import read_metrics_log


class _BlowUpAt(Callback):
    """Raise the learning rate a millionfold at the start of one epoch (a schedule gone wrong)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if epoch == self.epoch:
            for group in trainer.optimizer.param_groups:
                group["lr"] *= 1e6


def _regression() -> TensorData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=g)
    return TensorData(X, X.sum(dim=1, keepdim=True))


def _fit(directory, max_epochs: int, blow_up_at: int | None = None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    callbacks = [MetricsLog(directory / "metrics.jsonl"), Checkpoint(directory / "checkpoints", every_epochs=1)]
    if blow_up_at is not None:
        callbacks.append(_BlowUpAt(blow_up_at))
    trainer = Trainer(model, loss="mse", optimizer="sgd", lr=0.05, batch_size=16, max_epochs=max_epochs, device="cpu",
                      callbacks=callbacks)
    return trainer, trainer.fit(_regression(), _regression())


def test_nan_loss_stops_the_run_and_the_best_checkpoint_and_log_stay_intact(tmp_path):
    _, reference = _fit(tmp_path / "reference", 3)
    _, history = _fit(tmp_path / "diverged", 20, blow_up_at=4)

    last = history.epochs[-1]
    assert not math.isfinite(last["loss"])
    assert history.stop_reason == f"diverged: training loss is {last['loss']} at epoch {len(history)}"
    assert len(history) < 20

    best = json.loads((tmp_path / "diverged" / "checkpoints" / "best.json").read_text())
    assert best["epoch"] == 3
    saved = load_file(tmp_path / "diverged" / "checkpoints" / "best.safetensors")
    expected = load_file(tmp_path / "reference" / "checkpoints" / "best.safetensors")
    assert saved.keys() == expected.keys()
    for name in expected:
        assert torch.equal(saved[name], expected[name]), name
        assert bool(saved[name].isfinite().all())

    rows = read_metrics_log(tmp_path / "diverged" / "metrics.jsonl")
    assert len(rows) == len(history)
    strip = lambda row: {k: v for k, v in row.items() if k != "time"}  # noqa: E731
    reference_rows = read_metrics_log(tmp_path / "reference" / "metrics.jsonl")
    assert [strip(r) for r in rows[:3]] == [strip(r) for r in reference_rows]
    assert [e["loss"] for e in reference.epochs] == [e["loss"] for e in history.epochs[:3]]


def _sqrt_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # finite at a perfect fit, but its gradient there is 0 * inf = nan
    return (output - target).pow(2).sum().sqrt()


@pytest.mark.parametrize("clip, remedy", [(None, "lower `lr` or set `clip_grad_norm`"), (1.0, "lower `lr`")])
def test_a_non_finite_gradient_stops_the_run_in_the_epoch_it_happens(clip, remedy):
    """The loss of epoch 1 is a finite 0.0; only the gradient norm shows the blow-up (the loss would at epoch 2)."""
    model = torch.nn.Linear(1, 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    history = Trainer(model, loss=_sqrt_loss, optimizer="sgd", lr=0.1, batch_size=8, max_epochs=5, device="cpu",
                      clip_grad_norm=clip).fit(TensorData(torch.ones(8, 1), torch.zeros(8, 1)))
    assert [e["loss"] for e in history.epochs] == [0.0]
    assert history.stop_reason == (
        f"diverged: the gradient norm became non-finite (exploding gradients) at epoch 1; {remedy}"
    )


def test_finite_training_with_clipping_is_not_stopped():
    history = Trainer(torch.nn.Linear(4, 1), loss="mse", optimizer="sgd", lr=0.01, batch_size=16, max_epochs=3,
                      device="cpu", clip_grad_norm=0.5).fit(_regression())
    assert history.stop_reason == "reached max_epochs=3"


def test_the_cli_reports_divergence_and_keeps_the_run_readable(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fitguard.cli", "train", "--data", "synthetic_regression", "--optimizer", "sgd",
         "--lr", "10", "--epochs", "20", "--device", "cpu", "--quiet", "--out", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    reason = json.loads((tmp_path / "run" / "history.json").read_text())["stop_reason"]
    assert reason == "diverged: training loss is inf at epoch 1"
    assert f"1 epochs ({reason}); " in result.stdout
    assert len(read_metrics_log(tmp_path / "run" / "metrics.jsonl")) == 1
    assert json.loads((tmp_path / "run" / "scores.json").read_text())["stop_reason"] == reason
