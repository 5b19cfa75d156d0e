"""Seeds of the kept recipe, or the search's best recipes side by side? What the doctor's final ensemble should hold on
small tables, where validation folds of 40-100 rows rank dozens of recipes and the best-ranked is partly luck (the
winner's curse; Caruana et al., "Ensemble selection from libraries of models", ICML 2004, average the library's best
models instead of keeping one).

For each data set and split seed, a 60 s ``fitguard doctor`` run folder (``--runs``; run first where it has no summary,
named as ``doctor_option.py --option folds`` names its 3-fold runs, so that benchmark's folders serve) gives the kept
recipe and every scored trial of its search. Two ensembles of k members, each member trained on train + val as the
final phase trains one (the search's passes an epoch, the epochs validation chose, no early stopping, 2 threads):
  seeds    the kept recipe, seeds ``seed + 1000 i`` (the doctor's members);
  top      the k best-scored distinct recipes of the search, the kept one first, one seed each (ties in score broken
           by the doctor's rank: fewer remedies, then fewer parameters).
The mean of the members' probabilities is scored on the whole test split (as the doctor tests its members). For k = 2,
3 and 5: test accuracy, and by row top against seeds (the exact permutation test by test row, :func:`doctor.by_row`),
per set and pooled.

    python benchmarks/top_recipes.py --data "ionosphere 150" "breast_cancer 150" "vowel 200" ionosphere \
        breast_cancer --seeds 0 1 2 --runs benchmarks/results/folds_runs
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import THREADS, by_row, cells_parser, doctor, seeded_cells, stored_cells, test_rows
from doctor_option import PROBES, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import chosen_epochs, rank
from fitguard.doctor.pipeline import BASELINE_KEPT, base_config, search_folds
from fitguard.doctor.trials import MEMBER_SEED_STEP, joined, refit_recipe
from fitguard.search.scoring import Trial, evaluator
from fourier import DATA

MEMBERS = 5  # --ensemble's default
COMPARED = (2, 3, 5)
PHASES = ("architecture", "train_longer", "ablation")


def folder_of(runs: Path, name: str, seed: int) -> Path:
    return runs / f"folds_3_{name.replace(' ', '_').replace('%', 'pc')}_{seed}"


def ranked(summary: dict) -> list[Trial]:
    """The search's scored trials, best first by the doctor's rank, one per distinct recipe."""
    remedies = summary["remedies"]
    trials = [Trial(**t) for phase in PHASES for t in remedies.get(phase) or []]
    trials += [Trial(**t) for t in remedies["study"]["trials"]]
    done = [t for t in trials if t.status == "done" and t.val_score is not None and np.isfinite(t.val_score)]
    seen: set[str] = set()
    distinct = []
    for trial in sorted(done, key=rank, reverse=True):
        key = json.dumps(trial.recipe, sort_keys=True)
        if key not in seen:
            seen.add(key)
            distinct.append(trial)
    return distinct


def cell(name: str, seed: int, budget: float, runs: Path) -> dict:
    folder = folder_of(runs, name, seed)
    data = load(name, seed)
    if not (folder / "summary.json").exists():
        doctor(data, budget, seed, folder, folds=3)
    summary = json.loads((folder / "summary.json").read_text())
    best = summary["best"]
    if best["name"] == BASELINE_KEPT:
        raise SystemExit(f"{folder}: the doctor kept the baseline's recipe; this benchmark trains searched ones")
    others = [t for t in ranked(summary) if t.recipe != best["recipe"]][: MEMBERS - 1]
    options = DoctorOptions(data=data.name, device="cpu", seed=seed, quiet=True)
    base = base_config(options)
    _, _, repeat = search_folds(base, data, options)
    rows = joined(data.train, data.val)
    X, y = data.test.X, data.test.y

    def member(recipe: dict, epochs: int, member_seed: int) -> tuple[torch.Tensor, float]:
        started = time.perf_counter()
        run, _ = refit_recipe(base, recipe, data, rows=rows, epochs=epochs, repeat=repeat, seed=member_seed)
        return evaluator(run).predict(X).softmax(1), time.perf_counter() - started

    kept = [member(best["recipe"], int(best["epochs"]), seed + MEMBER_SEED_STEP * i) for i in range(MEMBERS)]
    top = kept[:1] + [member(t.recipe, chosen_epochs(t), seed) for t in others]
    hits = {f"{key} {k}": (torch.stack([p for p, _ in members[:k]]).mean(0).argmax(1) == y).numpy()
            for key, members in (("seeds", kept), ("top", top)) for k in range(1, len(members) + 1)}
    return {"kept": best["name"], "kept_score": summary["best"]["search_val_score"],
            "others": [{"name": t.name, "val_score": t.val_score, "epochs": chosen_epochs(t)} for t in others],
            "seconds": {"seeds": [s for _, s in kept], "top": [s for _, s in top]},
            "accuracy": {k: float(v.mean()) for k, v in hits.items()}, "test_rows": test_rows(data),
            "hits": {k: v.astype(int).tolist() for k, v in hits.items()}}


def compare(cells: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    """Per set and pooled over the sets, for each k of :data:`COMPARED` (``"top k | seeds k"``): both ensembles' test
    accuracy over the scored rows and, by row, top against seeds (the exact permutation test by test row;
    :func:`doctor.by_row`). A cell whose search had fewer than k - 1 other recipes counts only for the smaller k."""
    return by_row(cells, lambda c: [(f"top {k}", f"seeds {k}") for k in COMPARED if f"top {k}" in c["hits"]],
                  ("top", "seeds"))


def main() -> None:
    parser = cells_parser(__doc__, "top_recipes", ["ionosphere 150"], [*PROBES, *DATA], [0, 1, 2])
    args = parser.parse_args()
    stored = stored_cells(parser, args.out, args.budget)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    cells = seeded_cells(args, stored, lambda name, seed: cell(name, seed, args.budget, args.runs), commit)
    comparisons = compare(cells)
    for name, by_pair in comparisons.items():
        print(f"{name:18s} " + "  ".join(f"k={pair.split()[1]} seeds {c['seeds']:.3f} / top {c['top']:.3f} "
                                        f"({c['only_top']} rows vs {c['only_seeds']}, p = {c['p']:.2f})"
                                        for pair, c in by_pair.items()))
    args.out.write_text(json.dumps({**stored, "threads": THREADS, "commit": commit, "cells": cells,
                                    "comparisons": comparisons}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
