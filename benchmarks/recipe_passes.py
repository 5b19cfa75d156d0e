"""``fitguard doctor``'s few-rows rule for its built-in recipes (``fitguard.doctor.phases.RECIPE_MIN_STEPS``: on
few labelled rows the VGG recipe takes up to ``RECIPE_MAX_PASSES`` = 2 passes over them an epoch, in every training
of it -- scored, tested and shipped alike, the time forecasts seeing the doubled epochs) against the recipe at 1
pass (``RECIPE_MAX_PASSES`` = 1, the doctor before session 31).

Why: on few rows the recipe's one cycle over 60 epochs of batch 64 takes few steps (digits 10%: 1 step an epoch on a
fold's 60 rows, 2 on the 90 labelled rows), and session 23 measured 2 passes an epoch worth 1.5 points to the recipe
trained alone there (``recipe_variants.py``). Session 30 ran this probe with the recipe's ``repeat`` patched to 2
on digits 10% (the same trainings the rule gives there). ``digits 20%`` (180 labelled rows, 3 steps an epoch: the
rule's 2 passes) is a probe set (``doctor_option.IMAGE_PROBES``), cut as ``digits 10%`` is. Both arms run on the
same split per seed, alternating which goes first, 60 s, 2 threads, machine alone; test accuracy and the row test
(exact McNemar, 2 passes first). The patch is in this process only (``RECIPE_MAX_PASSES`` is read when a run loads the
recipe). ``--min-steps`` moves the rule's threshold for a probe beyond its 192 rows (``digits 30%``, 270 labelled
rows, takes 2 passes at 480; write such cells to their own ``--out``).

    python benchmarks/recipe_passes.py --data "digits 10%" "digits 20%" --seeds 0 1 2
    python benchmarks/recipe_passes.py --data "digits 30%" --min-steps 480 --out benchmarks/results/passes_480.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, THREADS, alternating_cells, cells_parser, doctor
from doctor_option import IMAGE_PROBES, arm_cell, compare, load, table
from fitguard.doctor import phases

PASSES = (1, 2)


def run(name: str, seed: int, passes: int, budget: float, runs: Path, min_steps: int) -> dict:
    """One doctor run with the built-in recipes at up to ``passes`` passes an epoch on few rows (the rule's
    ``RECIPE_MIN_STEPS`` at ``min_steps``: a probe of the rule beyond its 192 rows when above the default)."""
    data = load(name, seed)
    labelled = len(data.train) + len(data.val)
    defaults = phases.RECIPE_MAX_PASSES, phases.RECIPE_MIN_STEPS
    phases.RECIPE_MIN_STEPS = min_steps
    try:
        if phases.passes_of(phases.load_recipe("vgg", labelled)) == 1:
            raise SystemExit(f"{name}: {labelled} labelled rows take 1 pass under the rule at --min-steps {min_steps} "
                             "as well: both arms would be the same doctor (at the default, a set of at most 192 "
                             "labelled rows, e.g. digits 10% or 20%)")
        phases.RECIPE_MAX_PASSES = passes
        folder = f"passes{passes}_{name.replace(' ', '_').replace('%', 'pc')}_{seed}"
        cell = doctor(data, budget, seed, runs / folder)
    finally:
        phases.RECIPE_MAX_PASSES, phases.RECIPE_MIN_STEPS = defaults
    return {**arm_cell(data, cell), "min_steps": min_steps}


def main() -> None:
    parser = cells_parser(__doc__, "recipe_passes", ["digits 10%", "digits 20%"], [*BENCHMARK, *IMAGE_PROBES],
                          [0, 1, 2])
    parser.add_argument("--min-steps", type=int, default=phases.RECIPE_MIN_STEPS,
                        help=f"the rule's RECIPE_MIN_STEPS for this run (default {phases.RECIPE_MIN_STEPS}; 480 "
                             "gives 2 passes up to 448 labelled rows)")
    args = parser.parse_args()
    stored, cells = alternating_cells(parser, args, PASSES, lambda name, seed, passes: run(
        name, seed, passes, args.budget, args.runs, args.min_steps))
    comparison = compare(cells, args.data, PASSES, also=("members",))
    table(comparison, PASSES)
    args.out.write_text(json.dumps({**stored, "threads": THREADS, "cells": cells, "comparison": comparison}, indent=1))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
