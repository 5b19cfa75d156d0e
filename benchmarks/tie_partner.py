"""Is a tied network worth a place in the kept recipe's ensemble? (``fitguard.doctor.phases.tie_partner``)

On each image set and seed, trained alone on every labelled row (train + validation) and scored once on the test
rows, 2 threads:

  r    the built-in VGG recipe as the doctor loads it for these rows (``fitguard.doctor.phases.load_recipe``: since
       session 31, 2 passes an epoch on at most 192 labelled rows) with the seed
  r2   the same recipe with the seed + ``MEMBER_SEED_STEP`` (the doctor's second ensemble member)
  c    the doctor's first image network (``ARCHITECTURES["image"][0]``) trained as the doctor ships an early-stopped
       network: early stopping on the validation split with the search's passes an epoch, then trained afresh on
       train + validation for the epoch it chose

and the means of their probabilities: r+c (the partner in the second place), r+r2 (a second seed there), r+r2+c (the
partner as a third member). Prints each set's means over the seeds and writes every cell to ``--out``.

    python benchmarks/tie_partner.py --data "digits 10%" "cifar10 50/class" "mnist 50/class" \
        "fashion_mnist 100/class" --seeds 0 1 2
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
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import ARCHITECTURES, load_recipe, schedule
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import MEMBER_SEED_STEP, joined, refit_recipe
from fitguard.search.evaluate import train_recipe
from recipe_variants import IMAGES, dataset

MEANS = {"r": ("r",), "r2": ("r2",), "c": ("c",), "r+c": ("r", "c"), "r+r2": ("r", "r2"), "r+r2+c": ("r", "r2", "c")}


def cell(name: str, seed: int) -> dict:
    """The three trainings on one set and seed: each one's and each mean's test accuracy, and their seconds."""
    data = dataset(name, seed)
    options = DoctorOptions(data=data.name, device="cpu", seed=seed, quiet=True)
    base = base_config(options)
    rows = joined(data.train, data.val)
    probabilities, seconds = {}, {}
    for key, member_seed in (("r", seed), ("r2", seed + MEMBER_SEED_STEP)):
        started = time.perf_counter()
        _, run, _ = train_recipe(base, load_recipe("vgg", len(rows)), data, name="recipe", phase="alone", train=rows,
                                 seed=member_seed)
        seconds[key] = time.perf_counter() - started
        probabilities[key] = run.trainer.predict(data.test.X).softmax(1)
    network = {"model": dict(ARCHITECTURES["image"][0])}
    repeat = schedule(len(data.train), base.train.batch_size, options.search_epochs, options.min_steps)
    started = time.perf_counter()
    _, _, history = train_recipe(base, network, data, name="network", phase="search", train=data.train, val=data.val,
                                 max_epochs=options.search_epochs, repeat=repeat)
    epochs = history.best_epoch or len(history)
    run, _ = refit_recipe(base, network, data, rows=rows, epochs=epochs, repeat=repeat)
    seconds["c"] = time.perf_counter() - started
    probabilities["c"] = run.trainer.predict(data.test.X).softmax(1)
    accuracy = {mean: float((sum(probabilities[k] for k in keys).argmax(1) == data.test.y).float().mean())
                for mean, keys in MEANS.items()}
    return {**accuracy, "network_epochs": epochs, "repeat": repeat, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits 10%"], choices=IMAGES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tie_partner.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    cells: dict[str, dict[str, dict]] = {}
    for name in args.data:
        for seed in args.seeds:
            cells.setdefault(name, {})[str(seed)] = found = cell(name, seed)
            print(f"{name:26s} seed {seed}  " + "  ".join(f"{m} {found[m]:.4f}" for m in MEANS), flush=True)
    print(f"\n{'data':26s} " + " ".join(f"{m:>8s}" for m in MEANS) + "  r+c - r  r+r2+c - r+r2")
    for name, by_seed in cells.items():
        mean = {m: statistics.fmean(c[m] for c in by_seed.values()) for m in MEANS}
        print(f"{name:26s} " + " ".join(f"{mean[m]:8.4f}" for m in MEANS)
              + f"  {100 * (mean['r+c'] - mean['r']):+7.2f}  {100 * (mean['r+r2+c'] - mean['r+r2']):+12.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": args.seeds, "threads": 2, "cells": cells}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
