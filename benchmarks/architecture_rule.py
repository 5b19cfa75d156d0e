"""Which network should the doctor's architecture phase keep? Its candidates for each kind of data
(``fitguard.doctor.phases.ARCHITECTURES``) trained the doctor's way on the training split and scored on the
validation split (``fourier.run``: Adam, early stopping with the best epoch restored, ``repeat`` for at least
``min_steps`` steps), then refit on train + val for the epochs validation chose, as the doctor ships a recipe; each
rule picks one network per seed from the validation figures alone, and the picks' test rows are compared with the
exact permutation test by row (``mcnemar_by_row``):

- ``smallest within epsilon``: the fewest parameters within ``epsilon`` (0.005) of the best validation accuracy
  (the doctor's rule until session 15);
- ``lowest loss within epsilon``: of those, the lowest validation loss (the doctor's rule from session 15);
- ``best accuracy``: the best validation accuracy, ties to the lower validation loss (epsilon = 0);
- ``lowest loss``: the lowest validation loss (cross-entropy: a proper score, not rounded to whole rows);
- ``lowest loss within one SE``: the doctor's rule with ``--one-se`` (session 35): on a table, of the networks
  within one standard error of the best validation accuracy (at least ``epsilon``), the lowest validation loss;
  elsewhere ``lowest loss within epsilon`` (:func:`fitguard.doctor.phases.tie_window`).

One validation split (20% of the labelled rows), as the doctor scores data with more than ``--cv-max-rows`` (600)
labelled rows; on smaller data the doctor cross-validates, so its choice is less noisy than here. The data: the
tables of ``fourier.py`` (mlbench's Vowel, Ionosphere and DNA with 1,000 labelled rows, digits as a table of 64
pixels, breast_cancer) and, of the benchmark five, digits 100% (images), Fashion-MNIST 100/class (images) and
MNIST-1D (signals). None of the held-out suites. Accuracies do not depend on the machine's load.

usage: python benchmarks/architecture_rule.py [--data NAME ...] [--seeds 0 1 2 3 4] [--threads 1]
                                              [--out benchmarks/results/architecture_rule.json]
                                              [--from-json FILE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import benchmark_dataset
from fitguard.diagnose.significance import mcnemar_by_row
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import tie_window, within_epsilon
from fitguard.search.scoring import Trial
from fourier import DATA as TABLES
from fourier import SVC, _loss, doctor_rule, loaded, run, stored

DATA = {**TABLES, **{name: (lambda seed, name=name: benchmark_dataset(name, seed))
                     for name in ("digits 100%", "fashion_mnist 100/class", "mnist1d")}}

Rows = dict[str, dict]
EPSILON = 0.005  # the doctor's default (DoctorOptions.epsilon)


def one_se(r: Rows, rows: int, kind: str) -> str:
    """The doctor's pick with ``--one-se``: :func:`doctor_rule` within :func:`~fitguard.doctor.phases.tie_window`
    of the best validation accuracy on ``rows`` validation rows of data of ``kind``."""
    views = [Trial(label, "architecture", {}, r[label]["val"], 0.0, r[label]["parameters"], 0, 0.0) for label in r]
    return doctor_rule(r, list(r), tie_window(views, EPSILON, rows, kind))


#: each rule's pick from one seed's networks, the rows of its validation split and the kind of data
RULES: dict[str, Callable[[Rows, int, str], str]] = {
    "smallest within epsilon": lambda r, rows, kind: within_epsilon(
        list(r), EPSILON, score=lambda n: r[n]["val"], prefer=lambda n: (r[n]["parameters"], -r[n]["val"],
                                                                         _loss(r[n]))),
    "lowest loss within epsilon": lambda r, rows, kind: doctor_rule(r, list(r), EPSILON),
    "best accuracy": lambda r, rows, kind: max(r, key=lambda n: (r[n]["val"], -_loss(r[n]))),
    "lowest loss": lambda r, rows, kind: min(r, key=lambda n: _loss(r[n])),
    "lowest loss within one SE": one_se,
}
OLD = "smallest within epsilon"
CURRENT, ONE_SE = "lowest loss within epsilon", "lowest loss within one SE"


def summarize(seeds: list[Rows], splits: list[tuple[int, str]]) -> dict:
    """Each rule's picks, their mean test accuracy, and each rule against the old one (by row); ``splits``: each
    seed's validation rows and kind of data."""
    nets = [{label: row for label, row in s.items() if label != SVC} for s in seeds]
    out: dict = {"networks": {label: statistics.mean(s[label]["test"] for s in seeds) for label in seeds[0]}}
    hits = {}
    for rule, pick in RULES.items():
        picks = [pick(r, rows, kind) for r, (rows, kind) in zip(nets, splits)]
        hits[rule] = np.stack([r[p]["hits"] for r, p in zip(nets, picks)])
        out[rule] = {"picks": picks, "test": float(hits[rule].mean())}
    for rule in RULES:
        if rule != OLD:
            test = mcnemar_by_row(hits[OLD], hits[rule])
            out[rule]["against_old"] = {"difference": float(hits[rule].mean() - hits[OLD].mean()),
                                        "only_rule": test.only_second, "only_old": test.only_first,
                                        "p": test.p_value}
    # the one-SE rule against the rule it widens (the doctor's from session 15 to 35)
    test = mcnemar_by_row(hits[CURRENT], hits[ONE_SE])
    out[ONE_SE]["against_epsilon"] = {"difference": float(hits[ONE_SE].mean() - hits[CURRENT].mean()),
                                      "only_rule": test.only_second, "only_epsilon": test.only_first,
                                      "p": test.p_value}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA), metavar="NAME")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/architecture_rule.json"))
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="FILE",
                        help="train nothing: apply the rules again to the runs stored in these files (this script's "
                             "or fourier.py's output)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {"settings": {"seeds": args.seeds, "threads": args.threads, "torch": torch.__version__,
                                 "epsilon": DoctorOptions().epsilon,
                                 "from_json": [str(p) for p in args.from_json or []]}, "data": {}}
    stored_runs = loaded(args.from_json) if args.from_json else {}
    for name in stored_runs or args.data:
        stored_seeds = stored_runs.get(name)
        if stored_seeds is not None and len(stored_seeds) > len(args.seeds):
            parser.error(f"{name}: {len(stored_seeds)} stored runs, {len(args.seeds)} --seeds: give the seeds they ran")
        # stored runs: the first of --seeds, in order
        data = [DATA[name](seed) for seed in args.seeds[:len(stored_seeds) if stored_seeds else None]]
        seeds = stored_seeds or [run(name, seed, [1.0], data=d) for seed, d in zip(args.seeds, data)]
        summary = summarize(seeds, [(len(d.val), d.kind) for d in data])
        report["data"][name] = {**summary, "runs": stored(seeds)}
        print(f"\n{name} ({len(seeds)} seeds): test accuracy of each rule's pick, refit on train + val")
        for rule in RULES:
            r = summary[rule]
            versus = r.get("against_old")
            line = "" if versus is None else (f"  vs the old rule {100 * versus['difference']:+.1f} "
                                              f"({versus['only_rule']} rows vs {versus['only_old']}, "
                                              f"p = {versus['p']:.2g})")
            print(f"  {rule:40} {100 * r['test']:5.1f}{line}   picks: {', '.join(r['picks'])}", flush=True)
        wider = summary[ONE_SE]["against_epsilon"]
        print(f"  {ONE_SE} against {CURRENT}: {100 * wider['difference']:+.1f} ({wider['only_rule']} rows vs "
              f"{wider['only_epsilon']}, p = {wider['p']:.2g})", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    means = {rule: statistics.mean(report["data"][n][rule]["test"] for n in report["data"]) for rule in RULES}
    print("\nmean over the data sets: " + "; ".join(f"{rule} {100 * m:.2f}" for rule, m in means.items()))


if __name__ == "__main__":
    main()
