"""Fold members: are the cross-validated search's own fold models worth adding to the shipped ensemble?

On at most ``cv_max_rows`` labelled rows the doctor scores each recipe by 3-fold cross-validation, so its kept recipe
has already trained three networks, each on two thirds of train + val, early-stopped on the third it left out. The
final phase lets them go and trains the members it tests and ships afresh (up to 5, as many as the time left pays
for). The fold models cost nothing more, and they never saw the test split; averaged with the members, they are three
more networks. Whether that helps is what this measures, before anything changes in the doctor.

For each table and split seed, ``fitguard doctor --budget`` runs (a run folder already in ``--runs`` is read instead)
and its kept recipe and refit epochs are taken from ``summary.json``. The recipe then trains as the search trained
it on each of the doctor's folds (the search's epochs, passes an epoch, early stopping and seed), and as the final
phase trains its members, five times on train + val (seed + 1000 i, the refit epochs, no early stopping). On the
whole test split, which none of them saw, the mean of the first k members' probabilities (``members k``) is
scored against the same with the three fold models averaged in, every network weighted alike (``members k +
folds``), and the fold models alone (``folds``). By row with the exact permutation test (:func:`doctor.by_row`), per
table and pooled. 2 threads.

    python benchmarks/fold_members.py --data ionosphere "ionosphere 150" breast_cancer "breast_cancer 150" vowel \
        "vowel 200" --seeds 0 1 2 --runs benchmarks/results/fill_runs
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import THREADS, by_row, cells_parser, seeded_cells, stored_cells, test_rows
from doctor_option import PROBES, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.pipeline import base_config, search_folds
from fitguard.doctor.trials import MEMBER_SEED_STEP, evaluator, joined, refit_recipe
from fitguard.search.evaluate import train_recipe
from fourier import DATA
from members_or_rows import MEMBERS, kept

COMPARED = (1, 2, 3, 5)  # members k + folds against members k


def cell(name: str, seed: int, budget: float, runs: Path) -> dict:
    """One table and split seed: the hits on the test split of every mean of the first k members, with and without
    the fold models, and of the fold models alone."""
    recipe, epochs, shipped_members = kept(name, seed, budget, runs)
    data = load(name, seed)
    options = DoctorOptions(data=data.name, device="cpu", seed=seed, quiet=True)
    base = base_config(options)
    folds, _, repeat = search_folds(base, data, options)
    if folds is None:
        raise SystemExit(f"{name}: {len(data.train) + len(data.val)} labelled rows, more than cv_max_rows "
                         f"({options.cv_max_rows}): the doctor scores it on a validation split, with no fold models")
    X, y = data.test.X, data.test.y
    seconds: dict[str, list[float]] = {"folds": [], "members": []}
    probabilities: dict[str, list[torch.Tensor]] = {"folds": [], "members": []}
    for train, val in folds:  # as the search's Evaluator trains a fold
        started = time.perf_counter()
        _, run, _ = train_recipe(base, recipe, data, name="fold", phase="fold members", train=train, val=val,
                                 max_epochs=options.search_epochs, repeat=repeat)
        seconds["folds"].append(time.perf_counter() - started)
        probabilities["folds"].append(evaluator(run).predict(X).softmax(1))
    tested = joined(data.train, data.val)
    for i in range(MEMBERS):  # as the final phase trains its members
        started = time.perf_counter()
        run, _ = refit_recipe(base, recipe, data, rows=tested, epochs=epochs, repeat=repeat,
                              seed=seed + MEMBER_SEED_STEP * i)
        seconds["members"].append(time.perf_counter() - started)
        probabilities["members"].append(evaluator(run).predict(X).softmax(1))
    mean = lambda ps: torch.stack(ps).mean(0).argmax(1) == y  # noqa: E731
    hits = {"folds": mean(probabilities["folds"])}
    for k in range(1, MEMBERS + 1):
        hits[f"members {k}"] = mean(probabilities["members"][:k])
        hits[f"members {k} + folds"] = mean(probabilities["members"][:k] + probabilities["folds"])
    return {"recipe": recipe, "epochs": epochs, "shipped_members": shipped_members, "repeat": repeat,
            "folds": len(folds), "rows_tested": len(tested), "scored_rows": len(y), "test_rows": test_rows(data),
            "seconds": seconds, "accuracy": {k: float(v.float().mean()) for k, v in hits.items()},
            "hits": {k: v.int().tolist() for k, v in hits.items()}}


def compare(cells: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Each ``members k + folds`` against ``members k`` (k in :data:`COMPARED`), by row, per set and pooled."""
    return by_row(cells, lambda c: [(f"members {k} + folds", f"members {k}") for k in COMPARED], ("with", "without"))


def main() -> None:
    parser = cells_parser(__doc__, "fold_members", ["ionosphere"], [*DATA, *PROBES], [0, 1, 2])
    args = parser.parse_args()
    stored = stored_cells(parser, args.out, args.budget)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    cells = seeded_cells(args, stored, lambda name, seed: cell(name, seed, args.budget, args.runs), commit)
    keys = ["folds"] + [f"members {k}{plus}" for k in COMPARED for plus in ("", " + folds")]
    print(f"\nTest accuracy, mean over seeds\n{'data':18s} " + " ".join(f"{k:>15s}" for k in keys))
    for name, by_seed in cells.items():
        print(f"{name:18s} " + " ".join(f"{statistics.fmean(c['accuracy'][k] for c in by_seed.values()):15.3f}"
                                        for k in keys))
    comparisons = compare(cells)
    print("\nWith the fold models against without, by row (rows only with / only without, permutation p)")
    for name, by_pair in comparisons.items():
        print(f"{name:18s} " + f"\n{'':19s}".join(
            f"{pair.split(' | ')[1]:9s} {c['with']:.3f} vs {c['without']:.3f} ({c['only_with']}/{c['only_without']}, "
            f"p = {c['p']:.3f})" for pair, c in by_pair.items()))
    args.out.write_text(json.dumps({**stored, "threads": THREADS, "commit": commit, "cells": cells,
                                    "comparisons": comparisons}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
