"""fitguard doctor vs what a user would do instead, on the same splits: test accuracy, gap and wall time.

Alternatives: scikit-learn's MLPClassifier with alpha by 5-fold GridSearchCV (on train + val), and the source
article's Keras-style recipe in plain PyTorch (MLP 256x256, L2 0.01 on every weight, dropout 0.25, Adam,
early stopping on val_loss with patience 50, best weights restored).

    python benchmarks/doctor.py --quick          # digits 10% only, small budget
    python benchmarks/doctor.py                  # digits 10%/100%, breast_cancer, MNIST-1D, Fashion-MNIST 1,000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fitguard.data import load
from fitguard.doctor import DoctorOptions, read_summary, run_doctor

DATASETS = {
    "digits 10%": dict(source="digits", train_fraction=0.1),
    "digits 100%": dict(source="digits", train_fraction=1.0),
    "breast_cancer": dict(source="breast_cancer", train_fraction=1.0),
    "mnist1d": dict(source="mnist1d", train_fraction=1.0),
    "fashion_mnist 1000": dict(source="fashion_mnist", train_fraction=1.0, options={"limit_per_class": 100}),
}


def dataset(spec: dict) -> object:
    data = load(spec["source"], val=0.2, test=0.2, seed=0, **spec.get("options", {}))
    return data.with_train_fraction(spec["train_fraction"], seed=0) if spec["train_fraction"] < 1 else data


def flat(part) -> tuple[np.ndarray, np.ndarray]:
    return part.X.reshape(len(part), -1).numpy(), part.y.numpy()


def sklearn_mlp(data) -> dict:
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier

    X = np.concatenate([flat(data.train)[0], flat(data.val)[0]])
    y = np.concatenate([flat(data.train)[1], flat(data.val)[1]])
    started = time.perf_counter()
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=0),
                          {"alpha": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]}, cv=5, n_jobs=1)
    search.fit(X, y)
    Xt, yt = flat(data.test)
    return {"test": float(search.score(Xt, yt)), "gap": float(search.score(X, y) - search.best_score_),
            "seconds": time.perf_counter() - started, "alpha": search.best_params_["alpha"]}


def keras_recipe(data, max_epochs: int) -> dict:
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


def doctor(spec: dict, budget: float, epochs: int, out: Path) -> dict:
    if spec.get("options"):
        return {"skipped": "DoctorOptions has no loader options (limit_per_class) yet; needs --config data.options"}
    started = time.perf_counter()
    options = DoctorOptions(data=spec["source"], train_fraction=spec["train_fraction"], budget=budget, epochs=epochs,
                            search_epochs=min(epochs, 100), out=str(out), quiet=True, device="cpu")
    summary = read_summary(run_doctor(options))
    return {"baseline_test": summary["test"]["baseline"]["accuracy"], "test": summary["test"]["best"]["accuracy"],
            "baseline_gap": summary["baseline"]["gap"], "gap": summary["best"]["gap"], "best": summary["best"]["name"],
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits 10%% only, 60 s search budget")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--budget", type=float, default=None, help="search seconds per dataset")
    args = parser.parse_args()
    names = args.datasets or (["digits 10%"] if args.quick else list(DATASETS))
    budget = args.budget or (60.0 if args.quick else 300.0)
    epochs = 60 if args.quick else 150
    torch.set_num_threads(2)
    results = {}
    for name in names:
        spec = DATASETS[name]
        data = dataset(spec)
        with tempfile.TemporaryDirectory() as tmp:
            row = {"doctor": doctor(spec, budget, epochs, Path(tmp) / "run")}
        row["sklearn_mlp_gridsearch"] = sklearn_mlp(data)
        row["keras_recipe_pytorch"] = keras_recipe(data, 500 if not args.quick else 200)
        row["n_train"], row["n_test"] = len(data.train), len(data.test)
        results[name] = row
        d, s, k = row["doctor"], row["sklearn_mlp_gridsearch"], row["keras_recipe_pytorch"]
        if "skipped" in d:
            print(f"{name:20s} doctor skipped: {d['skipped']} | sklearn {s['test']:.3f} | Keras recipe {k['test']:.3f}")
            continue
        print(f"{name:20s} n_train={row['n_train']:5d}  doctor baseline {d['baseline_test']:.3f} -> best {d['test']:.3f} "
              f"({d['best']}, {d['seconds']:.0f}s) | sklearn MLP+CV {s['test']:.3f} ({s['seconds']:.0f}s) | "
              f"Keras recipe {k['test']:.3f} ({k['seconds']:.0f}s) | doctor >= all: {d['test'] >= max(s['test'], k['test'])}")
    out = Path(__file__).with_name("results") / ("doctor_quick.json" if args.quick else "doctor.json")
    out.write_text(json.dumps({"budget_s": budget, "epochs": epochs, "results": results}, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
