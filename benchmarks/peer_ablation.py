"""Where does the VGG recipe peer's lead come from? The peer of ``benchmarks/peers.py`` with one ingredient at a time
set to what fitguard's ``vgg`` recipe (``fitguard.doctor.phases.RECIPES``) had: global average instead of max
pooling, two convs at 128 channels instead of one, the recipe's former schedule (momentum SGD with a cosine decay
from 0.05 from the first step, instead of a one cycle with a warm-up to 0.1 and Nesterov momentum), no label
smoothing (the recipe until session 33: it has the peer's since), no flips, erasing up to a quarter of an image
instead of 15%, and all of them at once.

Each variant is trained as the peer is (60 epochs on every labelled row, scored once on the test rows), on the same
rows, seed and threads as the peer, so the per-seed differences are paired. Session 19 found the schedule to be the
whole of the peer's lead on Fashion-MNIST 100/class (-1.0 to -1.8 points on each seed; every other ingredient within
0.7 points), and gave the recipe the peer's one cycle; session 33 found the peer 0.45 points lower without its label
smoothing on the 8x8 digits (digits 100%, 5 seeds, lower on each; every other ingredient within 0.15), and gave the
recipe the peer's label smoothing (``reference/peer_ablation_digits_cpu.json``). Accuracies do not depend on the
machine's load (seeds, threads and epochs are fixed); seconds do.

usage: python benchmarks/peer_ablation.py [--data "fashion_mnist 100/class" ...] [--variants peer ...]
                                          [--seeds 0 1 2] [--out benchmarks/results/peer_ablation.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fitguard.data import Dataset
from peers import vgg_recipe
from recipe_variants import paired_table, run_variants, variant_parser

VARIANTS: dict[str, dict[str, Any]] = {
    "peer": {},
    "average pooling": {"pool": "avg"},
    "two convs at 128": {"third_block_convs": 2},
    "the recipe's former schedule": {"schedule": "cosine from 0.05"},
    "no label smoothing": {"label_smoothing": 0.0},
    "no flips": {"flips": False},
    "erasing up to 0.25": {"erase": 0.25},
    # every ingredient at once as fitguard's recipe had it until session 33 (it has the peer's label smoothing since;
    # it never flips)
    "all as fitguard's recipe until session 33": {"pool": "avg", "third_block_convs": 2, "label_smoothing": 0.0,
                                                  "flips": False, "erase": 0.25},
}


def main() -> None:
    args = variant_parser(__doc__, list(VARIANTS), "benchmarks/results/peer_ablation.json").parse_args()

    def train(data: Dataset, seed: int, variant: str) -> dict[str, Any]:
        cell = vgg_recipe(data, seed, **VARIANTS[variant])
        cell.pop("predictions")
        return cell

    cells = run_variants(args, "peer", train)
    table = paired_table(cells, args.seeds, "peer")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ran = {variant: VARIANTS[variant] for variant in cells[args.data[0]]}
    args.out.write_text(json.dumps({"variants": ran, "seeds": args.seeds, "threads": 2, "cells": cells,
                                    "table": table}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
