"""The remedy search, phase by phase; every remedy earns its place on validation data, never on the test split.

1. ``architecture``: the model families that fit the kind of data, at several widths/depths, each with early
   stopping; the chosen network is the *smallest* within ``epsilon`` of the best validation score.
2. ``lambda_cv``: k-fold cross-validation (over train + val, test untouched) of the L2 strength λ.
3. ``ablation``: each remedy alone on the chosen network, then the ones that helped, combined.
4. ``study``: an Optuna study (SQLite in the run folder, median pruning on the per-epoch validation score) over
   λ, dropout and learning rate around the best recipe, for whatever budget is left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fitguard.config import TrainConfig
from fitguard.data import Dataset, kfold
from fitguard.doctor.options import FAMILIES
from fitguard.doctor.trials import Trial, train_recipe
from fitguard.train import Callback

#: candidate networks per kind of data, ordered so that a short budget still sees every family
ARCHITECTURES: dict[str, list[dict[str, Any]]] = {
    "table": [{"name": "mlp", "hidden": [64]}, {"name": "mlp", "hidden": [256, 256]}, {"name": "mlp", "hidden": [16]},
              {"name": "mlp", "hidden": [256]}, {"name": "mlp", "hidden": [64, 64]}],
    "image": [{"name": "cnn", "widths": [16, 32]}, {"name": "mlp", "hidden": [256]},
              {"name": "cnn", "widths": [32, 64]}, {"name": "mlp", "hidden": [64]},
              {"name": "mlp", "hidden": [256, 256]}, {"name": "cnn", "widths": [8, 16]}],
    "signal": [{"name": "cnn1d", "widths": [32, 64]}, {"name": "mlp", "hidden": [256, 256]},
               {"name": "cnn1d", "widths": [16, 32]}, {"name": "cnn1d", "widths": [64, 128]},
               {"name": "mlp", "hidden": [64]}],
}
LAMBDAS = (1e-5, 1e-4, 1e-3, 1e-2)


@dataclass
class Clock:
    """The search budget: seconds and/or a number of trainings; ``spend`` says whether one more fits."""

    seconds: float | None
    trials: int | None
    started: float = field(default_factory=time.perf_counter)
    used: int = 0

    def left(self) -> float:
        return math.inf if self.seconds is None else self.seconds - (time.perf_counter() - self.started)

    def spend(self, share: float = 1.0) -> bool:
        """True (and count it) when one more training fits; a phase may use up to ``share`` of the time and trials."""
        if self.trials is not None and self.used >= max(1, math.floor(share * self.trials)):
            return False
        if self.seconds is not None and time.perf_counter() - self.started >= share * self.seconds:
            return False
        self.used += 1
        return True


def describe(recipe: dict[str, Any]) -> str:
    """A candidate's short name: ``mlp 256x256``, ``cnn 16x32``, ``my_nets:small_cnn``, ``backbone runs/pre``."""
    backbone = (recipe.get("transfer") or {}).get("backbone")
    if backbone is not None:
        return f"backbone {backbone}"
    model = recipe["model"]
    sizes = model.get("hidden", model.get("widths"))
    return f"{model['name']} {'x'.join(map(str, sizes))}" if sizes is not None else model["name"]


def tunable(recipe: dict[str, Any]) -> bool:
    """Whether the recipe's network is a built-in one whose dropout and batch norm the search may set."""
    return recipe["model"]["name"] in FAMILIES and not (recipe.get("transfer") or {}).get("backbone")


def architecture(base: TrainConfig, data: Dataset, clock: Clock, candidates: list[dict[str, Any]], *,
                 epsilon: float, tick: Callable[[], None], share: float, **train: Any) -> tuple[list[Trial], Trial]:
    """Train each candidate recipe (always at least two); return them all and the smallest within ``epsilon``."""
    trials: list[Trial] = []
    for index, recipe in enumerate(candidates):
        allowed = clock.spend(share)  # the first two always run: a choice needs something to compare
        if index >= 2 and not allowed:
            trials.append(Trial(describe(recipe), "architecture", recipe, math.nan, math.nan, 0, 0, 0.0, "skipped: budget"))
            continue
        trial, _, _ = train_recipe(base, recipe, data, name=describe(recipe), phase="architecture", **train)
        trials.append(trial)
        tick()
    done = [t for t in trials if t.status == "done"]
    best = max(t.val_score for t in done)
    chosen = min((t for t in done if t.val_score >= best - epsilon), key=lambda t: (t.parameters, -t.val_score))
    chosen.details["chosen"] = True
    return trials, chosen


def _l2(lam: float) -> dict[str, Any]:
    return {"penalties": [{"kind": "l2", "lam": lam, "layers": "*.weight"}]}


def lambda_cv(base: TrainConfig, data: Dataset, clock: Clock, network: dict[str, Any], *, folds: int,
              tick: Callable[[], None], share: float, lambdas: tuple[float, ...] = LAMBDAS,
              **train: Any) -> dict[str, Any]:
    """Mean and spread of the validation score over ``folds`` folds for each λ of an L2 penalty on every weight.

    ``network`` is the chosen architecture's recipe (its ``model`` and, for a backbone, ``transfer`` sections).
    """
    parts = list(kfold(data, k=folds, seed=base.data.seed))
    rows = []
    for lam in lambdas:
        recipe = {**network, "remedies": _l2(lam)}
        scores = []
        for fold, (fold_train, fold_val) in enumerate(parts):
            if not clock.spend(share):
                break
            trial, _, _ = train_recipe(base, recipe, data, name=f"λ={lam:g} fold {fold + 1}", phase="lambda_cv",
                                       train=fold_train, val=fold_val, **train)
            scores.append(trial.val_score)
            tick()
        rows.append({"lam": lam, "scores": scores, "mean": float(np.mean(scores)) if scores else None,
                     "std": float(np.std(scores)) if len(scores) > 1 else None})
    measured = [r for r in rows if r["mean"] is not None]
    best = max(measured, key=lambda r: r["mean"])["lam"] if measured else None
    return {"folds": folds, "rows": rows, "best_lam": best}


def remedies_for(data: Dataset, network: dict[str, Any], lam: float | None) -> list[tuple[str, dict[str, Any]]]:
    """Single remedies that apply to this data and network, as (name, recipe change)."""
    model = network["model"]
    options: list[tuple[str, dict[str, Any]]] = []
    if lam is not None:
        options.append((f"L2 λ={lam:g}", {"remedies": _l2(lam)}))
    if tunable(network):
        options.append(("dropout 0.25", {"model": {**model, "dropout": 0.25}}))
        if model["name"] == "mlp" and not model.get("batchnorm"):
            options.append(("batch norm", {"model": {**model, "batchnorm": True}}))
    if data.kind == "image":
        options.append(("augmentation", {"remedies": {"augment": {"rotate": 10.0, "shift": 0.1, "scale": 0.1}}}))
    options.append(("weight noise σ=0.01·|w|", {"remedies": {"weight_noise": {"sigma": 0.01, "relative": True}}}))
    return options


def combine(network: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    recipe: dict[str, Any] = {**network, "model": dict(network["model"]), "remedies": {}}
    for change in changes:
        recipe["model"].update(change.get("model", {}))
        recipe["remedies"].update(change.get("remedies", {}))
    return recipe


def ablation(base: TrainConfig, data: Dataset, clock: Clock, reference: Trial, network: dict[str, Any],
             lam: float | None, *, tick: Callable[[], None], share: float, **train: Any) -> list[Trial]:
    """Each remedy alone against ``reference`` (the chosen network with early stopping), then the helpful ones combined."""
    rows = [Trial("early stopping only", "ablation", dict(network), reference.val_score, reference.gap,
                  reference.parameters, reference.epochs, reference.seconds, details={"remedies": []})]
    helpful: list[tuple[str, dict[str, Any]]] = []
    for name, change in remedies_for(data, network, lam):
        recipe = combine(network, [change])
        if not clock.spend(share):
            rows.append(Trial(name, "ablation", recipe, math.nan, math.nan, 0, 0, 0.0, "skipped: budget"))
            continue
        trial, _, _ = train_recipe(base, recipe, data, name=name, phase="ablation", **train)
        trial.details["remedies"] = [name]
        rows.append(trial)
        tick()
        if trial.val_score > reference.val_score:
            helpful.append((name, change))
    if len(helpful) >= 2 and clock.spend(share):
        names = [n for n, _ in helpful]
        trial, _, _ = train_recipe(base, combine(network, [c for _, c in helpful]), data,
                                   name=" + ".join(names), phase="ablation", **train)
        trial.details["remedies"] = names
        rows.append(trial)
        tick()
    return rows


class _PruneOnValidation(Callback):
    """Report the per-epoch validation score to an Optuna trial and stop the run when the pruner says so."""

    def __init__(self, trial: Any, metric: str, sign: float) -> None:
        self.trial, self.metric, self.sign, self.pruned = trial, metric, sign, False

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        self.trial.report(self.sign * logs[self.metric], epoch)
        if self.trial.should_prune():
            self.pruned = True
            trainer.request_stop(f"pruned by the study at epoch {epoch}")


def study(base: TrainConfig, data: Dataset, clock: Clock, best: Trial, storage: Path, *, seed: int,
          tick: Callable[[], None], **train: Any) -> list[Trial]:
    """Tune λ, dropout and the learning rate around ``best``'s recipe with fitguard.search's sampler and
    catch-up pruner (SQLite storage)."""
    import optuna

    from fitguard.search.pruning import CatchUpPruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    classification = data.task == "classification"
    metric, sign = ("val_accuracy", 1.0) if classification else ("val_loss", -1.0)
    handle = optuna.create_study(
        study_name="doctor", storage=f"sqlite:///{storage}", direction="maximize", load_if_exists=True,
        sampler=make_sampler("tpe", seed), pruner=CatchUpPruner(min_epochs=5),
    )
    with_dropout = tunable(best.recipe)  # a user's or pretrained network takes no dropout option
    trials: list[Trial] = []
    while clock.spend():
        optuna_trial = handle.ask()
        lam = optuna_trial.suggest_float("lam", 1e-6, 1e-1, log=True)
        params = {"lam": lam}
        recipe = {**best.recipe, "model": dict(best.recipe["model"]),
                  "remedies": {**best.recipe.get("remedies", {}), **_l2(lam)}}
        if with_dropout:
            params["dropout"] = optuna_trial.suggest_float("dropout", 0.0, 0.5)
            recipe["model"]["dropout"] = round(params["dropout"], 4)
        lr = params["lr"] = optuna_trial.suggest_float("lr", 3e-4, 3e-3, log=True)
        recipe.pop("train", None)
        pruner = _PruneOnValidation(optuna_trial, metric, sign)
        trial, _, _ = train_recipe(base, recipe, data, name=f"study #{optuna_trial.number}", phase="study",
                                   callbacks=(pruner,), **{**train, "lr": lr})
        trial.details.update(params=params, recipe_lr=lr)
        trial.recipe = {**recipe, "train": {"lr": lr}}
        if pruner.pruned:
            trial.status = "pruned"
            handle.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
        else:
            handle.tell(optuna_trial, trial.val_score)
        trials.append(trial)
        tick()
    return trials
