"""A small training run used by the kill-and-resume tests (run as a subprocess).

usage: python resumable_run.py OUT_DIR [--resume] [--sleep SECONDS]
"""

import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from fitguard.data.tensors import TensorData
from fitguard.train import Callback, Checkpoint, EarlyStopping, MetricsLog, Trainer


class Slow(Callback):
    """Stretch each epoch so the parent can kill the process at chosen moments."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_end(self, trainer, epoch, logs):
        time.sleep(self.seconds)


def main() -> None:
    out = Path(sys.argv[1])
    resume = "--resume" in sys.argv
    sleep = float(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 0.0
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 10, generator=g)
    y = (X[:, 0] + 0.5 * torch.randn(120, generator=g) > 0).long()
    train, val = TensorData(X[:80], y[:80]), TensorData(X[80:], y[80:])
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(32, 2)
    )
    callbacks = [
        EarlyStopping(patience=50, restore_best=True),
        Slow(sleep),
        MetricsLog(out / "metrics.jsonl"),
        Checkpoint(out / "checkpoints", every_epochs=1, keep_last=2),
    ]
    trainer = Trainer(model, lr=3e-3, batch_size=16, max_epochs=15, device="cpu", seed=1, callbacks=callbacks)
    history = trainer.fit(train, val, resume=out / "checkpoints" if resume else None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "final.safetensors"))
    history.save(out / "history.json")


if __name__ == "__main__":
    main()
