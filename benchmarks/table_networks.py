"""Does a table network earn its place among the architecture phase's candidates? The whole doctor, with its
defaults, on the same split per seed, once with ``fitguard.doctor.phases.ARCHITECTURES["table"]`` as it is
(``without``) and once with :data:`NETWORK` fourth among them, after the MLP on Fourier features (``with``),
alternating which runs first, 2 threads, machine alone; per set each arm's test accuracy (mean ± sd) and, by
row, ``with`` against ``without`` (the exact permutation test by test row: ``doctor_option.compare``), then
pooled. The network costs time the other phases
had, so only the whole run at a short budget says whether it pays.

The network measured (session 36): ``linear on 2048 Fourier features``, an MLP with no hidden layer on 2048 Fourier
features that start as the RBF kernel's (``fitguard.models.builders.mlp(hidden=[], fourier=2048)``): a kernel
machine learnt by gradient descent, what the RBF SVC peer is, where the ``mlp 256 on 512 Fourier features`` beside
it learns a network on top of the features. Trained alone the doctor's way on DNA 1000 (3 seeds, refit on train +
val, as ``fourier.py`` trains each network) it tests 0.942 against 0.922 for the MLP on Fourier features (68 rows vs
18) and 0.944 for the SVC (23 rows vs 24, p = 0.72), stored in ``reference/table_networks_alone_cpu.json``; on Vowel
0.960 against 0.973. In the whole doctor at 60 s (``reference/table_networks_cpu.json``) validation chose it on
every DNA seed and nowhere else, and the doctor was level: DNA 0.9383 against 0.9386 (35 rows vs 34), pooled over 6
dev tables 37 rows vs 40 (p = 0.68). Not adopted: the remedies and the study the doctor runs on the plain MLPs bring
them to where the kernel machine starts.

The data: the dev tables of ``doctor_option.py`` (``fourier.py``'s tables, probe sets cut from them); never the
held-out suites.

    python benchmarks/table_networks.py --data vowel "dna 1000" ionosphere breast_cancer "breast_cancer 150" \\
        "vowel 200" --seeds 0 1 2 --out benchmarks/reference/table_networks_cpu.json

``--alone`` trains no doctor: :data:`NETWORK` and the doctor's MLP on Fourier features each trained alone the
doctor's way and refit on train + val (``fourier.as_shipped``), beside the RBF SVC peer refit on the same rows;
each set's test accuracy over the seeds and, by row, the network against the other two (1 thread; accuracies do
not depend on the machine's load):

    python benchmarks/table_networks.py --alone --data "dna 1000" vowel ionosphere breast_cancer --seeds 0 1 2 \\
        --out benchmarks/reference/table_networks_alone_cpu.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import THREADS, alternating_cells, cells_parser, doctor, test_rows
from doctor_option import TABLE_PROBES, arm_cell, compare, load, table
from fitguard.doctor import phases
from fourier import DATA
from fourier import run as fourier_run

#: the network measured
NETWORK = {"name": "mlp", "hidden": [], "fourier": 2048}
ARMS = ("without", "with")
#: where it goes among the table candidates: after the MLP on Fourier features
PLACE = 1 + next(i for i, m in enumerate(phases.ARCHITECTURES["table"]) if m.get("fourier"))


def candidates(arm: str) -> list[dict[str, Any]]:
    """The table candidates of ``arm``: the list as it is, or with :data:`NETWORK` at :data:`PLACE`."""
    found = [dict(m) for m in phases.ARCHITECTURES["table"]]
    return [*found[:PLACE], dict(NETWORK), *found[PLACE:]] if arm == "with" else found


def run(name: str, seed: int, arm: str, budget: float, runs: Path) -> dict:
    """One doctor run whose table candidates are ``arm``'s: ``doctor_option.arm_cell``'s figures, the network the
    architecture phase kept (``network``) and each phase's seconds (``timings``)."""
    data = load(name, seed)
    kept = phases.ARCHITECTURES["table"]
    phases.ARCHITECTURES["table"] = candidates(arm)
    try:
        folder = runs / f"{arm}_{name.replace(' ', '_')}_{seed}"
        cell = doctor(data, budget, seed, folder)
        # the network the architecture phase kept, and each phase's seconds
        return {**arm_cell(data, cell), "network": cell["network"], "timings": cell["timings"]}
    finally:
        phases.ARCHITECTURES["table"] = kept


def alone(name: str, seed: int) -> dict[str, dict]:
    """:data:`NETWORK` and the doctor's MLP on Fourier features trained alone on ``name``'s split (each as the
    doctor ships a network: ``fourier.as_shipped``), and the RBF SVC peer: each one's test accuracy, validation score
    (the networks'), each test row's hit (``right``) and which test rows they are (``test_rows``)."""
    data = load(name, seed)
    fourier = next(m for m in phases.ARCHITECTURES["table"] if m.get("fourier"))
    rows = fourier_run(name, seed, [], data, models=[fourier, NETWORK])
    kept = ("test", "val", "val_loss", "seconds")
    return {label: {**{key: row[key] for key in kept if key in row and row[key] is not None},
                    "right": np.asarray(row["hits"]).astype(int).tolist(), "test_rows": test_rows(data)}
            for label, row in rows.items()}


def alone_comparison(cells: dict[str, dict[str, dict]], names: list[str]) -> dict:
    """Per set, over the seeds stored in ``cells`` (keys ``"name|seed"``): each method's test accuracies (``test``)
    and, by row, :data:`NETWORK` against each of the others (``"vs <method>"``: the rows only the network got right,
    those only the other did, and ``doctor_option.compare``'s p-value)."""
    network = phases.describe({"model": NETWORK})
    found = {}
    for name in names:
        seeds = sorted((k.split("|")[1] for k in cells if k.startswith(f"{name}|")), key=int)
        if not seeds:
            continue
        labels = list(cells[f"{name}|{seeds[0]}"])
        # as compare() reads cells: one per (set, seed, method), every seed's test rows the split's own
        flat = {f"{name}|{seed}|{label}": {**cells[f"{name}|{seed}"][label], "best": label, "wall": 0.0}
                for seed in seeds for label in labels}
        tests = {}
        for other in labels:
            if other != network:
                test = compare(flat, [name], (other, network))[name]
                tests[f"vs {other}"] = {"network_rows": test[f"only_{network}"], "other_rows": test[f"only_{other}"],
                                        "p": test["p"]}
        found[name] = {"seeds": [int(s) for s in seeds],
                       "test": {label: [cells[f"{name}|{s}"][label]["test"] for s in seeds] for label in labels},
                       **tests}
    return found


def main() -> None:
    parser = cells_parser(__doc__, "table_networks", ["dna 1000", "vowel"], [*TABLE_PROBES, *DATA], [0, 1, 2])
    parser.add_argument("--alone", action="store_true",
                        help="no doctor: the network and the MLP on Fourier features trained alone, and the SVC")
    args = parser.parse_args()
    if args.alone:
        torch.set_num_threads(1)
        stored = json.loads(args.out.read_text()) if args.out.exists() else {"alone": True, "cells": {}}
        if not stored.get("alone"):
            parser.error(f"{args.out} holds the whole doctor's cells, not --alone's: another --out")
        for name in args.data:
            for seed in args.seeds:
                if f"{name}|{seed}" not in stored["cells"]:
                    stored["cells"][f"{name}|{seed}"] = alone(name, seed)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(stored))
        stored["comparison"] = alone_comparison(stored["cells"], args.data)
        for name, c in stored["comparison"].items():
            means = ", ".join(f"{label} {np.mean(tests):.4f}" for label, tests in c["test"].items())
            rows = "; ".join(f"{key}: {t['network_rows']} rows vs {t['other_rows']}, p = {t['p']:.2g}"
                             for key, t in c.items() if key.startswith("vs "))
            print(f"{name}: {means}\n  the network {rows}")
        args.out.write_text(json.dumps(stored))
        print(f"\nwritten: {args.out}")
        return
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
