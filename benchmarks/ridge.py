"""Benchmark: fitguard's ridge path vs scikit-learn's RidgeCV and GridSearchCV(Ridge); lasso path vs LassoCV.

Runs alternate (ours, theirs, ours, theirs, ...) so that drift in machine load hits both sides alike; the table shows
median times and ratios, and whether both sides chose the same λ. Targets (issue 5): ridge LOO as fast or faster
than RidgeCV and >= 10x faster than 5-fold GridSearchCV(Ridge); lasso path <= 1.5x LassoCV's time.

    .venv/bin/python benchmarks/ridge.py                      # CPU, writes benchmarks/results/ridge.json
    .venv/bin/python benchmarks/ridge.py --device cuda --out benchmarks/results/ridge_cuda.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LassoCV, Ridge, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold

from fitguard.linear import lasso_path, ridge_path

RIDGE_SHAPES = [(2000, 100), (5000, 500), (1000, 2000)]
LASSO_SHAPES = [(2000, 100), (1000, 500)]
LAMBDAS = np.logspace(-3, 5, 50)
# scikit-learn >= 1.7 takes the grid size as `alphas`; older versions as `n_alphas`.
LASSOCV_GRID = {"alphas": 100} if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 7) else {"n_alphas": 100}


def ridge_problem(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + rng.normal(size=p)
    # Noise of the signal's size puts the best λ inside the grid, not at an edge.
    y = X @ rng.normal(size=p) + rng.normal(scale=np.sqrt(p), size=n) + 3.0
    return X, y


def lasso_problem(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    true = np.zeros(p)
    true[: p // 10] = rng.normal(size=p // 10)
    return X, X @ true + rng.normal(size=n)


def alternate(ours: Callable[[], float], theirs: Callable[[], float], repeats: int) -> tuple[list, list, float, float]:
    """Time both ``repeats`` times, alternating; each callable returns the λ it chose."""
    ours_times, theirs_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours_choice = ours()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs_choice = theirs()
        theirs_times.append(time.perf_counter() - start)
    return ours_times, theirs_times, ours_choice, theirs_choice


def timed_once(run: Callable[[], float]) -> tuple[float, float]:
    start = time.perf_counter()
    choice = run()
    return time.perf_counter() - start, choice


def ridge_rows(repeats: int, device: str, grid_search: bool) -> list[dict]:
    rows = []
    for n, p in RIDGE_SHAPES:
        X, y = ridge_problem(n, p, seed=n + p)

        def ours_loo(X: np.ndarray = X, y: np.ndarray = y) -> float:
            result = ridge_path(X, y, LAMBDAS, cv="loo", device=device)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return result.best_lambda_

        def ridgecv(X: np.ndarray = X, y: np.ndarray = y) -> float:
            return float(RidgeCV(alphas=LAMBDAS).fit(X, y).alpha_)

        ours_loo()  # warm-up: first-call costs (CUDA context, BLAS threads) are not the method's
        ours_times, theirs_times, ours_choice, theirs_choice = alternate(ours_loo, ridgecv, repeats)
        row = {
            "problem": f"{n}x{p}",
            "ours_loo_s": statistics.median(ours_times),
            "ridgecv_s": statistics.median(theirs_times),
            "ours_lambda": ours_choice,
            "ridgecv_lambda": theirs_choice,
            "same_lambda": ours_choice == theirs_choice,
        }
        row["speedup_vs_ridgecv"] = row["ridgecv_s"] / row["ours_loo_s"]
        if grid_search:
            ours_kfold_s, ours_kfold_choice = timed_once(
                lambda X=X, y=y: ridge_path(X, y, LAMBDAS, cv=5, device=device).best_lambda_
            )
            search = GridSearchCV(Ridge(), {"alpha": LAMBDAS}, cv=KFold(5), scoring="neg_mean_squared_error")
            grid_s, grid_choice = timed_once(
                lambda X=X, y=y, search=search: float(search.fit(X, y).best_params_["alpha"]))
            row.update(
                gridsearch_s=grid_s,
                gridsearch_lambda=grid_choice,
                ours_kfold_s=ours_kfold_s,
                ours_kfold_lambda=ours_kfold_choice,
                same_kfold_lambda=ours_kfold_choice == grid_choice,
                speedup_loo_vs_gridsearch=grid_s / row["ours_loo_s"],
                speedup_kfold_vs_gridsearch=grid_s / ours_kfold_s,
            )
        rows.append(row)
        print(f"ridge {n}x{p}: done", flush=True)
    return rows


def lasso_rows(repeats: int) -> list[dict]:
    rows = []
    for n, p in LASSO_SHAPES:
        X, y = lasso_problem(n, p, seed=n * p)
        ours_times, theirs_times, ours_choice, theirs_choice = alternate(
            lambda X=X, y=y: lasso_path(X, y, n_lambdas=100, cv=5).best_lambda_,
            lambda X=X, y=y: float(LassoCV(**LASSOCV_GRID, cv=KFold(5)).fit(X, y).alpha_),
            repeats,
        )
        row = {
            "problem": f"{n}x{p}",
            "ours_s": statistics.median(ours_times),
            "lassocv_s": statistics.median(theirs_times),
            "ours_lambda": ours_choice,
            "lassocv_lambda": theirs_choice,
            "same_lambda": ours_choice == theirs_choice,
        }
        row["time_ratio_ours_over_lassocv"] = row["ours_s"] / row["lassocv_s"]
        rows.append(row)
        print(f"lasso {n}x{p}: done", flush=True)
    return rows


def print_tables(ridge: list[dict], lasso: list[dict], device: str) -> None:
    print(f"\nridge, 50 λ, LOO (ours on {device}) — median seconds; speedup = their time / ours")
    header = f"{'problem':>10} {'ours LOO':>9} {'RidgeCV':>9} {'speedup':>8} {'same λ':>7}"
    if "gridsearch_s" in ridge[0]:
        header += f" {'GridSCV 5f':>10} {'x LOO':>8} {'ours 5f':>8} {'x 5f':>7} {'same λ 5f':>9}"
    print(header)
    for row in ridge:
        line = (f"{row['problem']:>10} {row['ours_loo_s']:9.4f} {row['ridgecv_s']:9.4f} "
                f"{row['speedup_vs_ridgecv']:8.2f} {row['same_lambda']!s:>7}")
        if "gridsearch_s" in row:
            line += (f" {row['gridsearch_s']:10.3f} {row['speedup_loo_vs_gridsearch']:8.1f} "
                     f"{row['ours_kfold_s']:8.4f} {row['speedup_kfold_vs_gridsearch']:7.1f} "
                     f"{row['same_kfold_lambda']!s:>9}")
        print(line)
    print("\nlasso path, 100 λ, 5-fold CV (CPU, scikit-learn's coordinate descent on both sides)")
    print(f"{'problem':>10} {'ours':>9} {'LassoCV':>9} {'ours/LassoCV':>13} {'same λ':>7}")
    for row in lasso:
        print(f"{row['problem']:>10} {row['ours_s']:9.4f} {row['lassocv_s']:9.4f} "
              f"{row['time_ratio_ours_over_lassocv']:13.2f} {row['same_lambda']!s:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-grid-search", action="store_true", help="skip the slow GridSearchCV baseline")
    parser.add_argument("--no-lasso", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ridge.json")
    args = parser.parse_args()

    ridge = ridge_rows(args.repeats, args.device, grid_search=not args.no_grid_search)
    lasso = [] if args.no_lasso else lasso_rows(args.repeats)
    print_tables(ridge, lasso, args.device)
    report = {
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "versions": {"torch": torch.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__},
        "ridge": ridge,
        "lasso": lasso,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
