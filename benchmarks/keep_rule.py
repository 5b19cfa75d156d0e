"""Which scored recipe should the doctor keep on a cross-validated search: the best-ranked, its finalists confirmed on
a second fold split (``--keep best``, the default, with ``--confirm 3``), or the one with the fewest remedies within
one standard error of the best (``--keep simplest``, Breiman's one-standard-error rule, which skips the
confirmation)? ``--keep simplest`` was an option that had never been measured (until session 30).

``fitguard doctor --budget`` (60 s) on the dev sets whose labelled rows the doctor cross-validates (at most
``cv_max_rows``: Ionosphere and breast_cancer among ``fourier.py``'s tables, digits 10% of the benchmark five), both
rules on the same split per seed, alternating which runs first, 2 threads, machine alone. Per set: each rule's test
accuracy (mean ± sd over the seeds) and, by row, simplest against best (exact McNemar over the seeds' test rows);
then pooled over the sets. Never the held-out suites.

    python benchmarks/keep_rule.py --data ionosphere breast_cancer "digits 10%" --seeds 0 1 2 3
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, THREADS, alternating_cells, cells_parser, doctor
from fitguard.diagnose import mcnemar_exact
from fourier import DATA
from input_dropout import load

RULES = ("best", "simplest")


def run(name: str, seed: int, rule: str, budget: float, runs: Path) -> dict:
    """One doctor run with ``--keep rule``: its test accuracy, wall, kept recipe, members and each test row's hit."""
    data = load(name, seed)
    cell = doctor(data, budget, seed, runs / f"{rule}_{name.replace(' ', '_').replace('%', 'pc')}_{seed}", keep=rule)
    return {"test": cell["test"], "wall": cell["wall_seconds"], "best": cell["best"], "members": cell["members"],
            "right": (cell["predictions"] == data.test.y.numpy()).astype(int).tolist()}


def by_rule(cells: dict[str, dict], names: list[str]) -> dict:
    """Per set and pooled: each rule's accuracies and simplest against best by row."""
    found: dict[str, dict] = {}
    pooled: dict[str, list[np.ndarray]] = {rule: [] for rule in RULES}
    for name in names:
        seeds = sorted({k.split("|")[1] for k in cells if k.startswith(f"{name}|")
                        and all(f"{name}|{k.split('|')[1]}|{r}" in cells for r in RULES)}, key=int)
        if not seeds:
            continue
        runs = {rule: [cells[f"{name}|{s}|{rule}"] for s in seeds] for rule in RULES}
        hits = {rule: np.concatenate([np.array(c["right"], bool) for c in runs[rule]]) for rule in RULES}
        for rule in RULES:
            pooled[rule].append(hits[rule])
        test = mcnemar_exact(hits["simplest"], hits["best"])
        found[name] = {"seeds": [int(s) for s in seeds],
                       **{rule: [c["test"] for c in runs[rule]] for rule in RULES},
                       "kept": {rule: [c["best"] for c in runs[rule]] for rule in RULES},
                       "walls": {rule: [c["wall"] for c in runs[rule]] for rule in RULES},
                       "only_simplest": test.only_first, "only_best": test.only_second, "p": test.p_value}
    if pooled["best"]:
        test = mcnemar_exact(np.concatenate(pooled["simplest"]), np.concatenate(pooled["best"]))
        found["pooled"] = {"only_simplest": test.only_first, "only_best": test.only_second, "p": test.p_value}
    return found


def main() -> None:
    parser = cells_parser(__doc__, "keep_rule", ["ionosphere", "breast_cancer", "digits 10%"], [*DATA, *BENCHMARK],
                          [0, 1, 2, 3])
    args = parser.parse_args()
    stored, cells = alternating_cells(parser, args, RULES,
                                      lambda name, seed, rule: run(name, seed, rule, args.budget, args.runs))
    comparison = by_rule(cells, args.data)
    print(f"\n{'data':14s} {'best':>15s} {'simplest':>15s}  simplest vs best, by row")
    for name, c in comparison.items():
        if name == "pooled":
            print(f"{'pooled':14s} {'':31s}  {c['only_simplest']} rows vs {c['only_best']}, p = {c['p']:.2g}")
            continue
        means = {rule: f"{statistics.mean(c[rule]):.4f} ± {statistics.stdev(c[rule]) if len(c[rule]) > 1 else 0:.3f}"
                 for rule in RULES}
        print(f"{name:14s} {means['best']:>15s} {means['simplest']:>15s}  {c['only_simplest']} rows vs "
              f"{c['only_best']}, p = {c['p']:.2g}  (walls up to {max(c['walls']['best']):.0f} / "
              f"{max(c['walls']['simplest']):.0f} s)")
    args.out.write_text(json.dumps({**stored, "budget": args.budget, "threads": THREADS, "cells": cells,
                                    "comparison": comparison}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
