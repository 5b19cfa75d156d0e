"""Compute a pruned study needs to get within 0.5 accuracy points of an exhaustive grid's best.

Space (fixed): lr in {1e-4, 3e-4, 1e-3, 3e-3} x L2 lambda in {0, 1e-5, 1e-4, 1e-3, 1e-2} x dropout in {0, 0.2, 0.4};
MLP 40-256-256-10 on MNIST-1D (3,200 train / 800 validation from its 4,000 training signals; its own 1,000
test signals), 40 epochs per configuration: the grid costs 60 x 40 = 2,400 epochs. A configuration's score is
its best epoch's validation accuracy (what ``restore_best`` keeps); its test accuracy is read at that epoch.

1. The grid trains every configuration through ``fitguard.recipe.build_run`` (seeded), recording validation
   and test accuracy after every epoch, once: the curves are cached in ``results/search_grid_cache.json``
   (keyed by the settings and the torch version), so reruns are instant and an interrupted grid resumes.
2. Each study is Optuna's real sampler and pruner driving trials whose per-epoch reports are the recorded
   curves. Training is deterministic on CPU for a fixed configuration and seed, so a trial of configuration c
   stopped after e epochs logs exactly the first e points of c's curve: replaying is the same study at none
   of the cost. ``--verify`` checks that claim: one configuration trained twice here, compared bit for bit
   with each other and with the cache (recorded by another process), plus a run without the test callback
   stopped mid-way as a pruned trial is, compared with the cached prefix.
3. Reported per strategy and seed: (a) the epochs spent until a *completed* trial first scored within 0.5
   points of the grid's best, as a share of the grid's 2,400 (the issue's measure; it stops the study with
   knowledge of the answer); (b) what the study itself delivers under its stopping rule (a fixed number of
   trials): epochs spent, the pick's validation and test accuracy against the grid's best configuration.

    python benchmarks/search.py             # full benchmark (the grid trains once, ~2,400 epochs on CPU)
    python benchmarks/search.py --verify    # ... and check the replay claim (~90 more epochs)
    python benchmarks/search.py --quick     # a smaller stand-in: 10 epochs, half the training set
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import torch

from fitguard.config import parse_config
from fitguard.recipe import build_run, load_data
from fitguard.search import apply_point
from fitguard.search.scoring import add_callbacks
from fitguard.train import Callback

SPACE = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "l2": [0.0, 1e-5, 1e-4, 1e-3, 1e-2], "dropout": [0.0, 0.2, 0.4]}
TOLERANCE = 0.005  # 0.5 accuracy points


def within(value: float, target: float) -> bool:
    """Within the tolerance of ``target``; accuracies are multiples of 1/800, so allow for rounding."""
    return value >= target - TOLERANCE - 1e-9
RESULTS = Path(__file__).parent / "results"


class TestCurve(Callback):
    """Test accuracy after every epoch (evaluation draws no random numbers, so training is unchanged)."""

    def __init__(self, test) -> None:
        self.test, self.values = test, []

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.values.append(trainer.evaluate(self.test)["accuracy"])


class StopAfter(Callback):
    """Stop after ``epochs`` epochs the way a pruned trial stops (``request_stop`` in ``on_epoch_end``)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        if epoch >= self.epochs:
            trainer.request_stop(f"stopped after {epoch} epochs")


def recipe(epochs: int, train_fraction: float, device: str):
    return parse_config({
        "data": {"source": "mnist1d", "val": 0.2, "test": 0.0, "seed": 0, "train_fraction": train_fraction},
        "model": {"name": "mlp", "hidden": [256, 256]},
        "train": {"max_epochs": epochs, "batch_size": 32, "device": device, "seed": 0},
        "early_stopping": False, "tensorboard": False,
    })


def point_key(values: tuple) -> str:
    return json.dumps(dict(zip(SPACE, values)))


def train_curve(base, data, values: tuple, test: bool = True, stop_after: int | None = None) -> dict:
    """Train one configuration; its per-epoch validation (and test) accuracy."""
    run = build_run(apply_point(base, dict(zip(SPACE, values)), data.kind), data=data)
    callbacks = ([TestCurve(data.test)] if test else []) + ([StopAfter(stop_after)] if stop_after else [])
    add_callbacks(run.trainer, callbacks)
    started = time.perf_counter()
    history = run.trainer.fit(data.train, data.val)
    curve = {"val": list(history["val_accuracy"]), "seconds": time.perf_counter() - started}
    if test:
        curve["test"] = callbacks[0].values
    return curve


def grid_curves(base, data, cache: Path, meta: dict) -> dict[tuple, dict]:
    """Every configuration's curves, from ``cache`` when it was recorded with the same ``meta``; configurations
    missing from it are trained and the cache rewritten after each one (an interrupted grid resumes)."""
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    if stored.get("meta") != meta:
        stored = {"meta": meta, "curves": {}}
    curves = {}
    for values in itertools.product(*SPACE.values()):
        key = point_key(values)
        if key not in stored["curves"]:
            stored["curves"][key] = train_curve(base, data, values)
            temporary = cache.with_suffix(".tmp")
            temporary.write_text(json.dumps(stored))
            temporary.replace(cache)
            print(f"  grid {key}: best val {max(stored['curves'][key]['val']):.4f} "
                  f"({stored['curves'][key]['seconds']:.1f} s)", flush=True)
        curves[values] = stored["curves"][key]
    return curves


def verify(base, data, curves: dict, values: tuple, prune_at: int) -> dict:
    """Check that replaying recorded curves is exact for ``values``: trained twice in this process, the
    curves are equal bit for bit to each other and to the cached ones (recorded by another process), and a
    run without the test callback, stopped at ``prune_at`` as a pruned trial is, logs exactly that prefix."""
    first, second = train_curve(base, data, values), train_curve(base, data, values)
    pruned = train_curve(base, data, values, test=False, stop_after=prune_at)
    checks = {
        "twice_same_val": first["val"] == second["val"], "twice_same_test": first["test"] == second["test"],
        "cache_same_val": first["val"] == curves[values]["val"],
        "cache_same_test": first["test"] == curves[values]["test"],
        "pruned_prefix": pruned["val"] == curves[values]["val"][:prune_at],
    }
    return {"config": dict(zip(SPACE, values)), "prune_at": prune_at, **checks, "all": all(checks.values())}


def best_of(curve: list[float]) -> tuple[float, int]:
    """A configuration's score, its best epoch's validation accuracy (what ``restore_best`` keeps); that epoch."""
    best = max(curve)
    return best, curve.index(best)


def replay(curves: dict, epochs: int, strategy: dict, seed: int, target: float, trials: int) -> dict:
    """One study of ``strategy`` on the recorded curves, ``trials`` trials at most: Optuna's real sampler and
    pruner; each trial reports its configuration's recorded validation accuracy epoch by epoch until pruned.
    Records when a completed trial first came within the tolerance of ``target``, and the study's own pick
    after ``strategy['trials']`` trials (its stopping rule)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a fixed name: Hyperband puts trials in brackets by a hash of the study name and trial number
    study = optuna.create_study(study_name=f"replay-{seed}", direction="maximize",
                                sampler=strategy["sampler"](seed), pruner=strategy["pruner"](epochs))
    spent, reached, best, stop_at = 0, None, None, None
    for number in range(trials):
        trial = study.ask()
        key = tuple(trial.suggest_categorical(name, values) for name, values in SPACE.items())
        curve = curves[key]["val"]
        pruned = False
        for epoch, value in enumerate(curve, start=1):
            spent += 1
            trial.report(value, epoch)
            if trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            value, _ = best_of(curve)
            study.tell(trial, value)
            if best is None or value > best[0]:
                best = (value, key)
            if reached is None and within(value, target):
                reached = {"epochs": spent, "trials": number + 1, "key": key}
        if number + 1 == strategy["trials"]:
            stop_at = {"epochs": spent, "key": best[1] if best else None}
        if reached is not None and stop_at is not None:
            break

    def pick(key: tuple | None) -> dict:
        if key is None:
            return {"config": None, "val": None, "test": None}
        value, at = best_of(curves[key]["val"])
        return {"config": dict(zip(SPACE, key)), "val": value, "test": curves[key]["test"][at]}

    return {
        "seed": seed,
        "epochs_spent": spent,
        "to_target": None if reached is None else {"epochs": reached["epochs"], "trials": reached["trials"],
                                                   **pick(reached["key"])},
        "stopped": None if stop_at is None else {"epochs": stop_at["epochs"], "trials": strategy["trials"],
                                                 **pick(stop_at["key"])},
    }


def strategies() -> dict[str, dict]:
    """The studies compared: sampler(seed) and pruner(max_epochs) factories, and the stopping rule (trials)."""
    from optuna.pruners import HyperbandPruner, NopPruner, SuccessiveHalvingPruner

    from fitguard.search.gridtpe import GridTPESampler
    from fitguard.search.pruning import CatchUpPruner, make_pruner, make_sampler

    plain_tpe = lambda seed: optuna.samplers.TPESampler(seed=seed)  # noqa: E731
    def catch_up(min_epochs: int) -> Callable:
        return lambda epochs: CatchUpPruner(min_epochs=min_epochs)
    rows = {
        "optuna TPE + Hyperband (baseline)": (plain_tpe, lambda e: HyperbandPruner(4, e, 3),
                                              "the issue's: TPESampler + HyperbandPruner(4, 40, eta 3)"),
        "optuna TPE + ASHA": (plain_tpe, lambda e: SuccessiveHalvingPruner(min_resource=4, reduction_factor=3),
                              "SuccessiveHalvingPruner(min 4, eta 3)"),
        "optuna TPE + patient median": (plain_tpe, lambda e: make_pruner("median", e, 4),
                                        "fitguard 'median': PatientPruner(MedianPruner(5, warmup 4), patience 3)"),
        "optuna TPE + catch-up": (plain_tpe, catch_up(4), "CatchUpPruner(min_epochs 4) with plain TPE (repeats)"),
        "grid-TPE + Hyperband": (lambda s: make_sampler("tpe", s), lambda e: make_pruner("hyperband", e, 4),
                                 "fitguard's make_sampler('tpe') (GridTPESampler) + make_pruner('hyperband')"),
        "grid-TPE, no pruning": (lambda s: make_sampler("tpe", s), lambda e: NopPruner(), "every trial 40 epochs"),
        "random without repeats + catch-up": (lambda s: GridTPESampler(seed=s, n_startup_trials=10**9), catch_up(4),
                                              "untried grid points in random order, CatchUpPruner(min_epochs 4)"),
        "grid-TPE + catch-up from epoch 1": (lambda s: make_sampler("tpe", s), catch_up(1),
                                             "CatchUpPruner(min_epochs 1)"),
        "grid-TPE + catch-up (proposed)": (lambda s: make_sampler("tpe", s), catch_up(4),
                                           "make_sampler('tpe') + CatchUpPruner(min_epochs 4)"),
    }
    out = {name: {"sampler": sampler, "pruner": pruner, "about": about, "trials": 20}
           for name, (sampler, pruner, about) in rows.items()}
    out["grid-TPE + catch-up, 30 trials"] = {**out["grid-TPE + catch-up (proposed)"], "trials": 30}
    out["grid-TPE + catch-up, 15 trials"] = {**out["grid-TPE + catch-up (proposed)"], "trials": 15}
    return out

def summarize(runs: list[dict], grid_epochs: int, grid_val: float) -> dict:
    """Shares of the grid's epochs per seed (None: never within the tolerance in the trials allowed) and what
    the study picked under its stopping rule."""
    shares = [None if r["to_target"] is None else 100 * r["to_target"]["epochs"] / grid_epochs for r in runs]
    reached = [s for s in shares if s is not None]
    stopped = [r["stopped"] for r in runs if r["stopped"]["val"] is not None]  # None: no trial completed
    return {
        "to_target_percent": shares,
        "to_target_mean_percent": statistics.mean(reached) if reached else None,
        # a seed that never got there counts with all it spent in its trials: a lower bound of its cost
        "to_target_mean_percent_never_as_spent": statistics.mean(
            s if s is not None else 100 * r["epochs_spent"] / grid_epochs for s, r in zip(shares, runs)),
        "to_target_median_percent": statistics.median(reached) if reached else None,
        "to_target_max_percent": max(reached) if reached else None,
        "never": len(shares) - len(reached),
        "to_target_test_mean": (statistics.mean(r["to_target"]["test"] for r in runs if r["to_target"])
                                if reached else None),
        "stopped_percent": [100 * s["epochs"] / grid_epochs for s in stopped],
        "stopped_mean_percent": statistics.mean(100 * s["epochs"] / grid_epochs for s in stopped),
        "stopped_within_tolerance": sum(within(s["val"], grid_val) for s in stopped),
        "stopped_val_gap_mean_points": statistics.mean(100 * (grid_val - s["val"]) for s in stopped),
        "stopped_val_gap_max_points": max(100 * (grid_val - s["val"]) for s in stopped),
        "stopped_test_mean": statistics.mean(s["test"] for s in stopped),
        "stopped_test_min": min(s["test"] for s in stopped),
    }


def print_table(results: dict, seeds: list[int], grid_test: float, max_trials: int) -> None:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    first = min(3, len(seeds))
    print(f"\n{'':<36}| epochs until within 0.5 pt, % of grid ({len(seeds)} seeds)               | stopping rule: a fixed number of trials")
    print(f"{'strategy':<36}| {'mean':>5} {'mean*':>6} {'median':>6} {'max':>5} {'never':>5} {'seeds ' + ','.join(map(str, seeds[:first])):>16} "
          f"{'test':>6} | {'trials':>6} {'epochs %':>8} {'within':>6} {'gap pt':>6} {'test':>6} {'min':>6}")
    for name, result in results.items():
        s = result["summary"]
        head = " ".join(pct(p) for p in s["to_target_percent"][:first])
        test = "-" if s["to_target_test_mean"] is None else f"{s['to_target_test_mean']:.4f}"
        print(f"{name:<36}| {pct(s['to_target_mean_percent']):>5} {pct(s['to_target_mean_percent_never_as_spent']):>6} "
              f"{pct(s['to_target_median_percent']):>6} "
              f"{pct(s['to_target_max_percent']):>5} {s['never']:>5} {head:>16} {test:>6} | {result['trials']:>6} "
              f"{s['stopped_mean_percent']:>8.1f} {s['stopped_within_tolerance']:>3}/{len(seeds):<2} "
              f"{s['stopped_val_gap_mean_points']:>6.2f} {s['stopped_test_mean']:>6.4f} {s['stopped_test_min']:>6.4f}")
    print(f"{'grid (exhaustive, 2,400 epochs)':<36}| {100.0:>5.1f} {'':>6} {'':>6} {'':>5} {'':>5} {'':>16} {grid_test:>6.4f} |")
    print(f"mean, median, max: over the seeds that got there; never: no completed trial within 0.5 points in "
          f"{max_trials} trials; mean*: never counted as all the epochs it spent (a lower bound);\n"
          "test: test accuracy of the configuration picked (at its best validation epoch); gap pt: validation points below the grid's best")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 epochs and half the training set")
    parser.add_argument("--grid-only", action="store_true", help="record (or load) the grid's curves and stop")
    parser.add_argument("--verify", action="store_true", help="check that replaying the curves is exact")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(30)))
    parser.add_argument("--max-trials", type=int, default=150, help="trials a study may take to reach the target")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    epochs, fraction = (10, 0.5) if args.quick else (40, 1.0)
    base = recipe(epochs, fraction, args.device)
    data = load_data(base)
    meta = {"epochs": epochs, "train_fraction": fraction, "device": args.device, "space": SPACE,
            "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    cache = RESULTS / ("search_grid_cache_quick.json" if args.quick else "search_grid_cache.json")
    started = time.perf_counter()
    curves = grid_curves(base, data, cache, meta)
    if args.grid_only:
        return
    grid_seconds = sum(c["seconds"] for c in curves.values())
    grid_key = max(curves, key=lambda k: best_of(curves[k]["val"])[0])
    grid_val, grid_at = best_of(curves[grid_key]["val"])
    grid_test = curves[grid_key]["test"][grid_at]
    grid_epochs = len(curves) * epochs
    checks = verify(base, data, curves, grid_key, prune_at=epochs // 3) if args.verify else None
    if checks is not None and not checks["all"]:
        raise SystemExit(f"replay is not exact: {checks}")
    near = sorted((dict(zip(SPACE, k)) for k in curves if within(best_of(curves[k]["val"])[0], grid_val)),
                  key=json.dumps)
    print(f"{data!r}; grid: {grid_epochs} epochs ({grid_seconds:.0f} s recorded), best val {grid_val:.4f} "
          f"(epoch {grid_at + 1}) at {dict(zip(SPACE, grid_key))}, test {grid_test:.4f}; "
          f"{len(near)} of {len(curves)} configurations within {100 * TOLERANCE:g} points")
    if checks is not None:
        print(f"verify: {checks}")
    results = {}
    for name, strategy in strategies().items():
        runs = [replay(curves, epochs, strategy, seed, grid_val, max(args.max_trials, strategy["trials"]))
                for seed in args.seeds]
        results[name] = {"about": strategy["about"], "trials": strategy["trials"],
                         "summary": summarize(runs, grid_epochs, grid_val), "runs": runs}
    print_table(results, args.seeds, grid_test, args.max_trials)
    out = RESULTS / ("search_quick.json" if args.quick else "search.json")
    out.write_text(json.dumps({
        "quick": args.quick, "epochs_per_config": epochs, "grid_epochs": grid_epochs, "grid_seconds": grid_seconds,
        "tolerance": TOLERANCE, "grid_best_val": grid_val, "grid_best_epoch": grid_at + 1,
        "grid_best_config": dict(zip(SPACE, grid_key)), "grid_test_accuracy": grid_test,
        "within_tolerance_configs": near, "seeds": args.seeds, "max_trials": args.max_trials, "verify": checks,
        "strategies": results, "cache": cache.name, "seconds": time.perf_counter() - started,
    }, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
