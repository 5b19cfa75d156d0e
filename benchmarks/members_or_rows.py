"""Members or rows? What the doctor's final phase should buy when its time left allows only one of them: more seeds of
the kept recipe (an ensemble trained on train + val, shipped as it was tested), or the refit on every labelled row
(train + val + test) with fewer members.

For each table and split seed, ``fitguard doctor --budget`` runs (a run folder already in ``--runs`` is read
instead) and its kept recipe and refit epochs are taken from ``summary.json``. The test split is cut in two halves,
A and B (seeded by the split seed). The recipe trains, as the final phase trains its members (seed + 1000 i, the
search's passes an epoch, no early stopping), five times on train + val and twice on train + val + A; the mean of the
first k members' probabilities is scored on B, which none of them saw. 2 threads.

At equal training time: the doctor counts a member refit on every row at (train + val + test) / (train + val) of a
member on train + val, so time that buys n members tested and then refit on every row buys between
``floor(n (1 + ratio))`` and ``ceil((n + 1) (1 + ratio)) - 1`` members on train + val alone (5 at most,
``--ensemble``'s default). The comparisons printed are those pairs, at both ends: ``rows n`` (n members on train + val
+ A) against ``members m`` (m members on train + val), by row on B with the exact permutation test by row, per table
and pooled over every table and seed. Two leanings to keep in mind: the rows' side trains on half the test split,
not all of it (it gains fewer rows than the doctor's refit); the pooled test weights the tables by their rows. A row
of B that several split seeds scored counts once, with their margin (:func:`doctor.by_row`; until session 34 once a
seed).

With ``--row-members N`` (N > 2) N members train on train + val + A, and each mean of the first k (k = 2..N) is
also tested against one member alone, by row on B: what the seeds the final phase adds on every row in the time left
after its refit (session 32) are worth. ``--data`` also takes ``doctor_option.py``'s probe sets and the benchmark
five (images: the kept recipe trains as the final phase trains it).

    python benchmarks/members_or_rows.py --data "dna 1000" vowel ionosphere breast_cancer "digits table" \
        --seeds 0 1 2 --runs benchmarks/results/members_or_rows_runs
    python benchmarks/members_or_rows.py --data "digits 10%" "digits 20%" --seeds 0 1 2 \
        --out benchmarks/reference/members_or_rows_images_cpu.json
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, THREADS, by_row, cells_parser, doctor, seeded_cells, stored_cells, test_rows
from doctor_option import PROBES, load
from fitguard.data import TensorData
from fitguard.doctor import DoctorOptions
from fitguard.doctor.pipeline import BASELINE_KEPT, base_config, search_folds
from fitguard.doctor.trials import MEMBER_SEED_STEP, evaluator, joined, refit_recipe
from fourier import DATA

MEMBERS = 5  # --ensemble's default
ROW_MEMBERS = 2  # the refit on every row's members compared (n = 1, 2)


def kept(name: str, seed: int, budget: float, runs: Path) -> tuple[dict, int, float]:
    """The doctor's kept recipe, its refit epochs and its members on ``name`` split by ``seed``: from the run folder
    in ``runs``, run first when it has no summary."""
    folder = runs / f"{name.replace(' ', '_')}_{seed}"
    if not (folder / "summary.json").exists():
        doctor(load(name, seed), budget, seed, folder)
    best = json.loads((folder / "summary.json").read_text())["best"]
    if best["name"] == BASELINE_KEPT:  # trained with the baseline's passes an epoch, not the search's
        raise SystemExit(f"{folder}: the doctor kept the baseline's recipe; this benchmark trains a searched one")
    return best["recipe"], int(best["epochs"]), best.get("members", 1)


def cell(name: str, seed: int, budget: float, runs: Path, row_members: int = ROW_MEMBERS) -> dict:
    """One table and split seed: each member's probabilities on B, trained on train + val (:data:`MEMBERS`) and on
    train + val + A (``row_members``), and the hits of every mean of the first k."""
    recipe, epochs, shipped_members = kept(name, seed, budget, runs)
    data = load(name, seed)
    options = DoctorOptions(data=data.name, device="cpu", seed=seed, quiet=True)
    base = base_config(options)
    # the search's passes an epoch, as the doctor's final phase trains them
    tested = joined(data.train, data.val)
    _, _, repeat = search_folds(base, data, options)
    order = torch.randperm(len(data.test), generator=torch.Generator().manual_seed(seed))
    a, b = order[: len(order) // 2], order[len(order) // 2:]
    every = joined(tested, TensorData(data.test.X[a], data.test.y[a]))
    X, y = data.test.X[b], data.test.y[b]
    probabilities: dict[str, list[torch.Tensor]] = {"members": [], "rows": []}
    seconds: dict[str, list[float]] = {"members": [], "rows": []}
    for key, on, count in (("members", tested, MEMBERS), ("rows", every, row_members)):
        for i in range(count):
            started = time.perf_counter()
            run, _ = refit_recipe(base, recipe, data, rows=on, epochs=epochs, repeat=repeat,
                                  seed=seed + MEMBER_SEED_STEP * i)
            seconds[key].append(time.perf_counter() - started)
            probabilities[key].append(evaluator(run).predict(X).softmax(1))
    hits = {f"{key} {k}": (torch.stack(p[:k]).mean(0).argmax(1) == y).numpy()
            for key, p in probabilities.items() for k in range(1, len(p) + 1)}
    ratio = (len(tested) + len(data.test)) / len(tested)
    return {"recipe": recipe, "epochs": epochs, "shipped_members": shipped_members, "repeat": repeat,
            "rows_tested": len(tested), "rows_every": len(every), "scored_rows": len(y), "ratio": ratio,
            "test_rows": test_rows(data), "scored": b.tolist(),  # which test rows B is, for the test by row
            "seconds": seconds, "accuracy": {k: float(v.mean()) for k, v in hits.items()},
            "hits": {k: v.astype(int).tolist() for k, v in hits.items()}}


def pairs(ratio: float) -> list[tuple[str, str]]:
    """The equal-time pairs: n members refit on every row against the members on train + val the same time buys.
    Time that buys exactly n members with the refit lies between n and n + 1 of them, ``[n (1 + ratio), (n + 1)
    (1 + ratio))`` member trainings on train + val: the members' side at both ends (5 at most), the fewest and the
    most it can be."""
    found = []
    for n in range(1, ROW_MEMBERS + 1):
        fewest = min(MEMBERS, math.floor(n * (1 + ratio)))
        most = min(MEMBERS, math.ceil((n + 1) * (1 + ratio)) - 1)
        found += [(f"rows {n}", f"members {fewest}")] + ([(f"rows {n}", f"members {most}")] if most > fewest else [])
    return found


def main() -> None:
    parser = cells_parser(__doc__, "members_or_rows", ["ionosphere"], [*DATA, *PROBES, *BENCHMARK], [0, 1, 2])
    parser.add_argument("--row-members", type=int, default=ROW_MEMBERS,
                        help="members trained on train + val + A (default 2); beyond 2, each mean of the first k is "
                             "also tested against one member alone: the seeds the final phase adds on every row in "
                             "the time left")
    args = parser.parse_args()
    if args.row_members < ROW_MEMBERS:
        parser.error(f"--row-members must be at least {ROW_MEMBERS} (the equal-time pairs need them), got "
                     f"{args.row_members}")
    stored = stored_cells(parser, args.out, args.budget)
    held = {_row_members(c) for by_seed in stored["cells"].values() for c in by_seed.values()}
    if held and held != {args.row_members}:
        parser.error(f"{args.out} holds cells of --row-members {', '.join(map(str, sorted(held)))}, not "
                     f"{args.row_members}: another --out")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    cells = seeded_cells(args, stored, lambda name, seed: cell(name, seed, args.budget, args.runs, args.row_members),
                         commit)
    keys = [f"members {k}" for k in range(1, MEMBERS + 1)] + [f"rows {n}" for n in range(1, args.row_members + 1)]
    print(f"\nTest accuracy on half B, mean over seeds\n{'data':18s} " + " ".join(f"{k:>9s}" for k in keys))
    for name, by_seed in cells.items():
        print(f"{name:18s} " + " ".join(f"{statistics.fmean(c['accuracy'][k] for c in by_seed.values()):9.3f}"
                                        for k in keys))
    print("\nAt equal training time, by row on B (rows favouring rows / favouring members, permutation p)")
    comparisons = compare(cells)
    _print(comparisons, ("rows", "members"))
    if "more seeds on every row" in comparisons:
        print("\nMore seeds on every row against one, by row on B (only the first right / only the second right)")
        _print(comparisons["more seeds on every row"], ("first", "second"))
    args.out.write_text(json.dumps({**stored, "threads": THREADS, "commit": commit, "cells": cells,
                                    "comparisons": comparisons}, indent=1))
    print(f"\nwritten: {args.out}")


def _row_members(cell: dict) -> int:
    """How many members a stored cell trained on train + val + A."""
    return max(int(key.split()[1]) for key in cell["hits"] if key.startswith("rows "))


def compare(cells: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """The equal-time pairs (:func:`pairs`), per set and pooled; where the cells trained more than
    :data:`ROW_MEMBERS` seeds on every row, also each mean of the first k of them against one alone (``"more seeds on
    every row"``, per set and pooled)."""
    comparisons = by_row(cells, lambda c: pairs(c["ratio"]), ("rows", "members"))
    most = max((_row_members(c) for by_seed in cells.values() for c in by_seed.values()), default=0)
    if most > ROW_MEMBERS:
        comparisons["more seeds on every row"] = by_row(
            cells, lambda c: [(f"rows {k}", "rows 1") for k in range(2, _row_members(c) + 1)], ("first", "second"))
    return comparisons


def _print(comparisons: dict[str, dict], names: tuple[str, str]) -> None:
    first_name, second_name = names
    for name, by_pair in comparisons.items():
        if name == "more seeds on every row":
            continue
        print(f"{name:18s} " + f"\n{'':19s}".join(
            f"{pair.replace(' | ', f' {c[first_name]:.3f} vs ')} {c[second_name]:.3f} ({c['only_' + first_name]}/"
            f"{c['only_' + second_name]}, p = {c['p']:.3f}, {c['scored_rows']} rows)" for pair, c in by_pair.items()))


if __name__ == "__main__":
    main()
