"""The doctor's ablation, replayed with a test score: each remedy the doctor searches, alone, against the network
the doctor would start from with early stopping only, then the ones that helped on validation combined -- on the
benchmark sets the remedies are meant for.

Where ``benchmarks/remedies.py`` measures each remedy on a wide MLP over a fixed number of epochs, this one uses
the doctor's own definitions (``fitguard.doctor.phases.remedies_for``, the cocktail's fixed schedules sized from the
early-stopped epochs as the doctor sizes them), the doctor's base spec (patience 15, ``repeat`` so that a training
can take ``min_steps`` steps) and the first network of the doctor's architecture list for the kind of data (a CNN
for images and signals; L2 at λ = 1e-4, where the doctor would cross-validate λ). Each training fits the training
split, is scored on the validation split (which decides "helped", as in the doctor -- there by k-fold
cross-validation over train + val, here on the validation split alone, so "helped" is noisier) and on the test
split (which the doctor never sees during the search). Per remedy: test accuracy mean ± sd over seeds, the paired
difference against early stopping only (mean and a 95% t interval over seeds), how many seeds validation called it
helpful, and seconds. ``combined``: per seed, the remedies that helped
on validation, combined by the doctor's rule (``fitguard.search.ablate`` with the doctor's groups).

The data sets and splits are ``benchmarks/doctor.py``'s (``benchmark_dataset``); accuracies do not depend on the
machine's load (seeds, threads and epochs are fixed), seconds do.

usage: python benchmarks/cocktail.py [--data "fashion_mnist 100/class" ...] [--seeds 0 1 2] [--threads 1]
                                     [--only REMEDY ...] [--out benchmarks/results/cocktail.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, benchmark_dataset
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import ARCHITECTURES, _group, combine, remedies_for, schedule
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.plan import REMEDIES
from fitguard.doctor.trials import evaluator, train_recipe
from fitguard.search import ablate
from fitguard.search.evaluate import Candidate, skipped

#: the data sets the remedies are for: images (small and 28x28) and signals
DATA = ("digits 10%", "fashion_mnist 100/class", "mnist1d")
#: 97.5% quantile of Student's t for 1..9 degrees of freedom (the paired interval over seeds)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def replay(name: str, seed: int, only: list[str] | None = None) -> list[dict]:
    """One seed of the doctor's ablation on data set ``name``: rows of (remedy, val score, test accuracy, ...);
    ``only``: just these remedies (their names without sizes, e.g. "SWA"), beside early stopping only."""
    data = benchmark_dataset(name, seed)
    options = DoctorOptions(device="cpu", seed=seed)
    base = base_config(options)
    repeat = schedule(len(data.train), base.train.batch_size, options.search_epochs, options.min_steps)
    train = {"max_epochs": options.search_epochs, "repeat": repeat}
    network = {"model": dict(ARCHITECTURES[data.kind][0])}

    def run(label: str, recipe: dict) -> dict:
        started = time.perf_counter()
        trial, fitted, _ = train_recipe(base, recipe, data, name=label, phase="ablation", **train)
        test = evaluator(fitted).evaluate(data.test)["accuracy"]
        return {"remedy": label, "seed": seed, "val": trial.val_score, "val_loss": trial.details["val_loss"],
                "test": test, "epochs": trial.epochs, "seconds": time.perf_counter() - started, "trial": trial}

    reference = run("early stopping only", network)
    epochs = reference["trial"].details["best_epoch"] or reference["trial"].epochs
    changes = {label: change for label, change in remedies_for(data, network, 1e-4, REMEDIES, epochs=epochs)
               if not only or key(label) in only}
    ran = {(): reference}

    def evaluate(batch: list[tuple[str, ...]]) -> list:
        trials = []
        for names in batch:
            if len(names) > 1 and only:  # --only measures remedies alone: no combination is trained
                trials.append(skipped(Candidate(combine(network, [changes[n] for n in names]), "combined",
                                                "ablation"), "skipped: --only"))
                continue
            row = run("combined" if len(names) > 1 else names[0], combine(network, [changes[n] for n in names]))
            ran[names] = row
            trials.append(row["trial"])
        return trials

    # the doctor's own ablation (fitguard.search.ablate, combined as the doctor combines), scored on test too
    trials = ablate(evaluate, list(changes), reference["trial"], combine="helpful",
                    group=lambda label: _group(changes[label]))
    rows = []
    for trial in trials:
        names = tuple(trial.details["remedies"])
        if names not in ran:  # a combination --only skipped
            continue
        row = ran[names]
        row["helped"] = bool(trial.details.get("helped"))
        if len(names) > 1:
            row["combined"] = list(names)
            print(f"  {name} seed {seed}: combined {row['combined']} test {row['test']:.4f}", flush=True)
        elif names:
            print(f"  {name} seed {seed}: {row['remedy']:42} val {row['val']:.4f} test {row['test']:.4f} "
                  f"({row['epochs']} epochs, {row['seconds']:.0f} s){'  helped' if row['helped'] else ''}",
                  flush=True)
        row.pop("trial")
        rows.append(row)
    return rows


def key(label: str) -> str:
    """A remedy's name without its sizes (``SWA (last 20% of 28 epochs)`` -> ``SWA``): rows pair across seeds."""
    return label.split(" (")[0]


def summarize(rows: list[dict], seeds: list[int]) -> list[dict]:
    """Per remedy: test accuracy mean ± sd, the paired difference against early stopping only with a 95% t
    interval over the seeds both ran, validation's "helped" count and mean seconds."""
    none = {r["seed"]: r["test"] for r in rows if r["remedy"] == "early stopping only"}
    table = []
    for remedy in dict.fromkeys(key(r["remedy"]) for r in rows):
        mine = [r for r in rows if key(r["remedy"]) == remedy]
        tests = [r["test"] for r in mine]
        diffs = [r["test"] - none[r["seed"]] for r in mine if r["seed"] in none]
        half = (T975.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(len(diffs))
                if len(diffs) > 1 else None)
        table.append({"remedy": remedy, "runs": len(mine), "test_mean": statistics.mean(tests),
                      "test_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
                      "diff_mean": statistics.mean(diffs) if diffs else None, "diff_ci95": half,
                      "helped_on_val": sum(bool(r.get("helped")) for r in mine),
                      "seconds_mean": statistics.mean(r["seconds"] for r in mine),
                      "epochs_mean": statistics.mean(r["epochs"] for r in mine),
                      "combined": [r.get("combined") for r in mine if r.get("combined")] or None})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(BENCHMARK), metavar="NAME")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=None, metavar="REMEDY",
                        help="only these remedies (names without sizes: 'cosine schedule', SWA...); no combination")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cocktail.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {"settings": {"seeds": args.seeds, "threads": args.threads, "data": args.data}, "data": {}}
    for name in args.data:
        rows = [row for seed in args.seeds for row in replay(name, seed, args.only)]
        table = summarize(rows, args.seeds)
        report["data"][name] = {"rows": rows, "table": table}
        print(f"\n{name} ({len(args.seeds)} seeds): test accuracy, difference to early stopping only (95% t interval)")
        for t in table:
            diff = ("" if t["diff_mean"] is None or t["remedy"] == "early stopping only" else
                    f"{100 * t['diff_mean']:+5.1f}" + (f" ± {100 * t['diff_ci95']:.1f}" if t["diff_ci95"] else ""))
            print(f"  {t['remedy']:28} {100 * t['test_mean']:5.1f} ± {100 * t['test_std']:3.1f}  {diff:14} "
                  f"helped on val {t['helped_on_val']}/{t['runs']}  {t['epochs_mean']:5.0f} ep  "
                  f"{t['seconds_mean']:5.0f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
