"""Each remedy alone vs none vs a combination, on data small enough to overfit heavily.

``--data digits`` (the default): digits with 10% of its training split (~108 images); ``fashion``: Fashion-MNIST,
100 images a class; ``mnist1d``: MNIST-1D's 4,000 signals. A wide MLP (inputs-512-512-classes), 3 seeds: test
accuracy and the train-val accuracy gap (mean ± std) and the fraction of exactly-zero weights for: no remedy, L2,
proximal L1, dropout, batch norm, weight noise, augmentation (shift + small rotation; images only), small batch, a
combination, and the regularization cocktail's (Kadra et al., NeurIPS 2021): skip connections, mixup, cutout
(images), SWA over the last quarter, an EMA of the weights, cosine annealing with warm restarts and a snapshot
ensemble of 5 cosine cycles (scored as the mean of its snapshots), Lookahead and FGSM adversarial training.
Every run trains the same fixed number of epochs
(no early stopping: early stopping is itself the strongest remedy here, and with it the others never get the epochs
to act); ``--early-stopping`` adds patience-30 early stopping with the best weights restored (not restored for the
weight averages, which decide the final weights themselves).

usage: python benchmarks/remedies.py [--data digits|fashion|mnist1d] [--seeds 0 1 2] [--epochs 150]
                                     [--early-stopping] [--only NAME ...] [--out benchmarks/results/remedies.json]
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
DATA = {
    "digits": {"source": "digits", "val": 0.2, "test": 0.2, "train_fraction": 0.1},
    "fashion": {"source": "fashion_mnist", "val": 0.2, "options": {"limit_per_class": 100}},
    "mnist1d": {"source": "mnist1d", "val": 0.2, "test": 0.2},
}
IMAGES = ("digits", "fashion")
#: rows that need images (the augmentations)
IMAGE_ONLY = ("augmentation", "L2 + dropout + augmentation", "cutout")
#: rows whose remedy decides the final weights: early stopping may end them but not restore its best epoch
AVERAGING = ("SWA (last 25%)", "EMA 0.999")
REMEDIES = {
    "none": {},
    "L2 1e-3": {"remedies": {"penalties": [{"kind": "l2", "lam": 1e-3}]}},
    # 1e-2 was this row's strength while the proximal step under Adam was lr * lam (far too weak); with the exact
    # step (lr * lam / (sqrt(v_hat) + eps) per weight) it zeroes every weight; 1e-4 is tried beside it
    "proximal L1 1e-2": {"remedies": {"penalties": [{"kind": "l1", "lam": 1e-2, "proximal": True}]}},
    "proximal L1 1e-4": {"remedies": {"penalties": [{"kind": "l1", "lam": 1e-4, "proximal": True}]}},
    "dropout 0.5": {"model": {"dropout": 0.5}},
    "batch norm": {"model": {"batchnorm": True}},
    "weight noise 0.05 (relative)": {"remedies": {"weight_noise": {"sigma": 0.05, "relative": True}}},
    "augmentation": {"remedies": {"augment": {"rotate": 10, "shift": 0.1, "p": 0.8}}},
    "small batch (8)": {"train": {"batch_size": 8}},
    "L2 + dropout + augmentation": {
        "model": {"dropout": 0.3},
        "remedies": {"penalties": [{"kind": "l2", "lam": 1e-3}], "augment": {"rotate": 10, "shift": 0.1, "p": 0.8}},
    },
    "skip connections": {"model": {"residual": True}},
    "mixup 0.2": {"remedies": {"mixup": 0.2}},
    "cutout": {"remedies": {"augment": {"erase": 0.25, "p": 0.8}}},
    "SWA (last 25%)": {"remedies": {"weight_averaging": {"kind": "swa", "start": 0.75}}},
    "EMA 0.999": {"remedies": {"weight_averaging": {"kind": "ema", "decay": 0.999}}},
    "cosine restarts (cycle 10, x2)": {"remedies": {"cosine": {"cycle": 10, "t_mult": 2}}},
    "snapshot ensemble (5 cycles)": {"remedies": {"snapshots": {"cycles": 5}}},
    # the cocktail's last two: Lookahead around Adam (the paper's k = 5, alpha = 0.5) and FGSM adversarial training
    # (epsilon in standardized input units; half the objective on the perturbed batch, as Goodfellow et al.)
    "Lookahead (k=5, alpha=0.5)": {"remedies": {"lookahead": {"k": 5, "alpha": 0.5}}},
    "FGSM eps=0.05": {"remedies": {"adversarial": {"epsilon": 0.05}}},
}


def merged(base: dict, extra: dict) -> dict:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=list(DATA), default="digits")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="only these rows (quoted names)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/remedies.json"))
    args = parser.parse_args()
    for i, name in enumerate(args.only or []):
        if name not in REMEDIES:
            parser.error(f"--only[{i}] = {name!r}; rows: {', '.join(map(repr, REMEDIES))}")
    torch.set_num_threads(1)
    rows = []
    for name, extra in REMEDIES.items():
        if (args.only and name not in args.only) or (args.data not in IMAGES and name in IMAGE_ONLY):
            continue
        tests, gaps, seconds, sparsity = [], [], [], []
        for seed in args.seeds:
            raw = merged({**BASE, "data": DATA[args.data]}, extra)
            raw["train"] = {**raw["train"], "seed": seed, "max_epochs": args.epochs, "device": "cpu"}
            raw["data"] = {**raw["data"], "seed": seed}
            raw["early_stopping"] = ({"patience": 30, "restore_best": name not in AVERAGING} if args.early_stopping
                                     else False)
            config = parse_config(raw, name)
            run = build_run(config, data=load_data(config))
            started = time.perf_counter()
            run.trainer.fit(run.data.train, run.data.val)
            seconds.append(time.perf_counter() - started)
            model = run.final_model()  # the snapshot ensemble's mean, else the trained network
            train = run.trainer.evaluate(run.data.train, model=model)["accuracy"]
            val = run.trainer.evaluate(run.data.val, model=model)["accuracy"]
            tests.append(run.trainer.evaluate(run.data.test, model=model)["accuracy"])
            gaps.append(train - val)
            sparsity.append(sparsity_report(model).sparsity)
        row = {
            "remedy": name, "seeds": list(args.seeds), "test_accuracy": tests,  # per seed: rows pair by seed
            "test_accuracy_mean": statistics.mean(tests),
            "test_accuracy_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "gap_mean": statistics.mean(gaps), "gap_std": statistics.stdev(gaps) if len(gaps) > 1 else 0.0,
            "seconds_mean": statistics.mean(seconds), "train_size": len(run.data.train),
            "weight_sparsity_mean": statistics.mean(sparsity),
        }
        rows.append(row)
        print(f"{name:32} test {100 * row['test_accuracy_mean']:5.1f} ± {100 * row['test_accuracy_std']:4.1f}   "
              f"gap {100 * row['gap_mean']:5.1f} ± {100 * row['gap_std']:4.1f}   "
              f"zeros {100 * row['weight_sparsity_mean']:5.1f}%   {row['seconds_mean']:5.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"data": args.data, "seeds": args.seeds, "epochs": args.epochs,
                                    "early_stopping": args.early_stopping, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
