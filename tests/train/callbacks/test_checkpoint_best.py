"""One notion of "best": Checkpoint's best.safetensors and EarlyStopping's restored weights come from one epoch."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from fitguard.data.tensors import TensorData
from fitguard.train import Checkpoint, EarlyStopping, Trainer


def _jittery_run(tmp_path, smoothing: float, checkpoint_mode: str = "auto"):
    """Noisy labels, a small validation set: val_loss falls, then rises, and smoothing lags its raw minimum."""
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(20, 3, generator=g)

    def rows(n: int) -> TensorData:
        X = torch.randn(n, 20, generator=g)
        return TensorData(X, (X @ teacher + 1.5 * torch.randn(n, 3, generator=g)).argmax(1))

    train, val = rows(60), rows(15)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    stopper = EarlyStopping(patience=6, smoothing=smoothing, restore_best=True)
    checkpoint = Checkpoint(tmp_path, mode=checkpoint_mode, every_minutes=None)
    trainer = Trainer(model, lr=1e-2, max_epochs=30, device="cpu", callbacks=[checkpoint, stopper])
    history = trainer.fit(train, val)
    best = json.loads((tmp_path / "best.json").read_text())
    return trainer, stopper, history, best


def test_with_smoothing_best_safetensors_is_the_epoch_early_stopping_restores(tmp_path) -> None:
    trainer, stopper, history, best = _jittery_run(tmp_path, smoothing=0.7)
    raw_best_epoch = min(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    # the test only means something if smoothing moves the best epoch away from the raw minimum
    assert stopper.restored_epoch != raw_best_epoch
    assert best["epoch"] == stopper.restored_epoch
    saved = load_file(tmp_path / "best.safetensors")
    restored = trainer.model.state_dict()
    assert saved.keys() == restored.keys()
    for name, tensor in saved.items():
        assert torch.equal(tensor, restored[name]), name


def test_without_smoothing_both_pick_the_raw_minimum(tmp_path) -> None:
    _, stopper, history, best = _jittery_run(tmp_path, smoothing=0.0)
    raw_best_epoch = min(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    assert best["epoch"] == stopper.restored_epoch == raw_best_epoch


def test_a_checkpoint_watching_the_other_direction_keeps_its_own_notion(tmp_path) -> None:
    # mode="max" on val_loss is a different question from early stopping's; the checkpoint answers it alone
    _, _, history, best = _jittery_run(tmp_path, smoothing=0.7, checkpoint_mode="max")
    worst_epoch = max(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    assert best["epoch"] == worst_epoch
    assert best["value"] == pytest.approx(history["val_loss"][worst_epoch - 1])


def test_the_train_command_keeps_best_safetensors_from_the_epoch_early_stopping_restores(tmp_path, capsys) -> None:
    from fitguard.cli import main
    from fitguard.train.history import History

    # early stopping on smoothed val_accuracy; the checkpoint used to watch raw val_loss whatever it was told
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {source: wine}\nmodel: {name: mlp, hidden: [16]}\ntrain: {max_epochs: 15, device: cpu}\n"
                    "early_stopping: {monitor: val_accuracy, smoothing: 0.6, patience: 15}\n")
    assert main(["train", str(spec), "--quiet", "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    history = History.load(tmp_path / "run" / "history.json")
    assert best["monitor"] == "val_accuracy"
    assert best["epoch"] == history.best_epoch
