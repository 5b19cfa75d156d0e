"""Which parts of a complete recipe (``fitguard doctor --recipe``) earn their place? The built-in recipe
(``fitguard.doctor.phases.RECIPES``) and variants of it, each trained alone as the ``VGG recipe`` peer of
``benchmarks/peers.py`` is -- its fixed schedule on every labelled row (train + validation), no selection -- and
scored once on the test rows (the recipe as written: since session 31 the doctor loads it with 2 passes an epoch on
at most 192 labelled rows, ``phases.load_recipe``, which is the "2 passes an epoch" variant here); several split
seeds, each variant on the same rows, seed and threads as the recipe as given, so that the per-seed differences are
paired.

The variants are what the peer has and the recipe has not, or what the recipe had: the peer's flips (and its label
smoothing, which the recipe has since session 33: "+ label smoothing 0.1" is the recipe as given now, "no label
smoothing" the recipe before); the schedule the recipe had until session 19 (a cosine decay from 0.05 from the first
step, no Nesterov momentum; it has the peer's one cycle since), the one cycle without Nesterov or peaking at 0.05;
and the 4x4-pooled head it had until session 18 (the peer pools globally). ``--data`` takes the doctor's benchmark
sets, the held-out image sets (``heldout.HELDOUT``), which were never used to choose a variant, and issue 16's
CIFAR-10 100/class (``heldout.TARGETS``), which was. Accuracies do not depend on the machine's load (seeds, threads
and epochs are fixed); seconds do.

Each cell also scores flip test-time augmentation on the same trained model (``test_mirror``: each prediction the
mean of the probabilities for the image and its left-right mirror, as ``MeanEnsemble(mirror=True)`` and
``fitguard doctor`` predict; ``test_mirrored``: the mirrored images alone), and the rows only one of mirror and plain
got right (an exact McNemar test per cell, the same model on both sides); ``--mirror`` prints that table.

usage: python benchmarks/recipe_variants.py [--recipe vgg] [--data "fashion_mnist 100/class" ...]
                                            [--variants "as given" ...] [--seeds 0 1 2] [--mirror]
                                            [--out benchmarks/results/recipe_variants.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import benchmark_dataset
from fitguard.data import Dataset
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import RECIPES
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import joined
from fitguard.search.evaluate import train_recipe
from heldout import HELDOUT, TARGETS


def _with(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """A variant: ``section={key: value}`` set on a copy of the recipe (``remedies.augment``'s keys added to the
    recipe's own augmentation; a value of None removes the key)."""
    def change(recipe: dict[str, Any]) -> None:
        for section, values in changes.items():
            for key, value in values.items():
                part = recipe.setdefault(section, {})
                if value is None:
                    part.pop(key, None)
                elif section == "remedies" and key == "augment":
                    part["augment"] = {**part.get("augment", {}), **value}
                else:
                    part[key] = value
    return change


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "as given": _with(),
    "head pooled to 4": _with(model={"pool_to": 4}),
    "+ label smoothing 0.1, flips": _with(train={"label_smoothing": 0.1}, remedies={"augment": {"flip": True}}),
    "SGD lr 0.05": _with(train={"lr": 0.05}),
    "+ flips": _with(remedies={"augment": {"flip": True}}),
    "+ label smoothing 0.1": _with(train={"label_smoothing": 0.1}),  # the recipe as given since session 33
    "no label smoothing (until session 33)": _with(train={"label_smoothing": None}),
    "+ flips, label smoothing 0.1": _with(train={"label_smoothing": 0.1}, remedies={"augment": {"flip": True}}),
    # the schedule until session 19: a cosine decay from 0.05 from the first step, no Nesterov (the recipe now has
    # the peer's one cycle: a warm-up over the first quarter of the steps to 0.1, Nesterov momentum)
    "cosine from 0.05 (until session 19)": _with(train={"lr": 0.05, "nesterov": None},
                                                 remedies={"one_cycle": None, "cosine": {}}),
    "one cycle, no Nesterov": _with(train={"nesterov": None}),
    # the peer's erasing: up to 15% of an image (the recipe's up to 25%)
    "erase up to 15%": _with(remedies={"augment": {"erase": 0.15}}),
    # the schedule shortened (the one cycle is sized from max_epochs): what a budget too small for 60 epochs costs
    **{f"{epochs} epochs": _with(train={"max_epochs": epochs}) for epochs in (15, 20, 30, 40)},
    # more passes over the rows an epoch (its one cycle over as many more steps): what the doctor's final training
    # gave the recipe by accident until session 23 (the search's repeat 2 on 500 labelled rows)
    **{f"{passes} passes an epoch": _with(train={"repeat": passes}) for passes in (2, 3)},
}


# the image sets of both suites, issue 16's target set, and the 8x8 digits (the recipe takes 2 steps an epoch on
# digits 10%'s 90 rows)
IMAGES = ["fashion_mnist 100/class", "mnist 50/class", "cifar10 50/class", "cifar10 100/class", "digits 10%",
          "digits 100%"]


def dataset(name: str, seed: int) -> Dataset:
    named = {**HELDOUT, **TARGETS}
    return named[name](seed) if name in named else benchmark_dataset(name, seed)


def alone(recipe: dict[str, Any], data: Dataset, seed: int) -> dict[str, Any]:
    """The recipe's fixed schedule on train + validation, scored on test (validation is scored too but chooses
    nothing: a fixed schedule has no early stopping)."""
    base = base_config(DoctorOptions(data=data.name, device="cpu", seed=seed, quiet=True))
    if data.val is None or data.test is None:
        raise ValueError(f"{data.name!r} needs validation and test splits")
    rows = joined(data.train, data.val)
    started = time.perf_counter()
    _, run, history = train_recipe(base, recipe, data, name="recipe", phase="alone", train=rows)
    seconds = time.perf_counter() - started
    X, y = data.test.X, data.test.y
    plain, mirrored = run.trainer.predict(X).softmax(1), run.trainer.predict(X.flip(-1)).softmax(1)
    right, mirror_right = plain.argmax(1) == y, ((plain + mirrored) / 2).argmax(1) == y
    return {"test": float(right.float().mean()), "seconds": seconds, "epochs": len(history), "rows": len(rows),
            "test_mirror": float(mirror_right.float().mean()),
            "test_mirrored": float((mirrored.argmax(1) == y).float().mean()),
            "only_mirror": int((mirror_right & ~right).sum()), "only_plain": int((right & ~mirror_right).sum())}


def mirror_table(cells: Cells, seeds: list[int]) -> list[dict[str, Any]]:
    """Print and return each (data, variant)'s plain and flip test-time augmented test accuracy, the mirrored images
    alone, and per seed the exact McNemar p-value of mirror against plain (the same model; rows only one got right).

    Args:
        cells: ``cells[data][variant][str(seed)]`` from :func:`alone`.
        seeds: the seeds every variant ran.
    """
    import numpy as np

    from fitguard.diagnose import mcnemar_exact

    def mcnemar(only_plain: int, only_mirror: int) -> Any:  # the discordant rows are all the test needs
        plain = np.array([True] * only_plain + [False] * only_mirror)
        return mcnemar_exact(plain, ~plain)

    table = []
    print(f"\n{'data':26s} {'variant':32s} {'plain':>7s} {'mirror':>7s} {'mirrored':>9s}  per seed: mirror - plain (p)")
    for name, by_variant in cells.items():
        for variant, by_seed in by_variant.items():
            cell = [by_seed[str(s)] for s in seeds]
            if not all("test_mirror" in c for c in cell):
                continue
            tests = [mcnemar(c["only_plain"], c["only_mirror"]) for c in cell]
            row = {"data": name, "variant": variant, **{k: statistics.mean(c[k] for c in cell)
                                                        for k in ("test", "test_mirror", "test_mirrored")},
                   "deltas": [c["test_mirror"] - c["test"] for c in cell], "p_values": [t.p_value for t in tests]}
            table.append(row)
            shown = "  ".join(f"{d:+.3f} ({p:.0e})" for d, p in zip(row["deltas"], row["p_values"], strict=True))
            print(f"{name:26s} {variant:32s} {row['test']:7.3f} {row['test_mirror']:7.3f} {row['test_mirrored']:9.3f}"
                  f"  {shown}")
    return table


Cells = dict[str, dict[str, dict[str, dict[str, Any]]]]  # cells[data][variant][str(seed)]


def paired_table(cells: Cells, seeds: list[int], reference: str) -> list[dict[str, Any]]:
    """Print and return each (data, variant)'s test mean ± sd and its per-seed differences from ``reference``.

    Args:
        cells: ``cells[data][variant][str(seed)]`` with ``test`` and ``seconds``.
        seeds: the seeds every variant ran.
        reference: the variant the others are compared with, seed by seed.
    """
    table = []
    print(f"\n{'data':26s} {'variant':32s} {'test mean ± sd':>16s} {'vs ' + reference + ', per seed':>30s} {'s':>6s}")
    for name, by_variant in cells.items():
        given = by_variant[reference]
        for variant, by_seed in by_variant.items():
            tests = [by_seed[str(s)]["test"] for s in seeds]
            deltas = [by_seed[str(s)]["test"] - given[str(s)]["test"] for s in seeds]
            row = {"data": name, "variant": variant, "mean": statistics.mean(tests),
                   "sd": statistics.stdev(tests) if len(tests) > 1 else 0.0, "deltas": deltas,
                   "seconds": statistics.mean(by_seed[str(s)]["seconds"] for s in seeds)}
            table.append(row)
            shown = " ".join(f"{d:+.3f}" for d in deltas) if variant != reference else "-"
            print(f"{name:26s} {variant:32s} {row['mean']:.3f} ± {row['sd']:.3f}    {shown:>30s} {row['seconds']:6.1f}")
    return table


def variant_parser(doc: str, variants: list[str], out: str) -> argparse.ArgumentParser:
    """The options this script and ``peer_ablation.py`` share: ``--data``, ``--variants``, ``--seeds``, ``--out``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["fashion_mnist 100/class"], choices=IMAGES)
    parser.add_argument("--variants", nargs="+", default=variants, choices=variants)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path(out))
    return parser


def run_variants(args: argparse.Namespace, reference: str,
                 train: Callable[[Dataset, int, str], dict[str, Any]]) -> Cells:
    """``train(data, seed, variant)`` for every data set, seed and variant (``reference`` first), 2 threads; prints
    each cell and returns ``cells[data][variant][str(seed)]``."""
    torch.set_num_threads(2)
    variants = [reference, *(v for v in args.variants if v != reference)]
    cells: Cells = {}
    for name in args.data:
        for seed in args.seeds:
            data = dataset(name, seed)
            for variant in variants:
                cell = train(data, seed, variant)
                cells.setdefault(name, {}).setdefault(variant, {})[str(seed)] = cell
                print(f"{name:26s} seed {seed}  {variant:32s} test {cell['test']:.4f}  {cell['seconds']:5.1f} s",
                      flush=True)
    return cells


def main() -> None:
    parser = variant_parser(__doc__, list(VARIANTS), "benchmarks/results/recipe_variants.json")
    parser.add_argument("--recipe", default="vgg", choices=list(RECIPES))
    parser.add_argument("--mirror", action="store_true",
                        help="also print flip test-time augmentation against the plain prediction, per seed")
    args = parser.parse_args()

    def train(data: Dataset, seed: int, variant: str) -> dict[str, Any]:
        recipe = copy.deepcopy(RECIPES[args.recipe])
        VARIANTS[variant](recipe)
        return alone(recipe, data, seed)

    cells = run_variants(args, "as given", train)
    table = paired_table(cells, args.seeds, "as given")
    mirror = mirror_table(cells, args.seeds) if args.mirror else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"recipe": RECIPES[args.recipe], "seeds": args.seeds, "threads": 2,
                                    "cells": cells, "table": table, "mirror_table": mirror}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
