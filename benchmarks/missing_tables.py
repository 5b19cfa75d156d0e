"""fitguard doctor on real tables with missing values and categories, against what a scikit-learn user would do.

Data (UCI, from the Debian package r-cran-mlbench, read with ``rdata``; see ``heldout.py`` for the setup):
  house votes 84   435 rows, 16 yes/no votes of US congressmen (392 cells NA, 104 of them in V16), target Class
                   (democrat / republican)
  breast cancer    699 rows, 9 cytology scores 1-10 (16 NA in Bare.nuclei), target Class (benign / malignant); the
                   Id column is dropped
The tables are taken raw, as a CSV export of them reads: NA cells missing, factor levels as text. Every method gets
the same column types, fitguard's rule (``infer_columns``): a column whose levels are all numbers (the 1-10 scores)
is numeric, any other (the y/n votes) categorical.

Rows: a fixed stratified 30% test split cut at seed 0 (``heldout.split``); per seed, the labelled rest is the same
for every method, 20% of it doctor's validation rows (``heldout.VAL``).

Methods, with torch and BLAS/OpenMP at 2 threads:
  doctor@B    ``fitguard doctor`` with its defaults (missing values imputed: median / most frequent + indicator),
              ``--budget B`` the whole run's wall seconds (``benchmarks/doctor.py``'s ``doctor``)
  hgb         scikit-learn ``HistGradientBoostingClassifier`` (defaults, random_state=seed) on the raw labelled rows:
              NaN as they are (its native handling), categorical columns as ``categorical_features`` (codes learned
              on the labelled rows; a category unseen there is missing)
  logreg_cv   ``LogisticRegressionCV`` (C on 17 log-spaced values 1e-4..1e4, 5-fold stratified CV, refit) on the
              same imputed + one-hot rows doctor learns from: fitguard's preprocessing refitted on all labelled rows
              (median / most frequent + missing indicators, standardized numbers; equal to scikit-learn's
              SimpleImputer + OneHotEncoder by tests/data/test_preprocess.py)
Results go to ``benchmarks/results/missing_tables.json`` (and its ``.predictions/`` folder) after every cell; the table
and the paired test (doctor at the largest budget against the best other method, exact McNemar over the pooled test
predictions of all seeds) are ``benchmarks/doctor.py``'s.

    python benchmarks/missing_tables.py --budget 15 --seeds 0     # smoke test
    python benchmarks/missing_tables.py                            # the measurement: 3 seeds, 60 s
"""

from __future__ import annotations

import os
import platform
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from doctor import PEERS, RESULTS, THREADS, Store, budget_of, measure, print_tables, summarize, tables_parser
from fitguard.data import Dataset
from fitguard.data.encoding import infer_columns
from fitguard.data.missing import missing_mask
from fitguard.data.source import RawData, RawSource
from heldout import MLBENCH, split

TABLES = {"house votes 84": ("HouseVotes84", "Class", ()), "breast cancer": ("BreastCancer", "Class", ("Id",))}
TEST = 0.3


def mlbench_table(name: str, seed: int) -> Dataset:
    """One of ``TABLES``, raw (NA cells as ``None``, levels as text), split by ``heldout.split``.

    Args:
        name: a key of ``TABLES``.
        seed: picks the validation rows among the labelled ones; the test rows are the same for every seed.
    """
    frame_name, target, dropped = TABLES[name]
    path = MLBENCH / f"{frame_name}.rda"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; install it with "
                                "`apt-get install -y --no-install-recommends r-cran-mlbench`")
    import rdata  # not a fitguard dependency: `.venv/bin/pip install rdata`

    with warnings.catch_warnings():  # "Unknown encoding. Assumed ASCII." -- the files are plain ASCII
        warnings.simplefilter("ignore", UserWarning)
        frame = rdata.read_rda(path)[frame_name]
    names = [str(c) for c in frame.columns if c != target and c not in dropped]
    cells = frame[names].astype(object).to_numpy()
    cells = np.where(missing_mask(cells.reshape(-1)).reshape(cells.shape), None, cells.astype(str))
    source = RawSource(name, "table", RawData(cells, frame[target].astype(str).to_numpy()), "classification",
                       columns=infer_columns(names, cells))
    return split(source, seed=seed, test=TEST)


def _labelled(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The raw labelled rows (train + val) and their class codes."""
    inputs = np.concatenate([data.raw_train.inputs, data.raw_val.inputs])
    labels = np.concatenate([data.raw_train.labels, data.raw_val.labels])
    return inputs, data.preprocessor.encode_target(labels).numpy()


def _scored(model, X_test: np.ndarray, data: Dataset, started: float, **chosen) -> dict:
    predictions = np.asarray(model.predict(X_test), dtype=np.int64)
    return {"test": float(np.mean(predictions == data.test.y.numpy())), "seconds": time.perf_counter() - started,
            "predictions": predictions, **chosen}


def hist_gradient_boosting(data: Dataset, seed: int) -> dict:
    """HistGradientBoostingClassifier on the raw rows: NaN native, categorical columns as categorical features."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import OrdinalEncoder

    started = time.perf_counter()
    inputs, y = _labelled(data)
    categorical = np.array([c.categorical for c in data.preprocessor.columns])
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)

    def numbers(cells: np.ndarray, fit: bool = False) -> np.ndarray:
        gaps = missing_mask(cells.reshape(-1)).reshape(cells.shape)
        X = np.empty(cells.shape, dtype=np.float64)
        X[:, ~categorical] = np.where(gaps, np.nan, cells)[:, ~categorical].astype(np.float64)
        if categorical.any():
            texts = np.where(gaps, None, cells)[:, categorical]  # None: missing to the encoder, NaN code to the model
            X[:, categorical] = (encoder.fit_transform if fit else encoder.transform)(texts)
        return X

    model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
    model.fit(numbers(inputs, fit=True), y)
    return _scored(model, numbers(data.raw_test.inputs), data, started, iterations=int(model.n_iter_))


def logistic_regression_cv(data: Dataset, seed: int) -> dict:
    """LogisticRegressionCV on fitguard's imputed + one-hot rows, the preprocessing refitted on all labelled rows."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    inputs, y = _labelled(data)
    preprocessor = data.preprocessor.refit(inputs)
    model = LogisticRegressionCV(Cs=np.logspace(-4, 4, 17), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                 max_iter=5000)
    with warnings.catch_warnings():  # scikit-learn 1.9 announces new defaults (scoring, l1_ratios); these are fixed
        warnings.simplefilter("ignore", FutureWarning)
        model.fit(preprocessor.expand(preprocessor.transform(inputs))[0], y)
    # expand: an embedded column's codes as one-hot columns, what a linear model can use
    return _scored(model, preprocessor.expand(preprocessor.transform(data.raw_test.inputs))[0], data, started,
                   C=float(np.ravel(model.C_)[0]))


METHODS = {"hgb": hist_gradient_boosting, "logreg_cv": logistic_regression_cv}


def main() -> None:
    parser = tables_parser(__doc__)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), metavar="NAME", help="only these tables")
    args = parser.parse_args()
    for i, name in enumerate(args.tables):
        if name not in TABLES:
            parser.error(f"--tables[{i}] = {name!r}; allowed: {', '.join(map(repr, TABLES))}")
    if args.budget <= 0 or len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--budget must be positive and --seeds distinct, got {args.budget} and {args.seeds}")

    PEERS.update(METHODS)  # run_cell looks every non-doctor method up in this table
    torch.set_num_threads(THREADS)
    store = Store(RESULTS / "missing_tables.json", fresh=args.fresh)
    stored = store.results.get("settings", {}).get("budget")
    if stored is not None and stored != args.budget:
        parser.error(f"{store.path} holds results at budget {stored:g} s; "
                     f"rerun with --fresh to measure {args.budget:g}")
    store.results["settings"] = {"budget": args.budget, "seeds": args.seeds, "methods": list(METHODS),
                                 "threads": THREADS, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                 "torch": torch.__version__}
    methods = [f"doctor@{args.budget:g}", *METHODS]
    report = {}
    with threadpool_limits(THREADS):
        for name in args.tables:
            measure(store, name, args.seeds, methods, lambda seed, name=name: mlbench_table(name, seed), budget_of)
            report[name] = summarize(store, name, args.seeds, methods, [args.budget])
            store.results.setdefault("summary", {})[name] = report[name]
            store.save()
    print_tables(report, store.results["datasets"])
    print(f"-> {store.path}")


if __name__ == "__main__":
    main()
