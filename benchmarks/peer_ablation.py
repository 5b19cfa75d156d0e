"""Where does the VGG recipe peer's lead come from? The peer of ``benchmarks/peers.py`` with one ingredient at a time
set to what fitguard's ``vgg`` recipe (``fitguard.doctor.phases.RECIPES``) had: global average instead of max
pooling, two convs at 128 channels instead of one, the recipe's former schedule (momentum SGD with a cosine decay
from 0.05 from the first step, instead of a one cycle with a warm-up to 0.1 and Nesterov momentum), no label
smoothing, no flips, erasing up to a quarter of an image instead of 15%.

Each variant is trained as the peer is (60 epochs on every labelled row, scored once on the test rows), on the same
rows, seed and threads as the peer, so the per-seed differences are paired. Session 19 found the schedule to be the
whole of the peer's lead on Fashion-MNIST 100/class (-1.0 to -1.8 points on each seed; every other ingredient
within 0.7 points), and gave the recipe the peer's one cycle. Accuracies do not depend on the machine's load (seeds,
threads and epochs are fixed); seconds do.

usage: python benchmarks/peer_ablation.py [--data "fashion_mnist 100/class" ...] [--variants peer ...]
                                          [--seeds 0 1 2] [--out benchmarks/results/peer_ablation.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import vgg_recipe
from recipe_variants import IMAGES, dataset, paired_table

VARIANTS: dict[str, dict[str, Any]] = {
    "peer": {},
    "average pooling": {"pool": "avg"},
    "two convs at 128": {"third_block_convs": 2},
    "the recipe's former schedule": {"schedule": "cosine from 0.05"},
    "no label smoothing": {"label_smoothing": 0.0},
    "no flips": {"flips": False},
    "erasing up to 0.25": {"erase": 0.25},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["fashion_mnist 100/class"], choices=IMAGES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/peer_ablation.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    variants = ["peer", *(v for v in args.variants if v != "peer")]
    cells: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for name in args.data:
        for seed in args.seeds:
            data = dataset(name, seed)
            for variant in variants:
                cell = vgg_recipe(data, seed, **VARIANTS[variant])
                cell.pop("predictions")
                cells.setdefault(name, {}).setdefault(variant, {})[str(seed)] = cell
                print(f"{name:26s} seed {seed}  {variant:32s} test {cell['test']:.4f}  {cell['seconds']:5.1f} s",
                      flush=True)
    table = paired_table(cells, args.seeds, "peer")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"variants": {v: VARIANTS[v] for v in variants}, "seeds": args.seeds,
                                    "threads": 2, "cells": cells, "table": table}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
