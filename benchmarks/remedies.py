"""Each remedy alone vs none vs a combination, on data small enough to overfit heavily.

digits with 10% of its training split (~108 images), a wide MLP (64-512-512-10), 3 seeds: test accuracy and the
train-val accuracy gap (mean ± std) and the fraction of exactly-zero weights for: no remedy, L2, proximal L1, dropout, batch norm, weight noise,
augmentation (shift + small rotation), small batch, and a combination. Every run trains the same fixed number
of epochs (no early stopping: early stopping is itself the strongest remedy here, and with it the others never get
the epochs to act); ``--early-stopping`` adds patience-30 early stopping with the best weights restored.

usage: python benchmarks/remedies.py [--seeds 0 1 2] [--epochs 150] [--early-stopping] [--out benchmarks/results/remedies.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from fitguard.config import parse_config
from fitguard.recipe import build_run, load_data
from fitguard.regularize import sparsity_report

BASE = {
    "data": {"source": "digits", "val": 0.2, "test": 0.2, "train_fraction": 0.1},
    "model": {"name": "mlp", "hidden": [512, 512]},
    "train": {"lr": 1e-3, "batch_size": 32},
}
REMEDIES = {
    "none": {},
    "L2 1e-3": {"remedies": {"penalties": [{"kind": "l2", "lam": 1e-3}]}},
    "proximal L1 1e-2": {"remedies": {"penalties": [{"kind": "l1", "lam": 1e-2, "proximal": True}]}},
    "dropout 0.5": {"model": {"dropout": 0.5}},
    "batch norm": {"model": {"batchnorm": True}},
    "weight noise 0.05 (relative)": {"remedies": {"weight_noise": {"sigma": 0.05, "relative": True}}},
    "augmentation": {"remedies": {"augment": {"rotate": 10, "shift": 0.1, "p": 0.8}}},
    "small batch (8)": {"train": {"batch_size": 8}},
    "L2 + dropout + augmentation": {
        "model": {"dropout": 0.3},
        "remedies": {"penalties": [{"kind": "l2", "lam": 1e-3}], "augment": {"rotate": 10, "shift": 0.1, "p": 0.8}},
    },
}


def merged(base: dict, extra: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/remedies.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, extra in REMEDIES.items():
        tests, gaps, seconds, sparsity = [], [], [], []
        for seed in args.seeds:
            raw = merged(BASE, extra)
            raw["train"] = {**raw["train"], "seed": seed, "max_epochs": args.epochs, "device": "cpu"}
            raw["data"] = {**raw["data"], "seed": seed}
            raw["early_stopping"] = {"patience": 30, "restore_best": True} if args.early_stopping else False
            config = parse_config(raw, name)
            run = build_run(config, data=load_data(config))
            started = time.perf_counter()
            run.trainer.fit(run.data.train, run.data.val)
            seconds.append(time.perf_counter() - started)
            train = run.trainer.evaluate(run.data.train)["accuracy"]
            val = run.trainer.evaluate(run.data.val)["accuracy"]
            tests.append(run.trainer.evaluate(run.data.test)["accuracy"])
            gaps.append(train - val)
            sparsity.append(sparsity_report(run.model).sparsity)
        row = {
            "remedy": name,
            "test_accuracy_mean": statistics.mean(tests), "test_accuracy_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "gap_mean": statistics.mean(gaps), "gap_std": statistics.stdev(gaps) if len(gaps) > 1 else 0.0,
            "seconds_mean": statistics.mean(seconds), "train_size": len(run.data.train),
            "weight_sparsity_mean": statistics.mean(sparsity),
        }
        rows.append(row)
        print(f"{name:32} test {100 * row['test_accuracy_mean']:5.1f} ± {100 * row['test_accuracy_std']:4.1f}   "
              f"gap {100 * row['gap_mean']:5.1f} ± {100 * row['gap_std']:4.1f}   "
              f"zeros {100 * row['weight_sparsity_mean']:5.1f}%   {row['seconds_mean']:5.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": args.seeds, "epochs": args.epochs, "early_stopping": args.early_stopping,
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
