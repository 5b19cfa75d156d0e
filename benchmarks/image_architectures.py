"""Would a deeper CNN (three conv blocks) earn a place among the doctor's image candidates? Each network, with and
without the doctor's image augmentation, trained as the doctor trains a search candidate (its base spec: early
stopping with patience 15, ``repeat`` so that 100 epochs can take ``min_steps`` steps) on the training split of a
benchmark set, scored on its test split; several seeds (split and training).

The two-block networks are the doctor's first image candidates (``fitguard.doctor.phases.ARCHITECTURES``); the
three-block ones are what a CIFAR-style recipe would add; the last, with 2 convs a block (VGG), was measured as a
doctor candidate in session 16 and left out (better at 120 s, worse at 60 s: ``benchmarks/reference/doctor_cpu.json``,
section ``run_2026-12-05_session16``).
Accuracies do not depend on the machine's load (seeds, threads and epochs are fixed); seconds do.

usage: python benchmarks/image_architectures.py [--data "fashion_mnist 100/class"] [--seeds 0 1 2]
                                                [--out benchmarks/results/image_architectures.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, benchmark_dataset
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import AUGMENT, schedule
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import evaluator, train_recipe

NETWORKS = ({"name": "cnn", "widths": [16, 32], "pool_to": 4}, {"name": "cnn", "widths": [32, 64], "pool_to": 4},
            {"name": "cnn", "widths": [16, 32, 64], "pool_to": 2},
            {"name": "cnn", "widths": [32, 64, 128], "pool_to": 2},
            {"name": "cnn", "widths": [32, 64, 128], "pool_to": 1},
            {"name": "cnn", "widths": [32, 64, 128], "convs": 2, "pool_to": 4})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="fashion_mnist 100/class", choices=list(BENCHMARK))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/image_architectures.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        data = benchmark_dataset(args.data, seed)
        options = DoctorOptions(device="cpu", seed=seed)
        base = base_config(options)
        repeat = schedule(len(data.train), base.train.batch_size, options.search_epochs, options.min_steps)
        for network in NETWORKS:
            for augmented in (False, True):
                recipe = {"model": network, **({"remedies": {"augment": dict(AUGMENT)}} if augmented else {})}
                started = time.perf_counter()
                trial, run, _ = train_recipe(base, recipe, data, name="candidate", phase="architecture",
                                             max_epochs=options.search_epochs, repeat=repeat)
                rows.append({"seed": seed, "network": network, "augmented": augmented, "val": trial.val_score,
                             "test": evaluator(run).evaluate(data.test)["accuracy"], "epochs": trial.epochs,
                             "parameters": trial.parameters, "seconds": time.perf_counter() - started})
                print(rows[-1], flush=True)
    table = []
    for network in NETWORKS:
        for augmented in (False, True):
            tests = [r["test"] for r in rows if r["network"] == network and r["augmented"] == augmented]
            table.append({"network": network, "augmented": augmented, "test_mean": statistics.mean(tests),
                          "test_std": statistics.stdev(tests) if len(tests) > 1 else 0.0, "runs": len(tests)})
            print(f"{json.dumps(network):58} {'augmented' if augmented else 'plain':9} "
                  f"{100 * table[-1]['test_mean']:5.1f} ± {100 * table[-1]['test_std']:3.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"data": args.data, "seeds": args.seeds, "rows": rows, "table": table}, indent=1))


if __name__ == "__main__":
    main()
