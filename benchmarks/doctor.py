"""fitguard doctor vs what a user would do instead, on the issue's splits: test accuracy, gap and wall time.

Splits (every method sees the same labelled rows; the test rows are never used for any choice):
  digits 10%     digits split test=0.5 stratified seed 0, then 10% of the training half (89 rows) / 899 test
  digits 100%    the same training half (898 rows) / 899 test
  breast_cancer  70/30 stratified seed 0 (398 / 171)
  fashion_mnist  the first 100 training images of each class (1,000) / the official 10,000 test images
  mnist1d        its 4,000 training / 1,000 test signals
fitguard doctor carves its validation split (20%) out of the labelled rows; scikit-learn's MLPClassifier gets all
of them with alpha chosen by 5-fold GridSearchCV (refit on all), and so does an RBF SVC with C and γ by 5-fold
GridSearchCV; the source article's Keras-style recipe (MLP 256x256, L2 0.01 on every weight, dropout 0.25, Adam,
early stopping on val_loss with patience 50, best weights restored) trains on doctor's training part and stops on
its validation part.

Doctor runs with its defaults (the kept model is the best recipe trained afresh on train + val for the epoch count
validation chose; candidates cross-validated when train + val hold at most 600 rows).

    python benchmarks/doctor.py --quick                      # digits 10% only, 60 s search budget
    python benchmarks/doctor.py --datasets "digits 10%" mnist1d --budget 120
    python benchmarks/doctor.py                              # every dataset, 300 s search budget each
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from fitguard.data import Dataset
from fitguard.data.builtin import LOADERS
from fitguard.data.dataset import build_dataset
from fitguard.data.splits import holdout_indices, subsample_indices
from fitguard.doctor import DoctorOptions, read_summary, run_doctor

DATASETS = {
    "digits 10%": dict(source="digits", test=0.5, fraction=0.1),
    "digits 100%": dict(source="digits", test=0.5, fraction=1.0),
    "breast_cancer": dict(source="breast_cancer", test=0.3, fraction=1.0),
    "fashion_mnist 100/class": dict(source="fashion_mnist", options={"limit_per_class": 100}, fraction=1.0),
    "mnist1d": dict(source="mnist1d", fraction=1.0),
}
VAL = 0.2  # doctor's (and the Keras recipe's) validation share of the labelled rows


def dataset(spec: dict) -> Dataset:
    """The issue's split: labelled pool (train + val for doctor) and a fixed test split, preprocessing fit on train."""
    raw = LOADERS[spec["source"]](**spec.get("options", {}))
    pool, test = raw.pool, raw.test
    codes = np.unique(pool.labels, return_inverse=True)[1]
    if test is None:
        train_index, _, test_index = holdout_indices(len(pool), codes, val=0.0, test=spec["test"], seed=0,
                                                     class_names=raw.class_names)
        pool, test = pool.take(train_index), pool.take(test_index)
        codes = codes[train_index]
    if spec["fraction"] < 1:
        pool = pool.take(subsample_indices(codes, len(pool), spec["fraction"], seed=0))
    source = dataclasses.replace(raw, pool=pool, test=test, val=None)
    return build_dataset(source, val=VAL, test=0.0, seed=0)


def flat(part) -> tuple[np.ndarray, np.ndarray]:
    return part.X.reshape(len(part), -1).numpy(), part.y.numpy()


def sklearn_mlp(data: Dataset) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier

    X = np.concatenate([flat(data.train)[0], flat(data.val)[0]])
    y = np.concatenate([flat(data.train)[1], flat(data.val)[1]])
    started = time.perf_counter()
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=0),
                          {"alpha": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]}, cv=5, n_jobs=1)
    with warnings.catch_warnings():  # "maximum iterations reached" on every fold: as a user would see it, once
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    Xt, yt = flat(data.test)
    return {"test": float(search.score(Xt, yt)), "gap": float(search.score(X, y) - search.best_score_),
            "seconds": time.perf_counter() - started, "alpha": search.best_params_["alpha"]}


def sklearn_svc(data: Dataset) -> dict:
    """An RBF support vector machine with C and γ by 5-fold GridSearchCV (refit on all labelled rows)."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X = np.concatenate([flat(data.train)[0], flat(data.val)[0]])
    y = np.concatenate([flat(data.train)[1], flat(data.val)[1]])
    started = time.perf_counter()
    search = GridSearchCV(SVC(kernel="rbf"), {"C": [0.1, 1, 10, 100], "gamma": ["scale", 1e-3, 1e-2, 1e-1]}, cv=5,
                          n_jobs=1)
    search.fit(X, y)
    Xt, yt = flat(data.test)
    return {"test": float(search.score(Xt, yt)), "gap": float(search.score(X, y) - search.best_score_),
            "seconds": time.perf_counter() - started, **search.best_params_}


def keras_recipe(data: Dataset, max_epochs: int) -> dict:
    """The article's recipe, written as a user would in plain PyTorch."""
    torch.manual_seed(0)
    (X, y), (Xv, yv), (Xt, yt) = (tuple(map(torch.as_tensor, flat(p))) for p in (data.train, data.val, data.test))
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(), torch.nn.Dropout(0.25),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Dropout(0.25),
                                torch.nn.Linear(256, data.num_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    best, best_state, waited = float("inf"), None, 0
    started = time.perf_counter()
    for _ in range(max_epochs):
        model.train()
        for batch in torch.randperm(len(X)).split(32):
            penalty = sum((p**2).sum() for n, p in model.named_parameters() if n.endswith("weight"))
            loss = loss_fn(model(X[batch]), y[batch]) + 0.01 * penalty
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(Xv), yv))
        if val_loss < best:
            best, best_state, waited = val_loss, {k: v.clone() for k, v in model.state_dict().items()}, 0
        else:
            waited += 1
            if waited > 50:
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        accuracy = lambda A, b: float((model(A).argmax(1) == b).float().mean())  # noqa: E731
        return {"test": accuracy(Xt, yt), "gap": accuracy(X, y) - accuracy(Xv, yv), "seconds": time.perf_counter() - started}


def doctor(name: str, data: Dataset, budget: float, epochs: int, out: Path, keep: str = "best") -> dict:
    """``fitguard doctor`` as a user runs it (defaults: refit on train + val), on the benchmark's split."""
    started = time.perf_counter()
    options = DoctorOptions(data=DATASETS[name]["source"], budget=budget, epochs=epochs, out=str(out), quiet=True,
                            device="cpu", keep=keep)
    summary = read_summary(run_doctor(options, data=data))
    return {"baseline_test": summary["test"]["baseline"]["accuracy"], "test": summary["test"]["best"]["accuracy"],
            "refit_epochs": summary["best"]["refit"]["epochs"], "baseline_gap": summary["baseline"]["gap"],
            "gap": summary["best"]["gap"], "best": summary["best"]["name"], "recipe": summary["best"]["recipe"],
            "chosen_architecture": summary["remedies"]["chosen_architecture"],
            "selection": summary["remedies"]["selection"], "trainings": summary["remedies"]["trainings"],
            "phase_seconds": summary["timings"], "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits 10%% only, 60 s search budget")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--budget", type=float, default=None, help="search seconds per dataset")
    parser.add_argument("--epochs", type=int, default=None, help="baseline epochs (search: at most 100)")
    parser.add_argument("--keep", default="best", help="doctor's --keep rule: best or simplest")
    args = parser.parse_args()
    names = args.datasets or (["digits 10%"] if args.quick else list(DATASETS))
    budget = args.budget or (60.0 if args.quick else 300.0)
    epochs = args.epochs or (60 if args.quick else 150)
    torch.set_num_threads(2)
    out = Path(__file__).with_name("results") / ("doctor_quick.json" if args.quick else "doctor.json")
    stored = json.loads(out.read_text()) if out.is_file() and not args.quick else {"results": {}}
    results = stored["results"]
    for name in names:
        data = dataset(DATASETS[name])
        with tempfile.TemporaryDirectory() as tmp:
            row = {"doctor": doctor(name, data, budget, epochs, Path(tmp) / "run", args.keep)}
        row["sklearn_mlp_gridsearch"] = sklearn_mlp(data)
        row["sklearn_svc_gridsearch"] = sklearn_svc(data)
        row["keras_recipe_pytorch"] = keras_recipe(data, 500 if not args.quick else 200)
        row.update(n_train=len(data.train), n_val=len(data.val), n_test=len(data.test), budget_s=budget, epochs=epochs)
        results[name] = row
        d, s, v, k = (row[key] for key in ("doctor", "sklearn_mlp_gridsearch", "sklearn_svc_gridsearch",
                                           "keras_recipe_pytorch"))
        best_alternative = max(s["test"], v["test"], k["test"])
        print(f"{name:24s} labelled={row['n_train'] + row['n_val']:5d} test={row['n_test']:5d} | doctor baseline "
              f"{d['baseline_test']:.3f} -> best {d['test']:.3f} ({d['best']} on {d['chosen_architecture']}, "
              f"{d['selection']['method']}, {d['seconds']:.0f}s) | sklearn MLP+CV {s['test']:.3f} ({s['seconds']:.0f}s) "
              f"| SVC+CV {v['test']:.3f} ({v['seconds']:.0f}s) | Keras recipe {k['test']:.3f} ({k['seconds']:.0f}s) | >= all: {d['test'] >= best_alternative}",
              flush=True)
        out.write_text(json.dumps({"results": results}, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
