"""GPU throughput: the Trainer against a hand-written loop on a small CNN on CIFAR-10 images (from the zip,
through fitguard's general image loader), flip + translate augmentation on the device, bf16 autocast +
channels_last, optionally torch.compile. Prints images/s for both and writes JSON.

The first epoch of every run (CUDA warm-up, compilation) is left out; both loops evaluate on the validation
split each epoch; the Trainer also runs EarlyStopping + Checkpoint(every_epochs=1) + a JSONL log.

usage: python benchmarks/gpu.py --zip PATH_TO/cifar10-test.zip [--epochs 6] [--out results.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fitguard.augment import images
from fitguard.data import load
from fitguard.models import cnn
from fitguard.train import Checkpoint, EarlyStopping, MetricsLog, Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_loop(model, train, val, epochs, batch_size, augment, compile_model: bool, seed: int = 0) -> list[float]:
    device = train.X.device
    model = model.to(device).to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile_model else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        _sync(device)
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            x, y = augment(train.X[index], train.y[index], generator)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
            for start in range(0, len(val), 1024):
                F.cross_entropy(forward(val.X[start : start + 1024].contiguous(memory_format=torch.channels_last)),
                                val.y[start : start + 1024]).item()
        _sync(device)
        times.append(time.perf_counter() - started)
    return times


def trainer_loop(model, train, val, epochs, batch_size, augment, compile_model: bool, folder: Path) -> list[float]:
    device = train.X.device
    callbacks = [
        EarlyStopping(patience=10_000),
        Checkpoint(folder / "checkpoints", every_epochs=1, every_minutes=None),
        MetricsLog(folder / "metrics.jsonl"),
    ]
    trainer = Trainer(
        model, batch_size=batch_size, max_epochs=epochs, device=device, precision="bf16", channels_last=True,
        compile=compile_model, augment=augment, callbacks=callbacks, seed=0,
    )
    return trainer.fit(train, val)["time"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", type=Path, default=Path("../shared/data/cifar10-test.zip"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--widths", default="64,128,256")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu.json"))
    parser.add_argument("--device", default="cuda", help="cuda (the point of this script) or cpu for a dry run")
    parser.add_argument("--limit", type=int, default=None, help="images per class (dry runs)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA device (or --device cpu for a dry run)")
    options = {"limit_per_class": args.limit} if args.limit else {}
    data = load(str(args.zip), val=0.1, test=0.0, seed=0, **options)
    train, val = data.train.to(args.device), data.val.to(args.device)
    widths = [int(w) for w in args.widths.split(",")]
    torch.manual_seed(0)
    template = cnn(3, 10, widths=widths, batchnorm=True, input_size=(32, 32))
    augment = images(flip=True, shift=0.125, p=0.5)
    rows = []
    for compile_model in ([False] if args.no_compile else [False, True]):
        measured = {"raw": [], "trainer": []}
        for _ in range(2):  # alternate raw, trainer, raw, trainer
            measured["raw"] += raw_loop(copy.deepcopy(template), train, val, args.epochs, args.batch_size, augment,
                                        compile_model)[1:]
            with tempfile.TemporaryDirectory() as folder:
                measured["trainer"] += trainer_loop(copy.deepcopy(template), train, val, args.epochs, args.batch_size,
                                                    augment, compile_model, Path(folder))[1:]
        raw_rate = len(train) / statistics.median(measured["raw"])
        trainer_rate = len(train) / statistics.median(measured["trainer"])
        rows.append({"compile": compile_model, "raw_images_per_s": raw_rate, "trainer_images_per_s": trainer_rate,
                     "ratio": trainer_rate / raw_rate})
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, {len(train)} train images 32x32, batch {args.batch_size}, "
          f"CNN widths {widths}, bf16 + channels_last, flip + translate on the GPU")
    print(f"{'compile':>8} {'raw img/s':>12} {'trainer img/s':>14} {'ratio':>7}")
    for row in rows:
        print(f"{row['compile']!s:>8} {row['raw_images_per_s']:12.0f} {row['trainer_images_per_s']:14.0f} "
              f"{row['ratio']:7.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "train_images": len(train),
                                    "batch_size": args.batch_size, "widths": widths, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
