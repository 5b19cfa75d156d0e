"""One key of a built-in complete recipe (``fitguard.doctor.phases.RECIPES``, ``vgg`` by default) at two or more
values in ``fitguard doctor``: the recipe patched in this process for each run (so every training of it is the patched
one: scored, tested and shipped alike), each value a run on the same split per seed, alternating which runs first,
2 threads, machine alone; per set each value's test accuracy (mean ± sd) and, by row, every later value against the
first (the exact permutation test by test row), then pooled over the sets (``doctor_option.compare``).

``recipe_variants.py`` measures a change to the recipe trained alone on every labelled row; this measures what it
does to the doctor, whose search, forecasts and final phase the recipe goes through. The key is
``section.key`` (``train.label_smoothing``, ``model.convs``); each value is read as JSON (``0.1``, ``null``: the key
removed; ``"text"`` a string). The data: the benchmark five's image sets and the digits probes
(``doctor_option.IMAGE_PROBES``); never the held-out suites.

    python benchmarks/recipe_option.py --key train.label_smoothing --values 0 0.1 \\
        --data "digits 10%" "digits 100%" "fashion_mnist 100/class" --seeds 0 1 2
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import THREADS, alternating_cells, cells_parser, doctor
from doctor_option import IMAGE_PROBES, arm_cell, compare, load, table
from fitguard.doctor import phases
from fitguard.errors import FitguardError
from fitguard.recipe import Recipe

IMAGE_SETS = ["digits 10%", "digits 100%", "fashion_mnist 100/class"]


def parsed(recipe: str, key: str, values: list[str]) -> tuple[Any, ...]:
    """``values`` read as JSON, for ``key`` (``section.key``) of the built-in ``recipe``; an unknown recipe, a key
    not of that form or of a section the recipe lacks, or a value that is not JSON is refused in one line."""
    if recipe not in phases.RECIPES:
        raise SystemExit(f"--recipe must be one of {', '.join(phases.RECIPES)}, got {recipe!r}")
    section, _, name = key.partition(".")
    if not name or "." in name or not isinstance(phases.RECIPES[recipe].get(section), dict):
        raise SystemExit(f"--key must be section.key of a section the {recipe} recipe has "
                         f"({', '.join(s for s, v in phases.RECIPES[recipe].items() if isinstance(v, dict))}), "
                         f"got {key!r}")

    def one(value: str) -> Any:
        try:
            found = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f"--values must be JSON (0.1, null, '\"text\"'), got {value!r}") from None
        with patched(recipe, key, found) as changed:  # checked as a run would check it, before any run
            try:
                Recipe.parse(changed, f"the {recipe} recipe with {key}={value}")
            except FitguardError as error:
                raise SystemExit(str(error)) from None
        return found

    return tuple(one(v) for v in values)


@contextlib.contextmanager
def patched(recipe: str, key: str, value: Any) -> Iterator[dict[str, Any]]:
    """The built-in ``recipe`` with ``key`` (``section.key``) set to ``value`` (None: removed) for the block; the
    recipe as it was afterwards, whatever happens in the block."""
    section, _, name = key.partition(".")
    original = phases.RECIPES[recipe]
    changed = copy.deepcopy(original)
    if value is None:
        changed[section].pop(name, None)
    else:
        changed[section][name] = value
    phases.RECIPES[recipe] = changed
    try:
        yield changed
    finally:
        phases.RECIPES[recipe] = original


def run(name: str, seed: int, recipe: str, key: str, value: Any, budget: float, runs: Path) -> dict:
    """One doctor run with the recipe's ``key`` at ``value``: test accuracy, wall, kept recipe, members and each test
    row's hit."""
    data = load(name, seed)
    folder = runs / re.sub(r"[^\w.%-]+", "_", f"{key}_{json.dumps(value)}_{name}_{seed}").replace("%", "pc")
    with patched(recipe, key, value):
        return arm_cell(data, doctor(data, budget, seed, folder))


def main() -> None:
    parser = cells_parser(__doc__, "recipe_option", IMAGE_SETS, [*IMAGE_SETS, *IMAGE_PROBES], [0, 1, 2])
    parser.add_argument("--recipe", default="vgg", help="a built-in recipe (default vgg)")
    parser.add_argument("--key", required=True, help="section.key of the recipe, e.g. train.label_smoothing")
    parser.add_argument("--values", nargs="+", required=True, help="its values as JSON, the first the baseline arm")
    args = parser.parse_args()
    arms = parsed(args.recipe, args.key, args.values)
    if len(arms) < 2:
        parser.error("--values needs at least two values")
    stored, cells = alternating_cells(parser, args, arms, lambda name, seed, value: run(
        name, seed, args.recipe, args.key, value, args.budget, args.runs),
        identity={"recipe": args.recipe, "key": args.key})
    comparison = compare(cells, args.data, arms, also=("members",))
    table(comparison, arms)
    args.out.write_text(json.dumps({**stored, "values": list(arms),
                                    "budget": args.budget, "threads": THREADS, "cells": cells,
                                    "comparison": comparison}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
