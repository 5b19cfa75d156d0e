"""One ``fitguard doctor`` option at two or more values, each value a run on the same split per seed, alternating
which runs first, 2 threads, machine alone: per set, each value's test accuracy (mean ± sd over the seeds) and, by
row, every later value against the first (the exact permutation test by test row, a row the seeds share counted once:
``compare``); then pooled over the sets.

The data: ``fourier.py``'s dev tables, the benchmark five, and probe sets of a few labelled rows cut from dev tables
(``PROBES``: 150-200 labelled rows, the regime of the held-out sonar, wine and glass, 125-150, without touching
them). Never the held-out suites. The option is a :class:`~fitguard.doctor.DoctorOptions` field of one plain type;
its values are read as that type (``none`` for None where the field allows it).

    python benchmarks/doctor_option.py --option folds --values 3 5 --data ionosphere "ionosphere 150" \\
        breast_cancer "breast_cancer 150" --seeds 0 1 2
"""

from __future__ import annotations

import json
import statistics
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, THREADS, alternating_cells, cells_parser, doctor, row_ids, test_rows
from fitguard.data import Dataset
from fitguard.data.builtin import LOADERS
from fitguard.diagnose import mcnemar_by_row
from fitguard.doctor import DoctorOptions
from fourier import DATA
from heldout import _mlbench_table, split
from input_dropout import load as dev_set

#: dev tables cut to the labelled rows of the held-out small tables (sonar 146, glass 150, wine 125)
TABLE_PROBES = {
    "ionosphere 150": lambda seed: _mlbench_table("Ionosphere", "Class", seed, keep_rows=150),
    "breast_cancer 150": lambda seed: split(LOADERS["breast_cancer"](), seed=seed, test=0.3, keep=150 / 398),
    "vowel 200": lambda seed: _mlbench_table("Vowel", "Class", seed, keep_rows=200),
}
#: digits cut as the benchmark's ``digits 10%`` is, with more labelled rows (180 and 270: ``recipe_passes.py``)
IMAGE_PROBES = {
    f"digits {share}%": lambda seed, share=share: split(LOADERS["digits"](), seed=seed, test=0.5, keep=share / 100)
    for share in (20, 30)
}
PROBES = {**TABLE_PROBES, **IMAGE_PROBES}


def load(name: str, seed: int) -> Dataset:
    """A probe set, one of ``fourier.py``'s tables or of the benchmark five, split by ``seed``."""
    return PROBES[name](seed) if name in PROBES else dev_set(name, seed)


#: fields :func:`doctor.doctor` sets itself, or that name where a run goes
RESERVED = frozenset({"data", "budget", "out", "quiet", "device", "seed", "recipe", "overwrite", "resume", "storage",
                      "join"})


def parsed(option: str, values: list[str]) -> tuple[Any, ...]:
    """``values`` as ``option``'s type (a ``DoctorOptions`` field of one plain type, optionally None: ``none``); a bool
    from true/false. A field the benchmark sets itself, or of another type, is refused in one line."""
    hints = typing.get_type_hints(DoctorOptions)
    if option not in hints or option in RESERVED:
        raise SystemExit(f"--option must be a DoctorOptions field the benchmark does not set itself, got {option!r}")
    kinds = [k for k in typing.get_args(hints[option]) if k is not type(None)] or [hints[option]]
    if len(kinds) != 1 or kinds[0] not in (bool, int, float, str):
        raise SystemExit(f"--option {option}: a field of type {hints[option]} cannot be given as --values here")
    kind, optional = kinds[0], type(None) in typing.get_args(hints[option])

    def one(value: str) -> Any:
        if optional and value.lower() == "none":
            return None
        return value.lower() in ("true", "1", "yes") if kind is bool else kind(value)

    return tuple(one(v) for v in values)


def run(name: str, seed: int, option: str, value: Any, budget: float, runs: Path) -> dict:
    """One doctor run with ``option=value``: its test accuracy, wall, kept recipe, members and each test row's hit."""
    data = load(name, seed)
    folder = runs / f"{option}_{value}_{name.replace(' ', '_').replace('%', 'pc')}_{seed}"
    return arm_cell(data, doctor(data, budget, seed, folder, **{option: value}))


def arm_cell(data: Dataset, cell: dict) -> dict:
    """What a benchmark of alternating arms keeps of one doctor run (:func:`doctor.doctor`'s ``cell``) on ``data``:
    its test accuracy, wall, kept recipe, members, labelled rows, each test row's hit (``right``, for
    :func:`compare`) and which test rows they are (``test_rows``: :func:`test_rows`)."""
    return {"test": cell["test"], "wall": cell["wall_seconds"], "best": cell["best"], "members": cell["members"],
            "labelled": len(data.train) + len(data.val), "test_rows": test_rows(data),
            "right": (cell["predictions"] == data.test.y.numpy()).astype(int).tolist()}


def compare(cells: dict[str, dict], names: list[str], arms: tuple[Any, ...], also: tuple[str, ...] = ()) -> dict:
    """Per set and pooled: each arm's accuracies, kept recipes and walls (and each key of ``also`` the cells hold,
    such as ``members``), and each later arm against the first by row (``only_<arm>``: the test rows whose margin
    favours that arm; ``p``: the exact permutation test of the rows' margins, ``mcnemar_by_row``; with more than two
    arms keyed ``<arm> vs <first>``). A row several seeds scored (every set here keeps its test rows for every
    seed: :func:`test_rows`) counts once, with the seeds' margin; rows each scored once make it McNemar's test of
    the pooled rows. Until session 34 every seed's rows were pooled into one McNemar test, which counted a shared row
    up to once a seed, and the p-values were too small."""
    first, later = arms[0], arms[1:]
    found: dict[str, dict] = {}
    pooled: dict[Any, list[np.ndarray]] = {arm: [] for arm in arms}
    pooled_digests: list[str] = []
    digests: dict[tuple[str, str], str] = {}

    def digest(name: str, seed: str) -> str:
        """The test rows the arms of ``name``'s seed scored: as the cells record them, else the split remade."""
        if (name, seed) not in digests:
            recorded = {cells[f"{name}|{seed}|{arm}"].get("test_rows") for arm in arms} - {None}
            if len(recorded) > 1:
                raise SystemExit(f"{name} seed {seed}: the arms scored different test rows ({sorted(recorded)}); "
                                 "their cells cannot be compared by row")
            digests[name, seed] = recorded.pop() if recorded else test_rows(load(name, int(seed)))
        return digests[name, seed]

    def tested(a: np.ndarray, b: np.ndarray, rows: np.ndarray, arm: Any) -> dict:
        test = mcnemar_by_row(a, b, rows=rows)
        return {f"only_{arm}": test.only_first, f"only_{first}": test.only_second, "p": test.p_value}

    def against(hits: dict[Any, list[np.ndarray]], of: list[str]) -> dict:
        rows = row_ids(of, [np.arange(len(h)) for h in hits[first]])
        joined = {arm: np.concatenate(hits[arm]) for arm in arms}
        if len(later) == 1:
            return tested(joined[later[0]], joined[first], rows, later[0])
        return {f"{arm} vs {first}": tested(joined[arm], joined[first], rows, arm) for arm in later}

    for name in names:
        seeds = sorted({k.split("|")[1] for k in cells if k.startswith(f"{name}|")
                        and all(f"{name}|{k.split('|')[1]}|{a}" in cells for a in arms)}, key=int)
        if not seeds:
            continue
        runs = {arm: [cells[f"{name}|{s}|{arm}"] for s in seeds] for arm in arms}
        hits = {arm: [np.array(c["right"], bool) for c in runs[arm]] for arm in arms}
        of = [digest(name, s) for s in seeds]
        for arm in arms:
            pooled[arm].extend(hits[arm])
        pooled_digests.extend(of)
        found[name] = {"seeds": [int(s) for s in seeds], **{str(arm): [c["test"] for c in runs[arm]] for arm in arms},
                       "kept": {str(arm): [c["best"] for c in runs[arm]] for arm in arms},
                       "walls": {str(arm): [c["wall"] for c in runs[arm]] for arm in arms},
                       **{key: {str(arm): [c[key] for c in runs[arm]] for arm in arms} for key in also},
                       "test_rows": "the same for every seed" if len(set(of)) == 1 < len(of) else
                       ("each seed its own" if len(set(of)) == len(of) else "some seeds share them"),
                       **against(hits, of)}
    if pooled[first]:
        found["pooled"] = against(pooled, pooled_digests)
    return found


def table(comparison: dict, arms: tuple[Any, ...]) -> None:
    """Print each set's mean ± sd per arm and the row tests."""
    def rows(c: dict) -> str:
        tests = [c] if f"only_{arms[1]}" in c else [c[f"{a} vs {arms[0]}"] for a in arms[1:]]
        return "; ".join(f"{a} vs {arms[0]}: {t[f'only_{a}']} rows vs {t[f'only_{arms[0]}']}, p = {t['p']:.2g}"
                         for a, t in zip(arms[1:], tests))

    print(f"\n{'data':18s} " + " ".join(f"{a!s:>15s}" for a in arms) + "  by row")
    for name, c in comparison.items():
        if name == "pooled":
            print(f"{'pooled':18s} " + " " * (16 * len(arms) - 1) + f"  {rows(c)}")
            continue
        means = [f"{statistics.mean(c[str(a)]):.4f} ± {statistics.stdev(c[str(a)]) if len(c[str(a)]) > 1 else 0:.3f}"
                 for a in arms]
        walls = max(max(c["walls"][str(a)]) for a in arms)
        print(f"{name:18s} " + " ".join(f"{m:>15s}" for m in means) + f"  {rows(c)}  (walls up to {walls:.0f} s)")


def main() -> None:
    parser = cells_parser(__doc__, "doctor_option", ["ionosphere 150", "breast_cancer 150"],
                          [*PROBES, *DATA, *BENCHMARK], [0, 1, 2])
    parser.add_argument("--option", required=True, help="a DoctorOptions field, e.g. folds")
    parser.add_argument("--values", nargs="+", required=True, help="its values, the first the baseline arm")
    args = parser.parse_args()
    arms = parsed(args.option, args.values)
    if len(arms) < 2:
        parser.error("--values needs at least two values")
    stored, cells = alternating_cells(parser, args, arms, lambda name, seed, value: run(
        name, seed, args.option, value, args.budget, args.runs), identity={"option": args.option})
    comparison = compare(cells, args.data, arms)
    table(comparison, arms)
    args.out.write_text(json.dumps({**stored, "values": list(arms), "budget": args.budget,
                                    "threads": THREADS, "cells": cells, "comparison": comparison}))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
