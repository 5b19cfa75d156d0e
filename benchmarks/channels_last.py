"""Channels-last memory on the CPU: what ``Trainer(channels_last="auto")`` (the spec's default, ``train.channels_last``)
gains on the convolutional networks the doctor trains, against the default (contiguous, channels-first) layout in the
same run.

Each case is one network on random images of one shape (what the doctor trains on the 8x8 digits, 28x28
Fashion-MNIST/MNIST and 32x32 CIFAR-10): the VGG recipe's network (``fitguard.doctor.phases.RECIPES["vgg"]``) and
the doctor's small CNNs. Both layouts start from the same weights and train on the same batches with
``fitguard.train.Trainer`` (SGD with momentum, batch 64, ``--epochs`` epochs of ``--rows`` rows, validation on a
quarter as many rows each epoch): the time ratio is default / channels-last (above 1: channels-last is faster). The
rounds alternate which layout goes first, and the table shows the median ratio with the lowest and highest round's.
``loss difference``: the largest relative difference between the two layouts' per-epoch training losses (float
rounding in the convolutions, nothing more).

Run it alone (on 2 cores a second process makes the timings meaningless).

usage: python benchmarks/channels_last.py [--rounds 5] [--epochs 2] [--rows 512] [--threads 2]
                                          [--out benchmarks/results/channels_last.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from fitguard.data import TensorData
from fitguard.doctor.phases import RECIPES
from fitguard.models import build_network
from fitguard.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
VGG = RECIPES["vgg"]["model"]
CASES = [  # (label, network options, input shape)
    ("VGG recipe, 1x8x8", VGG, (1, 8, 8)),
    ("VGG recipe, 1x28x28", VGG, (1, 28, 28)),
    ("VGG recipe, 3x32x32", VGG, (3, 32, 32)),
    ("cnn 16x32 pooled to 4, 1x8x8", {"name": "cnn", "widths": [16, 32], "pool_to": 4}, (1, 8, 8)),
    ("cnn 16x32 pooled to 4, 1x28x28", {"name": "cnn", "widths": [16, 32], "pool_to": 4}, (1, 28, 28)),
    ("cnn 32x64 pooled to 4, 1x28x28", {"name": "cnn", "widths": [32, 64], "pool_to": 4}, (1, 28, 28)),
    ("cnn 16x32 pooled to 4, 3x32x32", {"name": "cnn", "widths": [16, 32], "pool_to": 4}, (3, 32, 32)),
]


def network(spec: dict, shape: tuple[int, ...]) -> torch.nn.Module:
    """The case's network for 10 classes (``spec``: its ``name`` and options)."""
    return build_network(spec["name"], shape, 10, {k: v for k, v in spec.items() if k != "name"})


def fit(spec: dict, shape: tuple[int, ...], channels_last: bool, train: TensorData, val: TensorData, epochs: int,
        weights: dict[str, torch.Tensor]) -> tuple[float, list[float]]:
    """One Trainer fit from ``weights``; its seconds and per-epoch training losses."""
    model = network(spec, shape)
    model.load_state_dict(weights)
    trainer = Trainer(model, optimizer="sgd", lr=0.05, batch_size=64, max_epochs=epochs, device="cpu",
                      channels_last=channels_last, seed=0)
    started = time.perf_counter()
    history = trainer.fit(train, val)
    return time.perf_counter() - started, [float(x) for x in history["loss"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "channels_last.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'network, input':34} {'default s':>10} {'last s':>8} {'ratio':>6} {'range':>11} {'loss difference':>16}")
    for label, spec, shape in CASES:
        generator = torch.Generator().manual_seed(0)
        train = TensorData(torch.randn(args.rows, *shape, generator=generator),
                           torch.randint(0, 10, (args.rows,), generator=generator))
        val = TensorData(torch.randn(args.rows // 4, *shape, generator=generator),
                         torch.randint(0, 10, (args.rows // 4,), generator=generator))
        torch.manual_seed(0)
        weights = copy.deepcopy(network(spec, shape).state_dict())
        fit(spec, shape, True, train, val, 1, weights)  # warm-up: oneDNN's kernels for these shapes
        fit(spec, shape, False, train, val, 1, weights)
        seconds: dict[bool, list[float]] = {False: [], True: []}
        losses: dict[bool, list[float]] = {}
        for round_ in range(args.rounds):
            for layout in ((False, True) if round_ % 2 == 0 else (True, False)):
                took, losses[layout] = fit(spec, shape, layout, train, val, args.epochs, weights)
                seconds[layout].append(took)
        ratios = [a / b for a, b in zip(seconds[False], seconds[True], strict=True)]
        difference = max(abs(a - b) / abs(a) for a, b in zip(losses[False], losses[True], strict=True))
        row = {"case": label, "shape": list(shape), "default_s": statistics.median(seconds[False]),
               "channels_last_s": statistics.median(seconds[True]), "ratio": statistics.median(ratios),
               "ratio_low": min(ratios), "ratio_high": max(ratios), "loss_relative_difference": difference}
        rows.append(row)
        print(f"{label:34} {row['default_s']:10.2f} {row['channels_last_s']:8.2f} {row['ratio']:6.2f} "
              f"{row['ratio_low']:5.2f}-{row['ratio_high']:<5.2f} {difference:16.1e}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "settings": {"rounds": args.rounds, "epochs": args.epochs, "rows": args.rows, "threads": args.threads,
                     "batch_size": 64, "torch": torch.__version__,
                     "machine": platform.processor() or platform.machine()},
        "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
