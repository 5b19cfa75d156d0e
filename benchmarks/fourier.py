"""Does an MLP on Fourier features earn its place among the doctor's table networks? Each network of the doctor's
table list (``fitguard.doctor.phases.ARCHITECTURES["table"]``), trained the doctor's way (its base spec: Adam,
early stopping with patience 15 and the best epoch restored, ``repeat`` for at least ``min_steps`` steps), on the
training split and scored on the validation split; then, as the doctor ships a recipe, trained afresh on train +
val for the epochs validation chose, and that model scored once on the test split (the figure trained on the
training split alone is printed beside it); beside them the RBF SVC peer (C and gamma by 5-fold cross-validation
on the labelled rows, refit on all of them, ``benchmarks/peers.py``): both sides see the same rows.
``--gammas`` adds the Fourier network at other multiples of its default kernel width.

Two questions, per data set, over seeds:

- each network's test accuracy (mean ± sd), and the Fourier network against the best plain MLP by test mean and
  against the RBF SVC, with the exact permutation test by test row (``mcnemar_by_row``: the seeds share the
  test rows, so each row counts once, with its margin: how many more seeds of one method got it right);
- what validation would choose by the doctor's architecture rule (of the networks within ``epsilon`` of the best
  validation score, the lowest validation loss, then the fewest parameters) among the plain MLPs, against the
  choice among all (the Fourier network included): the doctor's network before its remedies, with and without the
  new candidate; same rows, the same test. Here on one validation split, where the doctor cross-validates tables
  of up to ``--cv-max-rows`` labelled rows, so the choice is noisier than the doctor's.

The data: mlbench's Vowel (990 rows, 10 features, 11 vowels) and Ionosphere (351 rows, 34 radar returns, 2
classes), 30% stratified test, which neither benchmark suite uses and the doctor was not developed on, and
breast_cancer from the benchmark five (its split); since session 15 also mlbench's DNA (3,186 rows, 180 binary
columns, 3 classes; 1,000 labelled) and scikit-learn's digits as a table of 64 pixel columns (30% test), not
among the held-out sets either. Accuracies do not depend on the machine's load (seeds,
threads and epochs fixed), seconds do.

    apt-get install -y --no-install-recommends r-cran-mlbench && .venv/bin/pip install rdata

usage: python benchmarks/fourier.py [--data vowel ionosphere breast_cancer 'dna 1000' 'digits table']
                                    [--seeds 0 1 2 3 4] [--gammas 1] [--threads 1]
                                    [--out benchmarks/results/fourier.json] [--from-json FILE ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import benchmark_dataset
from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.data.encoding import numeric_columns
from fitguard.data.source import RawData, RawSource
from fitguard.diagnose.significance import mcnemar_by_row
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import ARCHITECTURES, describe, schedule, tie_break, within_epsilon
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import Trial, evaluator, joined, refit_epochs, refit_recipe, train_recipe
from heldout import _mlbench_table, split
from peers import sklearn_svc


def _digits_table(seed: int) -> Dataset:
    """scikit-learn's 8x8 digits as a table of 64 pixel columns, 30% stratified test (a benchmark set's data)."""
    X, y = load_digits(return_X_y=True)
    names = [f"pixel{i}" for i in range(X.shape[1])]
    source = RawSource("digits table", "table", RawData(X.astype(np.float64), y.astype(str)), "classification",
                       columns=numeric_columns(names))
    return split(source, seed=seed, test=0.3)


DATA = {
    "vowel": lambda seed: _mlbench_table("Vowel", "Class", seed),
    "ionosphere": lambda seed: _mlbench_table("Ionosphere", "Class", seed),
    "breast_cancer": lambda seed: benchmark_dataset("breast_cancer", seed),
    "dna 1000": lambda seed: _mlbench_table("DNA", "Class", seed, keep_rows=1_000),
    "digits table": _digits_table,
}
SVC = "RBF SVC+CV"


def networks(data: Dataset, gammas: list[float]) -> list[dict]:
    """The doctor's networks for the data's kind; for a table its Fourier network again at each of ``gammas`` times
    its default width."""
    candidates = ARCHITECTURES[data.kind]
    fourier = next((m for m in candidates if m.get("fourier")), None)
    widths = gammas if fourier is not None else []
    return [*candidates, *({**fourier, "fourier_gamma": g / data.train.X.shape[1]} for g in widths if g != 1)]


def as_shipped(base: TrainConfig, options: DoctorOptions, recipe: dict, data: Dataset, repeat: int) -> dict:
    """``recipe`` trained the doctor's way on the training split (its validation score and loss, and test accuracy),
    then afresh on train + val for the epochs validation chose, as the doctor ships it, scored once on the test
    split: the figures and each test row's hit (``hits``; ``hits_train_split`` for the first training)."""
    started = time.perf_counter()
    y = data.test.y.numpy()
    trial, fitted, history = train_recipe(base, recipe, data, name=describe(recipe), phase="architecture",
                                          max_epochs=options.search_epochs, repeat=repeat)
    # as the doctor ships it: afresh on train + val for the epochs validation chose, so that it sees the rows the
    # SVC's refit sees
    epochs = refit_epochs(history, base.early_stopping.monitor)
    refit, _ = refit_recipe(base, recipe, data, rows=joined(data.train, data.val), epochs=epochs, repeat=repeat)
    on_train = evaluator(fitted).predict(data.test.X).argmax(1).numpy() == y
    hits = evaluator(refit).predict(data.test.X).argmax(1).numpy() == y
    return {"val": trial.val_score, "val_loss": trial.details.get("val_loss"), "test": float(hits.mean()),
            "hits": hits, "test_train_split": float(on_train.mean()), "hits_train_split": on_train,
            "epochs": trial.epochs, "refit_epochs": epochs, "parameters": trial.parameters,
            "seconds": time.perf_counter() - started}


def run(name: str, seed: int, gammas: list[float], data: Dataset | None = None,
        models: list[dict] | None = None) -> dict[str, dict]:
    """Every network the doctor's architecture phase scores for the data's kind (and the SVC) on one seed's split:
    val score and loss, test accuracy trained on the training split and refit on train + val, the test rows' hits.
    ``data``: the seed's split (default: ``DATA[name](seed)``); ``models``: these networks instead (default: the
    doctor's, and its Fourier network at each of ``gammas``)."""
    data = data if data is not None else DATA[name](seed)
    options = DoctorOptions(device="cpu", seed=seed)
    base = base_config(options)
    repeat = schedule(len(data.train), base.train.batch_size, options.search_epochs, options.min_steps)
    y = data.test.y.numpy()
    rows = {}
    for model in networks(data, gammas) if models is None else models:
        recipe = {"model": dict(model)}
        label = describe(recipe)
        rows[label] = {**as_shipped(base, options, recipe, data, repeat),
                       "fourier": bool(model.get("fourier")), "default_gamma": model.get("fourier_gamma") is None}
        print(f"  {name} seed {seed}: {label:36} val {rows[label]['val']:.4f} test {rows[label]['test']:.4f} "
              f"(trained on the training split only: {rows[label]['test_train_split']:.4f}; {rows[label]['epochs']} "
              f"epochs, {rows[label]['seconds']:.1f} s)", flush=True)
    svc = sklearn_svc(data, seed)
    rows[SVC] = {"val": None, "test": svc["test"], "hits": np.asarray(svc["predictions"]) == y, "fourier": False,
                 "seconds": svc["seconds"]}
    print(f"  {name} seed {seed}: {SVC:36} test {svc['test']:.4f}", flush=True)
    return rows


def compare(first: list[np.ndarray], second: list[np.ndarray]) -> dict:
    """``first`` against ``second`` (one array of test-row hits per seed): the exact permutation test by test row."""
    a, b = np.stack(first), np.stack(second)
    test = mcnemar_by_row(a, b)
    return {"diff": float(a.mean() - b.mean()), "only_first": test.only_first, "only_second": test.only_second,
            "p": test.p_value}


def summarize(seeds: list[dict[str, dict]]) -> dict:
    labels = list(seeds[0])
    table = {label: {"test_mean": statistics.mean(s[label]["test"] for s in seeds),
                     "test_std": statistics.stdev(s[label]["test"] for s in seeds) if len(seeds) > 1 else 0.0,
                     "seconds_mean": statistics.mean(s[label]["seconds"] for s in seeds),
                     "test_train_split_mean": None if label == SVC else
                     statistics.mean(s[label]["test_train_split"] for s in seeds)} for label in labels}
    fourier = next(label for label in labels if seeds[0][label]["fourier"] and seeds[0][label]["default_gamma"])
    variants = [label for label in labels if seeds[0][label]["fourier"]]
    plain = [label for label in labels if label not in (*variants, SVC)]
    best_plain = max(plain, key=lambda label: table[label]["test_mean"])

    epsilon = DoctorOptions().epsilon

    def chosen(s: dict[str, dict], among: list[str]) -> str:
        return doctor_rule(s, among, epsilon)

    without = [chosen(s, plain) for s in seeds]
    with_it = [chosen(s, [*plain, fourier]) for s in seeds]
    with_all = [chosen(s, [*plain, *variants]) for s in seeds]
    hits = lambda label: [s[label]["hits"] for s in seeds]  # noqa: E731
    widths = {} if len(variants) < 2 else {
        "chosen_with_widths": with_all,
        "chosen_test_with_widths": statistics.mean(s[c]["test"] for s, c in zip(seeds, with_all)),
        "chosen_with_widths_vs_with": compare([s[c]["hits"] for s, c in zip(seeds, with_all)],
                                              [s[c]["hits"] for s, c in zip(seeds, with_it)]),
        "best_width_by_val": [max(variants, key=lambda label: s[label]["val"]) for s in seeds],
        "best_width_by_val_test": statistics.mean(max((s[v] for v in variants), key=lambda r: r["val"])["test"]
                                                  for s in seeds)}
    return {**widths,
        "table": table, "fourier": fourier, "best_plain_by_test": best_plain,
        "fourier_vs_best_plain": compare(hits(fourier), hits(best_plain)),
        "fourier_vs_svc": compare(hits(fourier), hits(SVC)),
        "chosen_without": without, "chosen_with": with_it,
        "chosen_with_vs_without": compare([s[c]["hits"] for s, c in zip(seeds, with_it)],
                                          [s[c]["hits"] for s, c in zip(seeds, without)]),
        "chosen_test_without": statistics.mean(s[c]["test"] for s, c in zip(seeds, without)),
        "chosen_test_with": statistics.mean(s[c]["test"] for s, c in zip(seeds, with_it)),
    }


def doctor_rule(runs: dict[str, dict], among: list[str], epsilon: float) -> str:
    """The network the doctor's architecture phase would keep among ``among`` (labels of ``runs``, one seed's):
    :func:`fitguard.doctor.phases.within_epsilon` with the phase's own :func:`~fitguard.doctor.phases.tie_break`,
    on each run's validation score, loss and parameters."""
    trials = [Trial(label, "architecture", {}, runs[label]["val"], 0.0, runs[label]["parameters"], 0, 0.0,
                    details={"val_loss": runs[label].get("val_loss")}) for label in among]
    return within_epsilon(trials, epsilon, score=lambda t: t.val_score, prefer=tie_break).name


def _loss(row: dict) -> float:
    """A run's validation loss; infinity when it has none (runs stored before session 15 do not)."""
    loss = row.get("val_loss")
    return float(loss) if loss is not None and np.isfinite(loss) else float("inf")


def stored(runs: list[dict[str, dict]]) -> list[dict[str, dict]]:
    """Runs as JSON: each ``hits*`` array of test-row hits packed (:func:`pack`), so that every paired test can be
    recomputed from the file."""
    return [{label: {k: pack(v) if k.startswith("hits") else v for k, v in row.items()} for label, row in s.items()}
            for s in runs]


def pack(hits: np.ndarray) -> dict:
    """Test-row hits as ``{"rows": n, "bits": base64 of numpy.packbits}`` (a tenth of a 0/1 string's size)."""
    return {"rows": len(hits), "bits": base64.b64encode(np.packbits(np.asarray(hits, dtype=bool))).decode()}


def unpack(value: dict | str) -> np.ndarray:
    """The hits :func:`pack` stored, or a 0/1 string (files written before session 15)."""
    if isinstance(value, str):
        return np.array([c == "1" for c in value])
    return np.unpackbits(np.frombuffer(base64.b64decode(value["bits"]), dtype=np.uint8))[:value["rows"]].astype(bool)


def loaded(paths: list[Path]) -> dict[str, list[dict[str, dict]]]:
    """Every data set's runs from files this script (or ``architecture_rule.py``) wrote, hits unpacked; a data set
    in several files: the last file's."""
    out = {}
    for path in paths:
        for name, entry in json.loads(path.read_text())["data"].items():
            out[name] = [{label: {k: unpack(v) if k.startswith("hits") else v for k, v in row.items()}
                          for label, row in s.items()} for s in entry["runs"]]
    return out


def _line(name: str, c: dict) -> str:
    return (f"{name}: {100 * c['diff']:+.1f} points ({c['only_first']} rows against {c['only_second']}, "
            f"p = {c['p']:.2g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA), metavar="NAME")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gammas", type=float, nargs="+", default=[1.0], metavar="MULTIPLE",
                        help="the Fourier network also at these multiples of its default kernel width γ = 1 / "
                             "features (default: 1, the doctor's network only)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fourier.json"))
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="FILE",
                        help="train nothing: summarize the runs stored in these files (this script's output) again")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {"settings": {"seeds": args.seeds, "threads": args.threads, "torch": torch.__version__,
                                 "networks": [describe({"model": m}) for m in ARCHITECTURES["table"]],
                                 "from_json": [str(p) for p in args.from_json or []]}, "data": {}}
    stored_runs = loaded(args.from_json) if args.from_json else {}
    for name in stored_runs or args.data:
        seeds = stored_runs.get(name) or [run(name, seed, args.gammas) for seed in args.seeds]
        summary = summarize(seeds)
        report["data"][name] = {**summary, "runs": stored(seeds)}
        print(f"\n{name} ({len(seeds)} seeds): test accuracy mean ± sd, refit on train + val as the doctor ships "
              "it (the SVC: on every labelled row)")
        for label, t in summary["table"].items():
            print(f"  {label:36} {100 * t['test_mean']:5.1f} ± {100 * t['test_std']:3.1f}  {t['seconds_mean']:5.1f} s"
                  + ("" if t["test_train_split_mean"] is None else
                     f"   (trained on the training split only: {100 * t['test_train_split_mean']:5.1f})"))
        print("  " + _line(f"Fourier vs best plain MLP ({summary['best_plain_by_test']})",
                           summary["fourier_vs_best_plain"]))
        print("  " + _line("Fourier vs RBF SVC", summary["fourier_vs_svc"]))
        print(f"  validation's choice: {100 * summary['chosen_test_without']:.1f} among the plain MLPs, "
              f"{100 * summary['chosen_test_with']:.1f} with the Fourier network "
              f"(chose it on {sum(c == summary['fourier'] for c in summary['chosen_with'])} of {len(seeds)} "
              f"seeds); " + _line("with vs without", summary["chosen_with_vs_without"]), flush=True)
        if "chosen_with_widths" in summary:
            print(f"  validation's choice with every width: {100 * summary['chosen_test_with_widths']:.1f} "
                  f"({', '.join(summary['chosen_with_widths'])}); "
                  + _line("vs the default width only", summary["chosen_with_widths_vs_with"]), flush=True)
            print(f"  the Fourier width validation scores best: {100 * summary['best_width_by_val_test']:.1f} "
                  f"({', '.join(summary['best_width_by_val'])})", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
