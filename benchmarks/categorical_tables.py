"""fitguard doctor on a real table with a many-category column: learned embeddings against the capped one-hot.

Data (from the Debian package r-cran-modeldata, exported to CSV with Rscript, see ``modeldata_csv``):
  churn      ``mlc_churn``: 5,000 customers of a telephone company, 19 features, target churn (yes 14%);
             ``state`` has 51 categories (the only column past fitguard's 20-category one-hot), ``area_code`` 3,
             two yes/no plans, 15 numbers. No missing cells.
Rows: a fixed stratified 30% test split cut at seed 0 (``heldout.split``); per seed, the labelled rest is the same
for every method, 20% of it doctor's validation rows (``heldout.VAL``).

Methods, with torch and BLAS/OpenMP at 2 threads:
  doctor@B       ``fitguard doctor`` with its defaults (``state`` -> a learned embedding), ``--budget B``
  one-hot@B      the same, with ``embed=False`` (the encoding before embeddings: the 19 most frequent states keep a
                 one-hot column, the rarer 32 share one ``<other>`` column)
  hgb            ``HistGradientBoostingClassifier`` on the raw rows, categorical columns native
                 (``missing_tables.hist_gradient_boosting``)
  logreg_cv      ``LogisticRegressionCV`` on fitguard's rows with every code one-hot (``missing_tables``)
Besides the tables of ``benchmarks/doctor.py`` (doctor against the best alternative), the script tests the question
it was written for: doctor with embeddings against doctor with the capped one-hot, exact permutation test by test row
(the seeds share the test rows).

    python benchmarks/categorical_tables.py --budget 15 --seeds 0     # smoke test
    python benchmarks/categorical_tables.py                            # the measurement: 3 seeds, 60 s
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from doctor import PEERS, RESULTS, THREADS, Store, doctor, measure, print_tables, row_test, summarize, tables_parser
from fitguard.data import Dataset
from fitguard.data.csv_files import read_csv
from fitguard.data.encoding import infer_columns
from fitguard.data.source import RawData, RawSource
from heldout import split
from missing_tables import hist_gradient_boosting, logistic_regression_cv

TABLES = {"churn": ("mlc_churn", "churn")}
TEST = 0.3
CACHE = RESULTS / "modeldata"


def modeldata_csv(frame: str) -> Path:
    """``modeldata::<frame>`` written as CSV once (R's ``write.csv``: NA for missing cells, factor levels as text)."""
    path = CACHE / f"{frame}.csv"
    if path.is_file():
        return path
    if not Path("/usr/lib/R/site-library/modeldata").is_dir():
        raise FileNotFoundError("R's modeldata package is missing; install it with "
                                "`apt-get install -y --no-install-recommends r-cran-modeldata`")
    CACHE.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    script = f'library(modeldata); data({frame}); write.csv({frame}, "{temporary}", row.names = FALSE)'
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True)
    os.replace(temporary, path)
    return path


def modeldata_table(name: str, seed: int, **table) -> Dataset:
    """One of ``TABLES``, raw, split by ``heldout.split``; ``table`` options go to ``build_dataset``."""
    frame, target = TABLES[name]
    read = read_csv(modeldata_csv(frame))
    features = [j for j, column in enumerate(read.header) if column != target]
    names = [read.header[j] for j in features]
    cells, labels = read.cells[:, features], read.cells[:, read.column(target)].astype(str)
    source = RawSource(name, "table", RawData(cells, labels), "classification", columns=infer_columns(names, cells))
    return split(source, seed=seed, test=TEST, **table)


def one_hot_doctor(budget: float):
    """doctor on the same rows, encoded as before embeddings (``embed=False``)."""
    def run(data: Dataset, seed: int) -> dict:
        capped = modeldata_table(data.name, seed, embed=False)
        assert np.array_equal(capped.test.y.numpy(), data.test.y.numpy())
        with tempfile.TemporaryDirectory() as folder:
            return doctor(capped, budget, seed, Path(folder) / "run")

    return run


def embeddings_against_one_hot(store: Store, name: str, seeds: list[int], ours: str, theirs: str) -> dict:
    """Doctor with embeddings against doctor with the capped one-hot: the exact permutation test by test row
    (:func:`doctor.row_test`), and each side's balanced accuracy."""
    test = row_test(store, name, seeds, ours, theirs)
    y = np.load(store.folder / store.results["datasets"][name]["test_labels_file"], allow_pickle=False)
    balanced = {method: float(np.mean([_balanced(store.predictions(name, s, method), y) for s in test["seeds"]]))
                for method in (ours, theirs)}
    return {"embeddings": ours, "one_hot": theirs, "seeds": test["seeds"], "rows": test["rows"],
            "difference": test["difference"], "only_embeddings": test["only_ours"],
            "only_one_hot": test["only_theirs"], "p_value": test["p_value"], "verdict": test["verdict"],
            "balanced_accuracy": balanced}


def _balanced(predictions: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([np.mean(predictions[y == c] == c) for c in np.unique(y)]))


def main() -> None:
    parser = tables_parser(__doc__)
    args = parser.parse_args()
    if args.budget <= 0 or len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--budget must be positive and --seeds distinct, got {args.budget} and {args.seeds}")

    ours, theirs = f"doctor@{args.budget:g}", f"one-hot@{args.budget:g}"
    PEERS.update({theirs: one_hot_doctor(args.budget), "hgb": hist_gradient_boosting,
                  "logreg_cv": logistic_regression_cv})
    torch.set_num_threads(THREADS)
    store = Store(RESULTS / "categorical_tables.json", fresh=args.fresh)
    stored = store.results.get("settings", {}).get("budget")
    if stored is not None and stored != args.budget:
        parser.error(f"{store.path} holds results at budget {stored:g} s; "
                     f"rerun with --fresh to measure {args.budget:g}")
    methods = [ours, theirs, "hgb", "logreg_cv"]
    store.results["settings"] = {"budget": args.budget, "seeds": args.seeds, "methods": methods, "threads": THREADS,
                                 "machine": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__}
    report = {}
    with threadpool_limits(THREADS):
        for name in TABLES:
            measure(store, name, args.seeds, methods, lambda seed, name=name: modeldata_table(name, seed),
                    lambda method: args.budget if method == ours else None)
            report[name] = summarize(store, name, args.seeds, methods, [args.budget])
            report[name]["embeddings_against_one_hot"] = embeddings_against_one_hot(store, name, args.seeds, ours,
                                                                                    theirs)
            store.results.setdefault("summary", {})[name] = report[name]
            store.save()
    print_tables(report, store.results["datasets"])
    for name, summary in report.items():
        test = summary["embeddings_against_one_hot"]
        print(f"{name}: embeddings {test['difference']:+.4f} accuracy against the capped one-hot over {test['rows']} "
              f"test rows (rows embeddings won {test['only_embeddings']}, rows the one-hot won "
              f"{test['only_one_hot']}, permutation test by row p = {test['p_value']:.3g}: {test['verdict']}); "
              f"balanced "
              f"accuracy {test['balanced_accuracy'][ours]:.3f} against {test['balanced_accuracy'][theirs]:.3f}")
    print(f"-> {store.path}")


if __name__ == "__main__":
    main()
