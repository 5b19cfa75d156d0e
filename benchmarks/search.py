"""Compute a pruned Optuna study needs to get within 0.5 accuracy points of an exhaustive grid.

Space (fixed): lr in {1e-4, 3e-4, 1e-3, 3e-3} x L2 lambda in {0, 1e-5, 1e-4, 1e-3, 1e-2} x dropout in {0, 0.2, 0.4};
MLP 40-256-256-10 on MNIST-1D (3,200 train / 800 validation from its 4,000 training signals; its own 1,000
test signals), 40 epochs per configuration: the grid costs 60 x 40 = 2,400 epochs.

1. The grid trains every configuration through ``fitguard.recipe.build_run`` (seeded: a configuration's run is
   the same bit for bit whenever it is trained), recording validation and test accuracy after every epoch.
2. Each study (TPE + Hyperband, min resource 4, one per sampler seed) is Optuna's real sampler and pruner driving
   trials whose per-epoch reports are the grid's recorded curves: because training is deterministic, a trial of
   configuration c that runs e epochs would log exactly the first e points of c's grid curve, so replaying is
   the same study at none of the cost. (``--verify`` trains the first seed's study for real and checks that.)
3. Reported: epochs the study spent until a completed trial's best validation accuracy was within 0.5 points
   of the grid's best, as a fraction of 2,400 (target <= 20%), and the test accuracy of each side's pick.

    python benchmarks/search.py            # the full benchmark (2,400 training epochs)
    python benchmarks/search.py --quick    # a smaller stand-in: 10 epochs, half the training set
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import optuna

from fitguard.config import parse_config
from fitguard.recipe import build_run, load_data
from fitguard.search import apply_point
from fitguard.search.scoring import add_callbacks
from fitguard.train import Callback

SPACE = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "l2": [0.0, 1e-5, 1e-4, 1e-3, 1e-2], "dropout": [0.0, 0.2, 0.4]}
TOLERANCE = 0.005  # 0.5 accuracy points


class TestCurve(Callback):
    def __init__(self, test) -> None:
        self.test, self.values = test, []

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.values.append(trainer.evaluate(self.test)["accuracy"])


def recipe(epochs: int, train_fraction: float, device: str):
    return parse_config({
        "data": {"source": "mnist1d", "val": 0.2, "test": 0.0, "seed": 0, "train_fraction": train_fraction},
        "model": {"name": "mlp", "hidden": [256, 256]},
        "train": {"max_epochs": epochs, "batch_size": 32, "device": device, "seed": 0},
        "early_stopping": False, "tensorboard": False,
    })


def run_grid(base, data) -> dict[tuple, dict]:
    curves = {}
    for values in itertools.product(*SPACE.values()):
        point = dict(zip(SPACE, values))
        run = build_run(apply_point(base, point, data.kind), data=data)
        test = TestCurve(data.test)
        add_callbacks(run.trainer, [test])
        started = time.perf_counter()
        history = run.trainer.fit(data.train, data.val)
        curves[values] = {"val": history["val_accuracy"], "test": test.values, "seconds": time.perf_counter() - started}
        print(f"  grid {point}: best val {max(curves[values]['val']):.4f}", flush=True)
    return curves


def best_of(curve: list[float]) -> tuple[float, int]:
    best = max(curve)
    return best, curve.index(best)


def replay_study(curves, epochs: int, seed: int, target: float, max_trials: int = 200) -> dict:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=4, max_resource=epochs,
                                                                      reduction_factor=3))
    spent, reached, best = 0, None, None
    for _ in range(max_trials):
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
            continue
        value, _ = best_of(curve)
        study.tell(trial, value)
        if best is None or value > best[0]:
            best = (value, key)
        if value >= target - TOLERANCE:
            reached = spent
            break
    value, key = best
    _, at = best_of(curves[key]["val"])
    return {"seed": seed, "epochs": reached, "trials": len(study.trials), "best_val": value,
            "config": dict(zip(SPACE, key)), "test_accuracy": curves[key]["test"][at]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 epochs and half the training set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    epochs, fraction = (10, 0.5) if args.quick else (40, 1.0)
    base = recipe(epochs, fraction, args.device)
    data = load_data(base)
    print(f"{data!r}; {epochs} epochs per configuration, {60 * epochs} for the grid", flush=True)
    started = time.perf_counter()
    curves = run_grid(base, data)
    grid_seconds = time.perf_counter() - started
    grid_key = max(curves, key=lambda k: best_of(curves[k]["val"])[0])
    grid_val, grid_at = best_of(curves[grid_key]["val"])
    grid_epochs = 60 * epochs
    studies = [replay_study(curves, epochs, seed, grid_val) for seed in args.seeds]
    print(f"\ngrid: best val {grid_val:.4f} at {dict(zip(SPACE, grid_key))}, test {curves[grid_key]['test'][grid_at]:.4f}, "
          f"{grid_epochs} epochs, {grid_seconds:.0f} s")
    print(f"{'seed':>4} {'epochs':>7} {'% of grid':>9} {'trials':>6} {'best val':>8} {'test':>6}  config")
    for s in studies:
        share = "" if s["epochs"] is None else f"{100 * s['epochs'] / grid_epochs:.1f}%"
        print(f"{s['seed']:>4} {s['epochs'] or 'never':>7} {share:>9} {s['trials']:>6} {s['best_val']:>8.4f} "
              f"{s['test_accuracy']:>6.4f}  {s['config']}")
    out = Path(__file__).parent / "results" / ("search_quick.json" if args.quick else "search.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "quick": args.quick, "epochs_per_config": epochs, "grid_epochs": grid_epochs, "grid_seconds": grid_seconds,
        "grid_best_val": grid_val, "grid_best_config": dict(zip(SPACE, grid_key)),
        "grid_test_accuracy": curves[grid_key]["test"][grid_at], "studies": studies,
        "curves": {json.dumps(dict(zip(SPACE, k))): v for k, v in curves.items()},
    }, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
