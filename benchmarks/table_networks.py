"""Does a table network earn its place among the architecture phase's candidates? The whole doctor, with its
defaults, on the same split per seed, once with ``fitguard.doctor.phases.ARCHITECTURES["table"]`` as it is
(``without``) and once with :data:`NETWORK` fourth among them, after the MLP on Fourier features (``with``),
alternating which runs first, 2 threads, machine alone; per set each arm's test accuracy (mean ± sd) and, by
row, ``with`` against ``without`` (the exact permutation test by test row: ``doctor_option.compare``), then
pooled. The network costs time the other phases
had, so only the whole run at a short budget says whether it pays.

The network measured (session 36): ``linear on 2048 Fourier features``, an MLP with no hidden layer on 2048
Fourier features that start as the RBF kernel's (``fitguard.models.builders.mlp(hidden=[], fourier=2048)``):
a kernel machine learnt by gradient descent, what the RBF SVC peer is, where the ``mlp 256 on 512 Fourier
features`` beside it learns a network on top of the features. Trained alone the doctor's way on DNA 1000 (3
seeds, refit on train + val, as ``fourier.py`` trains each network) it tests 0.942 against 0.922 for the MLP on
Fourier features (68 rows vs 18) and 0.944 for the SVC; on Vowel 0.960 against 0.973. In the whole doctor at 60 s
(``reference/table_networks_cpu.json``) validation chose it on every DNA seed and nowhere else, and the doctor was
level: DNA 0.9383 against 0.9386 (35 rows vs 34), pooled over 6 dev tables 37 rows vs 40 (p = 0.68). Not adopted:
the remedies and the study the doctor runs on the plain MLPs bring them to where the kernel machine starts.

The data: the dev tables of ``doctor_option.py`` (``fourier.py``'s tables, probe sets cut from them); never the
held-out suites.

    python benchmarks/table_networks.py --data vowel "dna 1000" ionosphere breast_cancer "breast_cancer 150" \\
        "vowel 200" --seeds 0 1 2 --out benchmarks/reference/table_networks_cpu.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import THREADS, alternating_cells, cells_parser, doctor
from doctor_option import TABLE_PROBES, arm_cell, compare, load, table
from fitguard.doctor import phases
from fourier import DATA

#: the network measured, and where it stands in the list
NETWORK = {"name": "mlp", "hidden": [], "fourier": 2048}
ARMS = ("without", "with")


#: where it goes among the table candidates: after the MLP on Fourier features
PLACE = 3


def candidates(arm: str) -> list[dict[str, Any]]:
    """The table candidates of ``arm``: the list as it is, or with :data:`NETWORK` at :data:`PLACE`."""
    found = [dict(m) for m in phases.ARCHITECTURES["table"]]
    return [*found[:PLACE], dict(NETWORK), *found[PLACE:]] if arm == "with" else found


def run(name: str, seed: int, arm: str, budget: float, runs: Path) -> dict:
    """One doctor run whose table candidates are ``arm``'s."""
    data = load(name, seed)
    kept = phases.ARCHITECTURES["table"]
    phases.ARCHITECTURES["table"] = candidates(arm)
    try:
        folder = runs / f"{arm}_{name.replace(' ', '_')}_{seed}"
        return arm_cell(data, doctor(data, budget, seed, folder))
    finally:
        phases.ARCHITECTURES["table"] = kept


def main() -> None:
    parser = cells_parser(__doc__, "table_networks", ["dna 1000", "vowel"], [*TABLE_PROBES, *DATA], [0, 1, 2])
    args = parser.parse_args()
    if NETWORK in phases.ARCHITECTURES["table"]:
        parser.error(f"{NETWORK} is among the table candidates already: both arms would hold it")
    stored, cells = alternating_cells(parser, args, ARMS, lambda name, seed, arm: run(
        name, seed, arm, args.budget, args.runs), identity={"network": phases.describe({"model": NETWORK})})
    comparison = compare(cells, args.data, ARMS)
    table(comparison, ARMS)
    args.out.write_text(json.dumps({**stored, "arms": list(ARMS), "budget": args.budget, "threads": THREADS,
                                    "cells": cells, "comparison": comparison}))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
