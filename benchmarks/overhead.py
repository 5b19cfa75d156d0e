"""Trainer overhead against a hand-written PyTorch loop: same model, data, seed; the losses must match exactly.

The Trainer runs with EarlyStopping + Checkpoint(every_epochs=1) + a JSONL metrics log; the raw loop does what a
careful user writes by hand (shuffle from a seeded generator, train, evaluate on validation each epoch, track the
losses). Runs alternate (raw, trainer, raw, trainer, ...) so machine noise hits both alike; the table shows the
median throughput ratio trainer/raw (target >= 0.97). By default time is this process's CPU time, which stays
steady on a shared machine (the checkpoint writer thread's work counts too); ``--clock wall`` for elapsed time.

usage: python benchmarks/overhead.py [--repeats 5] [--epochs 20] [--out benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fitguard.data import load
from fitguard.data.tensors import TensorData
from fitguard.models import cnn, mlp
from fitguard.train import Checkpoint, EarlyStopping, MetricsLog, Trainer


def raw_loop(model, train: TensorData, val: TensorData, epochs: int, batch_size: int, lr: float, seed: int):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            x, y = train.X[index], train.y[index]
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(train))
        model.eval()
        with torch.no_grad():
            F.cross_entropy(model(val.X), val.y).item()
    return losses


def trainer_loop(model, train, val, epochs, batch_size, lr, seed, folder: Path, callbacks: bool = True):
    callbacks = [
        EarlyStopping(patience=10_000),
        Checkpoint(folder / "checkpoints", every_epochs=1, every_minutes=None),
        MetricsLog(folder / "metrics.jsonl"),
    ] if callbacks else []
    trainer = Trainer(model, lr=lr, batch_size=batch_size, max_epochs=epochs, device="cpu", seed=seed, callbacks=callbacks)
    return trainer.fit(train, val)["loss"]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def case(name, make_model, train, val, epochs, batch_size, repeats, seed=0, clock="cpu", callbacks=True):
    now = CLOCKS[clock]
    raw_times, trainer_times, identical = [], [], True
    for _ in range(repeats):
        torch.manual_seed(123)
        model = make_model()
        twin = make_model()
        twin.load_state_dict(model.state_dict())
        started = now()
        raw_losses = raw_loop(model, train, val, epochs, batch_size, 1e-3, seed)
        raw_times.append(now() - started)
        with tempfile.TemporaryDirectory() as folder:
            started = now()
            trainer_losses = trainer_loop(twin, train, val, epochs, batch_size, 1e-3, seed, Path(folder), callbacks)
            trainer_times.append(now() - started)
        identical &= raw_losses == trainer_losses
    samples = epochs * len(train)
    raw_rate = samples / statistics.median(raw_times)
    trainer_rate = samples / statistics.median(trainer_times)
    return {
        "case": name,
        "raw_samples_per_s": raw_rate,
        "trainer_samples_per_s": trainer_rate,
        "ratio": trainer_rate / raw_rate,
        "losses_identical": identical,
        "epochs": epochs,
        "repeats": repeats,
        "clock": clock,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/overhead.json"))
    parser.add_argument("--skip-fashion", action="store_true", help="only the digits MLP case")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this process's CPU time (steady on a shared machine; includes the checkpoint "
                             "writer thread); wall: elapsed time")
    args = parser.parse_args()
    torch.set_num_threads(1)  # two cores shared with the OS: one thread keeps both loops' timings steady
    results = []
    digits = load("digits", val=0.2, test=0.2, seed=0)
    results.append(case(
        "MLP 64-256-256-10 on digits, batch 32",
        lambda: mlp(64, 10, hidden=[256, 256]), digits.train, digits.val, args.epochs, 32, args.repeats, clock=args.clock,
    ))
    results.append(case(
        "  the same, Trainer without callbacks",
        lambda: mlp(64, 10, hidden=[256, 256]), digits.train, digits.val, args.epochs, 32, args.repeats, clock=args.clock,
        callbacks=False,
    ))
    if not args.skip_fashion:
        try:
            fashion = load("fashion_mnist", val=0.2, seed=0, limit_per_class=125, test_limit_per_class=10)
        except (FileNotFoundError, ValueError) as error:
            print(f"skipping Fashion-MNIST: {error}")
        else:
            results.append(case(
                "CNN 16-32 on 1,000 Fashion-MNIST images, batch 32",
                lambda: cnn(1, 10, widths=[16, 32], input_size=(28, 28)), fashion.train, fashion.val,
                max(2, args.epochs // 4), 32, args.repeats, clock=args.clock,
            ))
    print(f"{'case':55} {'raw/s':>10} {'trainer/s':>10} {'ratio':>7} {'same losses':>12}")
    for r in results:
        print(f"{r['case']:55} {r['raw_samples_per_s']:10.0f} {r['trainer_samples_per_s']:10.0f} "
              f"{r['ratio']:7.3f} {str(r['losses_identical']):>12}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"torch": torch.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
