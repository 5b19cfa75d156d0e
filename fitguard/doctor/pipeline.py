"""``fitguard doctor``: split -> baseline -> diagnosis -> remedy search -> final training -> one test evaluation.

Everything the report shows is written to the run folder (``summary.json``, the histories, the two models,
augmentation samples), so ``fitguard report RUN_DIR`` can rebuild it without the data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fitguard.config import TrainConfig, parse_config, read_config_file
from fitguard.data import Dataset, kfold
from fitguard.doctor import phases
from fitguard.doctor.diagnosis import diagnose, ensemble_decomposition, sentence
from fitguard.doctor.options import DoctorOptions
from fitguard.doctor.summary import layer_table, versions, write_summary
from fitguard.doctor.trials import Trial, joined, refit_epochs, refit_recipe, score_and_gap, train_recipe
from fitguard.models.imported import is_import_path
from fitguard.models import count
from fitguard.recipe import load_data
from fitguard.runs import MARKER, prepare_run_dir, save_model, write_json

#: the baseline network per family: big enough to overfit small data, the usual first try
BASELINE_MODELS = {"mlp": {"hidden": [256, 256]}, "cnn": {"widths": [32, 64]}, "cnn1d": {"widths": [32, 64]}}
#: shares of the search budget at which each phase must stop starting new trainings
SHARES = {"architecture": 0.4, "lambda_cv": 0.65, "ablation": 0.9}


def base_config(options: DoctorOptions) -> TrainConfig:
    raw = read_config_file(options.config) if options.config else {}
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    data = raw.setdefault("data", {})
    if not options.config or options.data != DoctorOptions.data:
        data["source"] = options.data
    if options.target is not None:
        data["target"] = options.target
    data.setdefault("seed", options.seed)
    if options.train_fraction < 1:
        data["train_fraction"] = options.train_fraction
    if options.data_options:
        data["options"] = {**(data.get("options") or {}), **options.data_options}
    raw.setdefault("train", {}).update(device=options.device, seed=options.seed)
    raw["early_stopping"] = {"monitor": "val_loss", "patience": options.patience, "restore_best": True}
    raw["checkpoint"] = {"every_minutes": None, "every_epochs": None, "keep_last": 1}
    raw["tensorboard"] = True
    return parse_config(raw, options.config or "doctor options")


class _Phases:
    """Rich progress bars, one per phase (silent when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), disable=quiet)
        self.task: Any = None

    def start(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, total=self.progress.tasks[self.task].completed)
        self.task = self.progress.add_task(name, total=total)

    def tick(self) -> None:
        self.progress.advance(self.task)


def _scores(trainer: Any, data: Dataset) -> dict[str, dict[str, float]]:
    return {"train": trainer.evaluate(data.train), "val": trainer.evaluate(data.val)}


def _augmentation_samples(run_dir: Path, data: Dataset, recipe: dict[str, Any], seed: int) -> None:
    from fitguard import augment

    spec = next((c["remedies"]["augment"] for c in [recipe] if c.get("remedies", {}).get("augment")), None)
    spec = spec or {"rotate": 10.0, "shift": 0.1, "scale": 0.1}
    originals = data.train.X[:8].cpu()
    labels = data.train.y[:8].cpu()
    pipeline = augment.images(**spec)
    generator = torch.Generator().manual_seed(seed)
    views = [pipeline(originals.clone(), labels, generator)[0] for _ in range(3)]
    np.savez_compressed(run_dir / "augmentation_samples.npz", original=originals.numpy(),
                        augmented=torch.stack(views, 1).numpy(), labels=np.asarray([data.class_names[i] for i in labels]),
                        spec=np.asarray([repr(spec)]))


def candidates(options: DoctorOptions, kind: str) -> list[dict[str, Any]]:
    """The architecture phase's recipes: the backbone first (when given), then the networks that fit the data."""
    found: list[dict[str, Any]] = []
    if options.backbone is not None:
        found.append({"model": {"name": options.model or "auto"},
                      "transfer": {"backbone": options.backbone, "freeze_all_but": options.freeze_all_but,
                                   "unfreeze_every": options.unfreeze_every}})
    if options.model is not None and is_import_path(options.model):
        found.append({"model": {"name": options.model}})
    elif options.model is not None:
        found.append({"model": {"name": options.model, **BASELINE_MODELS[options.model]}})
        found += [{"model": dict(m)} for m in phases.ARCHITECTURES[kind] if m["name"] == options.model]
    else:
        found += [{"model": dict(m)} for m in phases.ARCHITECTURES[kind]]
    return [c for i, c in enumerate(found) if c not in found[:i]]


def baseline_network(model: str | None) -> dict[str, Any]:
    """The article's first try, whatever the data: a wide MLP that can memorize small data, cheap to diagnose;
    the user's own network (``--model``) as it comes."""
    if model is not None and is_import_path(model):
        return {"name": model}
    return {"name": model or "mlp", **BASELINE_MODELS[model or "mlp"]}


def run_doctor(options: DoctorOptions, console: Console | None = None, data: Dataset | None = None) -> Path:
    """Run every phase and write the run folder; return its path.

    ``data``: an already split :class:`~fitguard.data.Dataset` to use instead of loading ``options.data`` (e.g.
    fixed benchmark splits); it needs validation and test splits.
    """
    console = console or Console()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    run_dir = prepare_run_dir(options.out, overwrite=options.overwrite)
    base = base_config(options)
    write_json(run_dir / MARKER, {"command": "doctor", "options": options.to_dict(), "config": base.model_dump(mode="json")})
    given = data is not None
    data = data if data is not None else load_data(base)
    if data.val is None or data.test is None:
        raise ValueError("`fitguard doctor` needs validation and test splits: use val > 0 and test > 0 in the data spec")
    timings["load"] = time.perf_counter() - started
    baseline_model = baseline_network(options.model)
    bars = _Phases(options.quiet)
    search: dict[str, Any] = {}
    with bars.progress:
        # baseline: no remedies, long enough to show what it does; its last weights are what a user would keep
        clock = time.perf_counter()
        bars.start("baseline", 1)
        baseline_recipe = {"model": baseline_model,
                           "early_stopping": {"patience": options.baseline_patience, "restore_best": False}}
        baseline, baseline_run, baseline_history = train_recipe(
            base, baseline_recipe, data, name="baseline", phase="baseline", out=run_dir / "baseline",
            max_epochs=options.epochs)
        baseline_history.save(run_dir / "baseline_history.json")
        save_model(run_dir, baseline_run.model, baseline_run.model_name, baseline_run.model_options, data,
                   stem="baseline", architecture=baseline_run.architecture)
        bars.tick()
        timings["baseline"] = time.perf_counter() - clock

        clock = time.perf_counter()
        bars.start("diagnosis", 1 + (options.rounds > 0))
        diagnosis = diagnose(baseline_history, baseline_run.model, data, baseline.parameters)
        bars.tick()
        bias_variance = None
        if options.rounds:
            bias_variance = ensemble_decomposition(
                data, baseline_run.model_name, baseline_run.model_options, rounds=options.rounds,
                epochs=max(2, min(30, baseline.details["best_epoch"] or len(baseline_history))),
                lr=base.train.lr, batch_size=base.train.batch_size, seed=options.seed)
            bars.tick()
        timings["diagnosis"] = time.perf_counter() - clock

        budget = phases.Clock(options.budget, options.trials)
        score, selection = _scorer(base, data, options)
        clock = time.perf_counter()
        networks = candidates(options, data.kind)
        bars.start("architecture", len(networks))
        search["architecture"], chosen = phases.architecture(
            score, budget, networks, epsilon=options.epsilon, tick=bars.tick, share=SHARES["architecture"])
        timings["architecture"] = time.perf_counter() - clock
        model = chosen.recipe

        clock = time.perf_counter()
        bars.start("λ cross-validation", len(phases.LAMBDAS))
        search["lambda_cv"] = phases.lambda_cv(score, budget, model, folds=options.folds, tick=bars.tick,
                                               share=SHARES["lambda_cv"])
        timings["lambda_cv"] = time.perf_counter() - clock

        clock = time.perf_counter()
        singles = phases.remedies_for(data, model, search["lambda_cv"]["best_lam"])
        bars.start("ablation", len(singles) + 1)
        search["ablation"] = phases.ablation(score, budget, chosen, model, search["lambda_cv"]["best_lam"],
                                             tick=bars.tick, share=SHARES["ablation"])
        timings["ablation"] = time.perf_counter() - clock

        clock = time.perf_counter()
        ranked = [t for t in search["ablation"] if t.status == "done"]
        leader = max(ranked, key=phases.rank)  # first (fewest remedies) on ties
        bars.start("study", options.trials and max(0, (options.trials - budget.used) // score.trainings))
        search["study"] = phases.study(score, budget, leader, run_dir / "study.db", seed=options.seed, tick=bars.tick)
        timings["study"] = time.perf_counter() - clock

        scored = [*ranked, *[t for t in search["study"] if t.status == "done"]]
        best = phases.simplest_within_one_se(scored) if options.keep == "simplest" else max(scored, key=phases.rank)
        clock = time.perf_counter()
        bars.start("final training", 1)
        final, final_run, final_history = train_recipe(score.base, best.recipe, data, name=best.name, phase="final",
                                                       out=run_dir, **score.train)
        final_history.save(run_dir / "best_history.json")
        kept, refit = final_run, None
        if options.refit:
            # validation chose the recipe and the epoch count (the folds' median best epoch when cross-validated);
            # now every labelled row trains the kept model
            epochs = best.details["best_epoch"] if score.folds else refit_epochs(final_history)
            kept, refit_history = refit_recipe(score.base, best.recipe, data, epochs=epochs, **score.train)
            refit = {"epochs": len(refit_history), "rows": len(data.train) + len(data.val),
                     "scores": kept.trainer.evaluate(joined(data.train, data.val))}
        save_model(run_dir, kept.model, kept.model_name, kept.model_options, data, stem="best",
                   architecture=kept.architecture)
        bars.tick()
        timings["final"] = time.perf_counter() - clock

    # the only time the test split is looked at
    test = {"baseline": baseline_run.trainer.evaluate(data.test), "best": kept.trainer.evaluate(data.test)}
    if data.kind == "image":
        _augmentation_samples(run_dir, data, best.recipe, options.seed)
    timings["total"] = time.perf_counter() - started
    baseline_counts = count(baseline_run.model, data.input_shape)
    best_counts = count(final_run.model, data.input_shape)
    summary = {
        "format": "fitguard-doctor/1",
        "command": options.command(),
        "options": options.to_dict(),
        "config": base.model_dump(mode="json"),
        "seed": options.seed,
        "data": {"source": "given Dataset" if given else base.data.source, "name": data.name, "task": data.task, "kind": data.kind,
                 "input_shape": list(data.input_shape), "class_names": list(data.class_names),
                 "feature_names": list(data.feature_names) if data.feature_names else None,
                 "n_train": len(data.train), "n_val": len(data.val), "n_test": len(data.test),
                 "train_fraction": base.data.train_fraction, "split_seed": base.data.seed},
        "metric": "accuracy" if data.task == "classification" else "loss",
        "model": {"baseline": layer_table(baseline_run.model_name, baseline_run.model_options, baseline_counts),
                  "best": layer_table(final_run.model_name, final_run.model_options, best_counts)},
        "baseline": {**_run_record(baseline, baseline_run, baseline_history, data), "history": "baseline_history.json"},
        "verdict": {**diagnosis, "sentence": sentence(diagnosis)},
        "bias_variance": bias_variance,
        "remedies": {
            "epsilon": options.epsilon,
            "architecture": [t.to_dict() for t in search["architecture"]],
            "chosen_architecture": chosen.name,
            "lambda_cv": search["lambda_cv"],
            "ablation": [t.to_dict() for t in search["ablation"]],
            "study": {"storage": "study.db", "trials": [t.to_dict() for t in search["study"]]},
            "trainings": budget.used,
            "selection": selection,
        },
        "best": {**_run_record(final, final_run, final_history, data), "name": best.name, "recipe": best.recipe,
                 "config": final_run.config.model_dump(mode="json"), "history": "best_history.json",
                 "model_file": "best.safetensors", "refit": refit},
        "test": test,
        "timings": timings,
        "versions": versions(),
    }
    write_summary(run_dir, summary)
    from fitguard.report import build_report

    report = build_report(run_dir)
    if not options.quiet:
        _print_outcome(console, summary, report)
    return run_dir


def _scorer(base: TrainConfig, data: Dataset, options: DoctorOptions) -> tuple[phases.Scorer, dict[str, Any]]:
    """How the search scores recipes: cross-validated when the labelled rows are at most ``cv_max_rows``, each
    epoch repeating the (fold's) training rows until ``search_epochs`` epochs can take ``min_steps`` steps."""
    labelled = len(data.train) + len(data.val)
    folds = list(kfold(data, k=options.folds, seed=base.data.seed)) if labelled <= options.cv_max_rows else None
    rows = min(len(train) for train, _ in folds) if folds else len(data.train)
    repeat = phases.schedule(rows, base.train.batch_size, options.search_epochs, options.min_steps)
    score = phases.Scorer(base, data, folds, {"max_epochs": options.search_epochs, "repeat": repeat})
    rule = ("fewest remedies within one standard error of the best" if folds and options.keep == "simplest"
            else "best validation score")
    return score, {**score.method, "labelled_rows": labelled, "max_epochs": options.search_epochs,
                   "patience": options.patience, "repeat": repeat, "min_steps": options.min_steps, "kept": rule}


def _run_record(trial: Trial, run: Any, history: Any, data: Dataset) -> dict[str, Any]:
    scores = _scores(run.trainer, data)
    score, gap = score_and_gap(data.task, scores["train"], {f"val_{k}": v for k, v in scores["val"].items()})
    return {"val_score": score, "gap": gap, "parameters": trial.parameters, "epochs": len(history),
            "best_epoch": history.best_epoch, "stop_reason": history.stop_reason, "scores": scores,
            "seconds": trial.seconds}


def _print_outcome(console: Console, summary: dict[str, Any], report: Path) -> None:
    from rich.table import Table

    metric = summary["metric"]
    table = Table(title=f"fitguard doctor: {summary['data']['name']}")
    for header in ("", f"test {metric}", "train - val gap", "parameters"):
        table.add_column(header, justify="left" if not header else "right")
    for who in ("baseline", "best"):
        table.add_row(who if who == "baseline" else f"best: {summary['best']['name']}",
                      f"{summary['test'][who][metric]:.4f}", f"{summary[who]['gap']:+.4f}",
                      f"{summary[who]['parameters']:,}")
    console.print(table)
    console.print(summary["verdict"]["sentence"])
    console.print(f"report: {report}")
