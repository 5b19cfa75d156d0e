"""Compute a study needs to get within 0.5 accuracy points of an exhaustive grid's best, and what it picks.

Space (fixed): lr in {1e-4, 3e-4, 1e-3, 3e-3} x L2 lambda in {0, 1e-5, 1e-4, 1e-3, 1e-2} x dropout in {0, 0.2, 0.4};
MLP 40-256-256-10 on MNIST-1D (3,200 train / 800 validation from its 4,000 training signals; its own 1,000
test signals), 40 epochs per configuration: the grid costs 60 x 40 = 2,400 epochs. A configuration's score is
its best epoch's validation accuracy (what ``restore_best`` keeps); its test accuracy is read at that epoch.

1. The grid trains every configuration through ``fitguard.recipe.build_run`` (seeded), recording validation
   and test accuracy after every epoch, once: the curves are cached in ``results/search_grid_cache.json``
   (keyed by the settings and the torch version), so reruns are instant and an interrupted grid resumes.
   ``reference/search_grid_cache.json`` is that cache as recorded; copy it to ``results/`` to skip the grid.
2. Each study is Optuna's real sampler and pruner driving trials whose per-epoch reports are the recorded
   curves. Training is deterministic on CPU for a fixed configuration and seed, so a trial of configuration c
   stopped after e epochs logs exactly the first e points of c's curve: replaying is the same study at none
   of the cost. ``--verify`` checks that claim: one configuration trained twice here, compared bit for bit
   with each other and with the cache (recorded by another process), plus a run without the test callback
   stopped mid-way as a pruned trial is, compared with the cached prefix.
3. Per strategy and study seed, three measures, every seed counted:
   (a) *to target*: the epochs spent until a completed trial first scored within 0.5 points of the grid's best,
       as a share of the grid's 2,400 (the issue's measure; it stops the study with knowledge of the answer).
       A seed that never gets there within ``--max-trials`` trials costs the larger of what its study spent
       and the whole grid: it failed to find what the grid finds, and it paid what it spent. Never less than
       100%, so a strategy cannot look cheap by failing.
   (b) *20 trials*: the study's own stopping rule (``study()``'s default ``trials=20``): epochs spent, and the
       picked configuration's test accuracy (the best completed trial's configuration, at its best epoch).
   (c) *equal compute*: the pick's test accuracy when the study is stopped after as many epochs as 10 and 20
       unpruned trials take (400 and 800): the best configuration completed within that budget.
   Means come with 95% percentile-bootstrap intervals over the study seeds (they cover the search's own
   randomness, not the training's nor the test set's: every configuration was trained once and its test
   accuracy is one draw on 1,000 signals, a standard error of about 1.5 points). The two strategies cheapest
   to the target, the previous default and grid-TPE without pruning are compared seed by seed: a paired
   bootstrap interval of the mean difference, the median difference, and a Wilcoxon signed-rank test with
   the side its ranks lean to. The mean is what a user pays over many studies, failures included; the ranks
   follow the typical seed, so the two can point different ways when a strategy is cheap but sometimes fails.

    python benchmarks/search.py             # full benchmark (the grid trains once, ~2,400 epochs on CPU)
    python benchmarks/search.py --verify    # ... and check the replay claim (~90 more epochs)
    python benchmarks/search.py --quick     # a smaller stand-in: 10 epochs, half the training set
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import torch

from fitguard.config import parse_config
from fitguard.recipe import build_run, load_data
from fitguard.search import apply_point
from fitguard.train import Callback

SPACE = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "l2": [0.0, 1e-5, 1e-4, 1e-3, 1e-2], "dropout": [0.0, 0.2, 0.4]}
TOLERANCE = 0.005  # 0.5 accuracy points
STOP_TRIALS = 20  # study()'s default number of trials: the studies' own stopping rule
BUDGET_TRIALS = (10, 20)  # equal-compute budgets, as the epochs of that many unpruned trials
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0


RESULTS = Path(__file__).parent / "results"


def within(value: float, target: float) -> bool:
    """Within the tolerance of ``target``; accuracies are multiples of 1/800, so allow for rounding."""
    return value >= target - TOLERANCE - 1e-9


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
    run.trainer.add_callbacks(callbacks)
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


def replay(curves: dict, epochs: int, strategy: dict, seed: int, target: float, max_trials: int,
           budgets: tuple[int, ...]) -> dict:
    """One study of ``strategy`` on the recorded curves, ``max_trials`` trials at most: Optuna's real sampler and
    pruner; each trial reports its configuration's recorded validation accuracy epoch by epoch until pruned.

    Records when a completed trial first came within the tolerance of ``target``; the study's pick after
    ``strategy['trials']`` trials (its stopping rule); and its pick once it has spent each of ``budgets`` epochs
    (the best configuration completed within the budget). The pick is the best completed trial, the first one
    on a tie, as Optuna's ``best_trial``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a fixed name: Hyperband puts trials in brackets by a hash of the study name and trial number
    study = optuna.create_study(study_name=f"replay-{seed}", direction="maximize",
                                sampler=strategy["sampler"](seed), pruner=strategy["pruner"](epochs))
    spent, reached, stop_at, number = 0, None, None, 0
    completed: list[tuple[int, float, tuple]] = []  # (epochs spent when it completed, score, configuration)

    def best_key(limit: float) -> tuple | None:
        done = [(value, -at, key) for at, value, key in completed if at <= limit]
        return max(done, key=lambda d: d[:2])[2] if done else None  # the first of equal scores

    while number < max_trials and not (reached is not None and stop_at is not None and spent >= max(budgets)):
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
        number += 1
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            value, _ = best_of(curve)
            study.tell(trial, value)
            completed.append((spent, value, key))
            if reached is None and within(value, target):
                reached = {"epochs": spent, "trials": number, "key": key}
        if number == strategy["trials"]:
            stop_at = {"epochs": spent, "key": best_key(spent)}

    def pick(key: tuple | None) -> dict:
        if key is None:  # no trial completed
            return {"config": None, "val": None, "test": None}
        value, at = best_of(curves[key]["val"])
        return {"config": list(curves).index(key), "val": value, "test": curves[key]["test"][at]}

    return {
        "seed": seed,
        "trials_run": number,
        "epochs_spent": spent,
        "to_target": None if reached is None else {"epochs": reached["epochs"], "trials": reached["trials"],
                                                   **pick(reached["key"])},
        "stopped": None if stop_at is None else {"epochs": stop_at["epochs"], "trials": strategy["trials"],
                                                 **pick(stop_at["key"])},
        "budget": {str(b): {"epochs": min(b, spent), **pick(best_key(b))} for b in budgets},
    }


PREVIOUS_DEFAULT = "grid-TPE + catch-up"  # fitguard.search's default before this benchmark was rerun (2026-12-02)


def strategies() -> dict[str, dict]:
    """The studies compared: sampler(seed) and pruner(max_epochs) factories, and the stopping rule (trials).
    A ``variant_of`` differs from that strategy in its stopping rule only, so it is left out of the ranking."""
    from optuna.pruners import HyperbandPruner, NopPruner, SuccessiveHalvingPruner

    from fitguard.search.gridtpe import GridTPESampler
    from fitguard.search.pruning import CatchUpPruner, make_pruner, make_sampler

    plain_tpe = lambda seed: optuna.samplers.TPESampler(seed=seed)  # noqa: E731
    grid_tpe = lambda seed: make_sampler("tpe", seed)  # noqa: E731
    random_order = lambda seed: GridTPESampler(seed=seed, n_startup_trials=10**9)  # noqa: E731

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
        "grid-TPE + Hyperband": (grid_tpe, lambda e: make_pruner("hyperband", e, 4),
                                 "fitguard's make_sampler('tpe') (GridTPESampler) + make_pruner('hyperband')"),
        "random without repeats, no pruning": (random_order, lambda e: NopPruner(),
                                               "untried grid points in random order, every trial 40 epochs"),
        "random without repeats + catch-up": (random_order, catch_up(4),
                                              "untried grid points in random order, CatchUpPruner(min_epochs 4)"),
        "grid-TPE + catch-up from epoch 1": (grid_tpe, catch_up(1),
                                             "make_sampler('tpe') + CatchUpPruner(min_epochs 1)"),
        "grid-TPE + catch-up from epoch 5": (grid_tpe, catch_up(5),
                                             "make_sampler('tpe') + CatchUpPruner(min_epochs 5), "
                                             "as the doctor's study"),
        PREVIOUS_DEFAULT: (grid_tpe, catch_up(4), "make_sampler('tpe') + CatchUpPruner(min_epochs 4)"),
        "grid-TPE, no pruning": (grid_tpe, lambda e: NopPruner(), "make_sampler('tpe'), every trial 40 epochs"),
    }
    out = {name: {"sampler": sampler, "pruner": pruner, "about": about, "trials": STOP_TRIALS, "variant_of": None}
           for name, (sampler, pruner, about) in rows.items()}
    for name, trials in ((f"{PREVIOUS_DEFAULT}, 30 trials", 30), (f"{PREVIOUS_DEFAULT}, 15 trials", 15)):
        out[name] = {**out[PREVIOUS_DEFAULT], "trials": trials, "variant_of": PREVIOUS_DEFAULT}
    for name, trials in (("grid-TPE, no pruning, 10 trials", 10),):
        out[name] = {**out["grid-TPE, no pruning"], "trials": trials, "variant_of": "grid-TPE, no pruning"}
    return out


def mean_interval(values: list[float]) -> dict:
    """The mean and its 95% percentile-bootstrap interval over seeds (fixed resampling seed: reproducible)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = values[rng.integers(len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def paired(a: list[float], b: list[float]) -> dict:
    """Seed by seed, ``a - b``: its mean with a paired-bootstrap interval, its median, how often each side is
    lower, and the two-sided Wilcoxon signed-rank p-value (tied seeds, a difference of exactly 0, left out)
    with the side its signed ranks lean to. The mean and the ranks can disagree: a few failures at full cost
    move the mean, the ranks follow the typical seed."""
    from scipy.stats import rankdata, wilcoxon

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    nonzero = diff[diff != 0]
    ranks = rankdata(np.abs(nonzero))
    lower, higher = float(ranks[nonzero < 0].sum()), float(ranks[nonzero > 0].sum())
    return {"difference": mean_interval(diff.tolist()), "median_difference": float(np.median(diff)),
            "a_lower": int((diff < 0).sum()), "a_higher": int((diff > 0).sum()), "ties": len(diff) - len(nonzero),
            "wilcoxon_p": float(wilcoxon(nonzero).pvalue) if len(nonzero) else 1.0,
            "rank_sums": {"a_lower": lower, "a_higher": higher},
            "ranks_lean": "a lower" if lower > higher else "a higher" if higher > lower else "neither"}


def per_seed(runs: list[dict], grid_epochs: int, worst_test: float) -> dict[str, list[float]]:
    """Each seed's numbers, failures at full cost: a seed that never reached the target costs
    max(epochs spent, the grid's epochs); a study that completed no trial scores the grid's worst test accuracy."""
    def test(pick: dict) -> float:
        return worst_test if pick["test"] is None else pick["test"]

    def to_target(run: dict, never: int) -> float:
        return 100 * (run["to_target"]["epochs"] if run["to_target"] else never) / grid_epochs

    out = {
        "to_target_percent": [to_target(r, max(r["epochs_spent"], grid_epochs)) for r in runs],
        # the previous benchmark's "mean*": a never-reached seed at what it spent, a lower bound of its cost
        "to_target_percent_never_as_spent": [to_target(r, r["epochs_spent"]) for r in runs],
        "stopped_percent": [100 * r["stopped"]["epochs"] / grid_epochs for r in runs],
        "stopped_test": [test(r["stopped"]) for r in runs],
    }
    for budget in runs[0]["budget"]:
        out[f"budget_{budget}_test"] = [test(r["budget"][budget]) for r in runs]
    return out


def summarize(runs: list[dict], grid_epochs: int, grid_val: float, worst_test: float) -> dict:
    seeds = per_seed(runs, grid_epochs, worst_test)
    return {
        **{name: mean_interval(values) for name, values in seeds.items()},
        "to_target_median_percent": float(np.median(seeds["to_target_percent"])),
        "to_target_max_percent": max(seeds["to_target_percent"]),
        "reached": sum(r["to_target"] is not None for r in runs),
        "stopped_within_tolerance": sum(r["stopped"]["val"] is not None and within(r["stopped"]["val"], grid_val)
                                        for r in runs),
        "no_completed_trial": {"stopped": sum(r["stopped"]["val"] is None for r in runs),
                               **{f"budget_{b}": sum(p["val"] is None for p in [r["budget"][b] for r in runs])
                                  for b in runs[0]["budget"]}},
        "per_seed": seeds,
    }


def comparisons(results: dict) -> list[dict]:
    """Seed by seed on every measure: the two strategies cheapest to the target (mean, failures at full cost),
    the cheapest against the previous default, and the previous default against grid-TPE without pruning
    (the issue's pair)."""
    ranked = sorted((n for n, r in results.items() if r["variant_of"] is None),
                    key=lambda n: results[n]["summary"]["to_target_percent"]["mean"])
    pairs = []
    for pair in ((ranked[0], ranked[1]), (ranked[0], PREVIOUS_DEFAULT), (PREVIOUS_DEFAULT, "grid-TPE, no pruning")):
        if pair[0] != pair[1] and set(pair) not in [set(p) for p in pairs]:
            pairs.append(pair)
    out = []
    for a, b in pairs:
        sa, sb = results[a]["summary"]["per_seed"], results[b]["summary"]["per_seed"]
        out.append({"a": a, "b": b, **{measure: paired(sa[measure], sb[measure]) for measure in sa}})
    return out


def print_table(results: dict, seeds: list[int], grid_test: float, max_trials: int, budgets: tuple[int, ...],
                grid_epochs: int) -> None:
    def interval(s: dict, digits: int) -> str:
        return f"{s['mean']:.{digits}f} [{s['low']:.{digits}f}, {s['high']:.{digits}f}]"

    n = len(seeds)
    print(f"\n{n} seeds; mean [95% bootstrap interval over seeds]; every seed counted, failures at full cost")
    print(f"{'':<38}| to target (<= {max_trials} trials) | {STOP_TRIALS} trials (study()'s default) "
          f"| equal compute: pick's test accuracy")
    print(f"{'strategy':<38}| {'reached':>7} {'% of grid':>20} {'median':>6} | {'trials':>6} {'% of grid':>7} "
          f"{'within':>6} {'pick test accuracy':>24} | "
          + " ".join(f"{f'{b} epochs ({100 * b / grid_epochs:.0f}%)':>24}" for b in budgets))
    for name, result in results.items():
        s = result["summary"]
        print(f"{name:<38}| {s['reached']:>3}/{n:<3} {interval(s['to_target_percent'], 1):>20} "
              f"{s['to_target_median_percent']:>6.1f} | {result['trials']:>6} {s['stopped_percent']['mean']:>9.1f} "
              f"{s['stopped_within_tolerance']:>3}/{n:<2} {interval(s['stopped_test'], 4):>24} | "
              + " ".join(f"{interval(s[f'budget_{b}_test'], 4):>24}" for b in budgets))
    print(f"{'grid (exhaustive)':<38}| {'':>7} {100.0:>20.1f} {'':>6} | {'':>6} {100.0:>9.1f} {'':>6} "
          f"{grid_test:>24.4f} |")
    print(f"reached: a completed trial within 0.5 validation points of the grid's best in {max_trials} trials; a seed "
          f"that never did costs max(what it spent, the grid).\nwithin: the pick after {STOP_TRIALS} trials is "
          "within 0.5 points (= reached the target in those trials); pick test accuracy: its configuration's test "
          "accuracy at its best validation epoch.\nequal compute: the study stopped once it has spent that many "
          "epochs; the best configuration completed by then.")


def print_comparisons(pairs: list[dict]) -> None:
    labels = {"to_target_percent": "to target, % of grid", "stopped_test": f"test acc., {STOP_TRIALS} trials",
              "stopped_percent": f"% of grid, {STOP_TRIALS} trials"}
    for pair in pairs:
        print(f"\npaired, same seeds: a = {pair['a']}, b = {pair['b']}")
        for measure, p in pair.items():
            if measure in ("a", "b", "to_target_percent_never_as_spent"):
                continue
            d = p["difference"]
            digits = 1 if "percent" in measure else 4
            print(f"  {labels.get(measure, measure.replace('_', ' ')):<28} a - b: mean {d['mean']:+.{digits}f} "
                  f"[{d['low']:+.{digits}f}, {d['high']:+.{digits}f}], median {p['median_difference']:+.{digits}f}; "
                  f"a lower on {p['a_lower']}, higher on {p['a_higher']}, tied on {p['ties']} seeds; "
                  f"Wilcoxon p = {p['wilcoxon_p']:.2g}, ranks lean to {p['ranks_lean']}")


def provenance() -> dict:
    """The commit the benchmark ran at, and whether the files it depends on differed from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted": git("status", "--porcelain", "--", "search.py", "../fitguard/search").splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 epochs and half the training set")
    parser.add_argument("--grid-only", action="store_true", help="record (or load) the grid's curves and stop")
    parser.add_argument("--verify", action="store_true", help="check that replaying the curves is exact")
    parser.add_argument("--seeds", type=int, default=200, help="study seeds 0 .. SEEDS-1")
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
    worst_test = min(c["test"][best_of(c["val"])[1]] for c in curves.values())
    grid_epochs = len(curves) * epochs
    budgets = tuple(trials * epochs for trials in BUDGET_TRIALS)
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
    seeds = list(range(args.seeds))
    results = {}
    for name, strategy in strategies().items():
        runs = [replay(curves, epochs, strategy, seed, grid_val, max(args.max_trials, strategy["trials"]), budgets)
                for seed in seeds]
        results[name] = {"about": strategy["about"], "trials": strategy["trials"],
                         "variant_of": strategy["variant_of"],
                         "summary": summarize(runs, grid_epochs, grid_val, worst_test), "runs": runs}
        print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)
    pairs = comparisons(results)
    print_table(results, seeds, grid_test, args.max_trials, budgets, grid_epochs)
    print_comparisons(pairs)
    out = RESULTS / ("search_quick.json" if args.quick else "search.json")
    out.write_text(json.dumps({
        "settings": {
            "date": datetime.date.today().isoformat(), **provenance(), "quick": args.quick,
            "seeds": seeds, "max_trials": args.max_trials, "stop_trials": STOP_TRIALS, "budgets_epochs": budgets,
            "tolerance": TOLERANCE, "threads": torch.get_num_threads(), "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
            "failure_cost": "a seed that never reaches the target within max_trials costs max(epochs its study "
                            "spent, grid_epochs); a study with no completed trial scores worst_test_accuracy",
            "versions": {"torch": torch.__version__, "optuna": optuna.__version__, "numpy": np.__version__},
        },
        "epochs_per_config": epochs, "grid_epochs": grid_epochs, "grid_seconds": grid_seconds,
        "grid_best_val": grid_val, "grid_best_epoch": grid_at + 1, "grid_best_config": dict(zip(SPACE, grid_key)),
        "grid_test_accuracy": grid_test, "worst_test_accuracy": worst_test, "within_tolerance_configs": near,
        "configs": [dict(zip(SPACE, k)) for k in curves], "verify": checks, "comparisons": pairs,
        "strategies": results, "cache": cache.name, "seconds": time.perf_counter() - started,
    }, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
