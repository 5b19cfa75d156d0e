"""The one evaluator: a recipe trained by holdout or k-fold and scored as one :class:`~fitguard.search.Trial`.

It has the shape of scikit-learn's ``BaseSearchCV.evaluate_candidates``: a search (a strategy) hands it candidates
and gets typed results back, and decides from them what to try next. :func:`fitguard.search.grid_cv`,
:func:`fitguard.search.ablation` and every phase of ``fitguard doctor`` are such strategies; the doctor's
:class:`~fitguard.doctor.phases.Scorer` is this evaluator with a trial store (``--resume``) and a queue of fold
trainings (``--workers``, ``--join``).

A candidate is a recipe: a plain mapping of the spec sections it changes (``model``, ``remedies``, ``train``...)
laid over the evaluator's base :class:`~fitguard.config.TrainConfig` (:class:`fitguard.recipe.Recipe`), so
whatever wins is a spec ``fitguard train`` can rerun.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fitguard.config import TrainConfig
from fitguard.data import Dataset, TensorData
from fitguard.models import count_parameters
from fitguard.recipe import Recipe, Run
from fitguard.search.scoring import Trial, fit_and_score, mirror_mean, resolve_metric, scored_trial
from fitguard.train import Callback, History

#: the spec sections a whole spec contributes as a recipe (:func:`as_recipe`)
RECIPE_SECTIONS = ("model", "train", "early_stopping", "remedies", "transfer")


def as_recipe(config: TrainConfig) -> dict[str, Any]:
    """A whole spec as a recipe: its model, training, early stopping, remedy and transfer sections.

    Args:
        config: the spec (e.g. :func:`fitguard.search.apply_point`'s result).

    Example:
        >>> from fitguard.search import apply_point
        >>> config = apply_point(TrainConfig(), {"dropout": 0.2})
        >>> Recipe.parse(as_recipe(config)).apply(TrainConfig()) == config
        True
    """
    raw = config.model_dump()
    return {section: raw[section] for section in RECIPE_SECTIONS}


def recipe_config(base: TrainConfig, recipe: dict[str, Any], options: dict[str, Any]) -> TrainConfig:
    """``base`` with ``recipe`` on top, then the ``train`` options -- except that a recipe with a fixed schedule
    (its own ``train.max_epochs``: a cosine schedule, snapshots, SWA, a complete recipe such as
    :data:`fitguard.doctor.phases.RECIPES`'s) keeps every ``train`` key it gives (its epochs, and the batch size and
    passes per epoch its schedule was sized for).

    Args:
        base: the base spec.
        recipe: the sections the recipe sets.
        options: ``train`` section keys put on top of the recipe's.
    """
    return Recipe.parse(recipe).apply(base, **train_keys(recipe, options))


def train_keys(recipe: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The ``train`` options a recipe trains with, on top of its own section: ``options``, except that a recipe with
    a fixed schedule keeps every ``train`` key it gives (:func:`recipe_config`; the doctor's refits too).

    Args:
        recipe: the sections the recipe sets.
        options: ``train`` section keys put on top of the recipe's.

    Example:
        >>> train_keys({"train": {"max_epochs": 60, "repeat": 1}}, {"repeat": 2, "lr": 0.1})
        {'repeat': 1, 'lr': 0.1, 'max_epochs': 60}
        >>> train_keys({"train": {"lr": 0.01}}, {"repeat": 2, "lr": 0.1})
        {'repeat': 2, 'lr': 0.1}
    """
    return {**options, **((recipe.get("train") or {}) if fixed_schedule(recipe) else {})}


def fixed_schedule(recipe: dict[str, Any]) -> bool:
    """Whether the recipe trains a fixed number of epochs of its own (``train.max_epochs``): a schedule, not early
    stopping, decides its length.

    Args:
        recipe: the sections the recipe sets.

    Example:
        >>> fixed_schedule({"train": {"max_epochs": 60}, "early_stopping": None}), fixed_schedule({"model": {}})
        (True, False)
    """
    return bool((recipe.get("train") or {}).get("max_epochs"))


def train_recipe(
    base: TrainConfig,
    recipe: dict[str, Any],
    data: Dataset,
    *,
    name: str,
    phase: str,
    metric: str = "auto",
    out: Path | None = None,
    callbacks: tuple[Callback, ...] = (),
    train: TensorData | None = None,
    val: TensorData | None = None,
    **train_options: Any,
) -> tuple[Trial, Run, History]:
    """Build the recipe over ``base`` (:func:`recipe_config`), fit on train, score on validation
    (:func:`~fitguard.search.scoring.fit_and_score`).

    Args:
        base: the base spec.
        recipe: the sections the recipe sets.
        data: the dataset.
        name: the trial's name.
        phase: the search phase.
        metric: ``"auto"`` (default) or a ``val_*`` metric.
        out: a folder for the run's logs; None (default): nothing written.
        callbacks: more callbacks for the trainer (default none).
        train: the rows to fit on; None (default): the dataset's training split.
        val: the rows to score on; None (default): its validation split.
        **train_options: ``train`` section keys put on top of the recipe's.
    """
    config = recipe_config(base, recipe, train_options)
    train_part = train if train is not None else data.train
    val_part = val if val is not None else data.val
    if val_part is None:
        raise ValueError("scoring a recipe needs validation rows; the dataset has no validation split")
    return fit_and_score(config, data, train_part, val_part, metric, callbacks, name=name, phase=phase,
                         recipe=recipe, out=out)


def train_candidate(base: TrainConfig, data: Dataset, recipe: dict[str, Any], *, name: str, phase: str,
                    fold: int | None, parts: tuple[TensorData, TensorData] | None, options: dict[str, Any],
                    callbacks: tuple[Callback, ...] = (), metric: str = "auto",
                    on_run: Callable[[Trial, Run], None] | None = None) -> Trial:
    """One training of a candidate, its History kept on the trial: what the evaluator runs for a holdout score or
    for one fold, in this process or in a worker process alike (:mod:`fitguard.doctor.queue`).

    Args:
        base: the base spec.
        data: the dataset.
        recipe: the sections the recipe sets.
        name: the candidate's name (the trial is named ``NAME fold I`` for a fold).
        phase: the search phase.
        fold: the fold's number, from 1; None: the holdout training.
        parts: the fold's ``(train, val)`` rows; None: the dataset's training and validation splits.
        options: ``train`` section keys put on top of the recipe's.
        callbacks: more callbacks for the trainer (default none).
        metric: ``"auto"`` (default) or a ``val_*`` metric.
        on_run: called with the trial and its trained :class:`~fitguard.recipe.Run` (the model validation scored);
            None (default): the Run is let go.
    """
    train, val = parts if parts is not None else (None, None)
    label = name if fold is None else f"{name} fold {fold}"
    trial, run, _ = train_recipe(base, recipe, data, name=label, phase=phase, metric=metric, train=train, val=val,
                                 callbacks=callbacks, **options)
    if on_run is not None:
        on_run(trial, run)
    return trial  # its history is kept on it


def fold_mean(recipe: dict[str, Any], name: str, phase: str, trials: list[Trial]) -> Trial:
    """One cross-validated trial from its folds' trials: the mean score, gap and validation loss, the median
    epochs and best epoch, the summed seconds; each fold's score in ``details["folds"]`` and validation loss in
    ``details["fold_losses"]`` (``grouped`` when the folds
    trained as one grouped network, ``siblings`` when other candidates' folds trained in it too), the first fold's
    History.

    Args:
        recipe: the recipe the folds trained.
        name: the trial's name.
        phase: the search phase.
        trials: one trial per fold, in fold order.

    Example:
        >>> folds = [Trial("a fold 1", "grid", {}, 0.8, 0.1, 10, 4, 1.0, details={"val_loss": 0.5, "best_epoch": 3,
        ...                "stop_reason": "early stopping"}),
        ...          Trial("a fold 2", "grid", {}, 0.9, 0.0, 10, 6, 2.0, details={"val_loss": 0.3, "best_epoch": 5,
        ...                "stop_reason": "max_epochs"})]
        >>> trial = fold_mean({}, "a", "grid", folds)
        >>> round(trial.val_score, 6), trial.fold_scores, trial.epochs, trial.seconds, trial.details["best_epochs"]
        (0.85, (0.8, 0.9), 5, 3.0, [3, 5])
    """
    best_epochs = [t.details.get("best_epoch") or t.epochs for t in trials]
    return Trial(
        name=name, phase=phase, recipe=recipe, val_score=float(np.mean([t.val_score for t in trials])),
        gap=float(np.mean([t.gap for t in trials])), parameters=trials[0].parameters,
        epochs=int(np.median([t.epochs for t in trials])), seconds=sum(t.seconds for t in trials),
        metric=trials[0].metric, mode=trials[0].mode,
        details={"folds": [t.val_score for t in trials],
                 "val_loss": float(np.mean([t.details["val_loss"] for t in trials])),
                 "fold_losses": [t.details["val_loss"] for t in trials],
                 "forward_row": float(np.mean([t.details.get("forward_row", 0.0) for t in trials])),
                 "best_epoch": int(np.median(best_epochs)), "best_epochs": best_epochs,
                 "stop_reason": trials[-1].details["stop_reason"],
                 "stop_reasons": [t.details["stop_reason"] for t in trials],
                 **({"grouped": True} if all(t.details.get("grouped") for t in trials) else {}),
                 **({"siblings": trials[0].details["siblings"]} if "siblings" in trials[0].details else {}),
                 **mirror_mean([t.details.get("mirror") for t in trials])},
        history=trials[0].history,
    )


#: images of at most this many pixels (per channel) train their folds as one grouped network: measured 1.5-1.7x faster
#: than fold after fold on 8x8 digits, slower (0.87-0.95x) on 28x28 images, whose grouped convolutions are
#: compute-bound (``benchmarks/reference/cv_speed_cpu.json``). Against fold after fold in channels-last memory (the
#: spec's default since session 24, 1.3x faster there) the digits CNN still trains 1.28x faster grouped for 15
#: epochs and 1.18x with early stopping (``cv_speed_cpu_channels_last.json``, 1 thread, 3 rounds)
GROUPED_IMAGE_PIXELS = 16 * 16
#: the same on a CUDA device, where a small network's step is launch-bound: 28x28 Fashion-MNIST CNN folds trained
#: 2.0-2.3x faster grouped on an NVIDIA H200 (``benchmarks/reference/cv_speed_h200.json``); larger images unmeasured
GROUPED_IMAGE_PIXELS_CUDA = 28 * 28
#: the validation metrics a grouped training measures (``fitguard.train.batched.fit_folds``)
GROUPED_METRICS = ("val_loss", "val_accuracy")


def grouped_run(config: TrainConfig, data: Dataset, metric: str = "auto") -> Run | None:
    """The run (model and trainer, built from ``config``) whose k fold trainings may instead train as one grouped
    network (:func:`fitguard.train.batched.fit_folds`) with what the Trainer does fold after fold; None when they
    may not.

    They may when the trainer does nothing the grouped training does not: a built-in MLP, or a CNN on images of at
    most :data:`GROUPED_IMAGE_PIXELS` pixels (:data:`GROUPED_IMAGE_PIXELS_CUDA` on a GPU; where grouping was
    measured faster), that :func:`~fitguard.models.grouped.groupable` accepts (no residual blocks, no embedded
    codes); in float32 on the CPU or a CUDA device; cross-entropy or MSE; coupled penalties only; early stopping as
    its only callback (no schedule, snapshots, weight averaging or Lookahead); no augmentation, mixup, input or
    weight noise, adversarial examples, class weights, gradient clipping or Nesterov momentum; scored by ``val_loss`` or
    ``val_accuracy``.

    Args:
        config: the spec of every fold's training.
        data: the dataset.
        metric: the validation metric the folds are scored by (default "auto").
    """
    from fitguard.models.grouped import groupable
    from fitguard.recipe import build_run
    from fitguard.train.batched import LOSSES
    from fitguard.train.callbacks.early_stopping import EarlyStopping

    if config.transfer.backbone is not None or resolve_metric(metric, data.task)[0] not in GROUPED_METRICS:
        return None
    run = build_run(config, data=data)
    trainer = run.trainer
    pixels = math.prod(data.input_shape[-2:]) if len(data.input_shape) == 3 else 0
    largest = GROUPED_IMAGE_PIXELS_CUDA if trainer.device.type == "cuda" else GROUPED_IMAGE_PIXELS
    if trainer.device.type not in ("cpu", "cuda") or run.model_name not in ("mlp", "cnn") or (
            run.model_name == "cnn" and not 0 < pixels <= largest):  # other devices: never measured
        return None
    unsupported = (trainer.augment, trainer.weight_noise, trainer.adversarial, trainer.class_weight,
                   trainer.clip_grad_norm)
    if (any(x is not None for x in unsupported) or trainer.precision != "32" or trainer.compile or trainer.nesterov
            or config.train.channels_last is True or trainer.loss not in LOSSES
            or any(getattr(p, "decoupled", False) or getattr(p, "proximal", False) for p in trainer.penalties)
            or any(not isinstance(c, EarlyStopping) for c in trainer.callbacks) or not groupable(run.model)):
        return None
    return run


def grouped_sibling_trials(siblings: Sequence[tuple[Run, dict[str, Any], str]],
                           folds: list[tuple[TensorData, TensorData]], *, phase: str, metric: str = "auto",
                           deadline: Callable[[], float] | None = None,
                           deadline_reason: str = "stopped at the deadline",
                           on_epoch: Callable[[int, int], None] | None = None) -> list[list[Trial]]:
    """Each sibling's fold trials, the k trainings of every sibling done as one grouped network of (siblings x k)
    members: what each gives alone, fold after fold with the Trainer, to float tolerance (in distribution with
    dropout). One sibling is one candidate's k folds as one grouped network (:func:`grouped_run` said they may).

    Siblings are candidates whose runs differ only in their coupled penalties' strengths (an L2 grid: the
    evaluator's :func:`sibling_key`); each member's cost takes its own candidate's penalties
    (``fit_folds(member_penalties=...)``), while everything else -- network, seeds, optimizer, schedule, early
    stopping -- is the first sibling's, so every member starts from the weights and row order it would alone. Each
    fold trial's ``seconds`` is the grouped training's over its members; with more than one sibling the trials
    record ``siblings`` (how many shared the training).

    Args:
        siblings: ``(run, recipe, name)`` of each candidate, the runs from :func:`grouped_run`.
        folds: the ``(train, val)`` folds.
        phase: the search phase.
        metric: the validation metric (default "auto").
        deadline: gives a ``time.perf_counter()`` time after whose epoch every member stops; None (default): none.
        deadline_reason: the stop reason a deadline gives, before " after epoch N" (default "stopped at the
            deadline").
        on_epoch: called with ``(epoch, max_epochs)`` after each grouped epoch (a progress display); None
            (default): nothing.

    Raises:
        ValueError: siblings whose penalties are not the same kinds on the same layers.
    """
    from fitguard.models import build_network
    from fitguard.train.batched import fit_folds
    from fitguard.train.callbacks.early_stopping import EarlyStopping

    run = siblings[0][0]
    config, data, trainer = run.config, run.data, run.trainer
    key, mode = resolve_metric(metric, data.task)
    spec = next((c.get_config() for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    alone = len(siblings) == 1
    started = time.perf_counter()
    results = fit_folds(
        lambda: build_network(run.model_name, data.input_shape, data.out_features, run.model_options,
                              data.preprocessor.embeddings),
        list(folds) * len(siblings), seeds=[config.train.seed] * (len(folds) * len(siblings)), loss=trainer.loss,
        optimizer=trainer.optimizer_name, lr=trainer.lr, batch_size=trainer.batch_size,
        max_epochs=trainer.max_epochs, repeat=trainer.repeat, weight_decay=trainer.weight_decay,
        momentum=trainer.momentum, label_smoothing=trainer.label_smoothing,
        penalties=trainer.penalties if alone else (),
        member_penalties=None if alone else [sibling.trainer.penalties for sibling, _, _ in siblings
                                             for _ in folds],
        early_stopping=(lambda: EarlyStopping(**spec)) if spec is not None else None,
        deadline=deadline, deadline_reason=deadline_reason, device=trainer.device, on_epoch=on_epoch)
    seconds = (time.perf_counter() - started) / len(results)
    shared = {} if alone else {"siblings": len(siblings)}
    scored: list[list[Trial]] = []
    members = iter(results)
    for sibling, recipe, name in siblings:
        network = sibling.model.eval()
        trials = []
        for fold, (_, val) in enumerate(folds, start=1):
            result = next(members)
            network.load_state_dict(result.state)
            timed = time.perf_counter()
            with torch.no_grad():  # what one row's forward pass costs this network, as fit_and_score measures it
                network(trainer.in_layout(val.X.to(trainer.device)))
            forward_row = (time.perf_counter() - timed) / max(1, len(val))
            trials.append(scored_trial(
                name=f"{name} fold {fold}", phase=phase, recipe=recipe, metric=(key, mode),
                train_value=result.train_scores[key[len("val_"):]], val_scores=result.val_scores, model=network,
                history=result.history, seconds=seconds, forward_row=forward_row, grouped=True, **shared))
        scored.append(trials)
    return scored


#: the most members (siblings x folds) one grouped training holds, by network: an L2 grid of 4 strengths x 3 folds
#: on digits 10% (``benchmarks/cv_speed.py --grid``, 3 rounds, ``reference/cv_speed_siblings_cpu.json``) trained
#: 1.55-1.6x faster as one MLP of 12 members than as 4 grouped trainings of 3 (2.7-3.2x faster than the Trainer fold
#: after fold); the small CNN 1.3x faster at 6 members, and slower than that at 12 (0.9-1.1x against 4 x 3 in a first
#: probe: its grouped convolutions turn compute-bound)
SIBLING_MEMBERS = {"mlp": 12, "cnn": 6}
#: and the most parameters its members hold together: 12 members of Fashion-MNIST's 784-256-10 MLP (2.4 million
#: weights) trained 0.85x as fast as 4 grouped trainings of 3 (``reference/cv_speed_siblings_fashion_cpu.json``), 6 of
#: them (1.2 million) 0.9x; 12 of the digits MLP (230,520) 1.55-1.6x. Set near a megabyte of float32 weights, one
#: core's L2 cache on this CPU: beyond it every step streams the weights (and Adam's two moments) from further out.
#: On breast_cancer's folds (``cv_speed.py --grid --datasets breast_cancer --models fourier mlp``,
#: ``reference/cv_speed_siblings_fourier_cpu.json``) 12 members of the doctor's MLP on 512 Fourier features (1.77
#: million) trained the grid 0.54x (15 epochs) and 0.73x (early stopping) as fast as one strength at a time, 12 of
#: the 30-256-2 MLP (102,264) 1.99x and 1.85x (4.4x and 3.3x the Trainer's speed). Between 230,520 and 1.2 million
#: unmeasured
SIBLING_PARAMETERS = 250_000


def sibling_key(recipe: dict[str, Any], options: dict[str, Any]) -> str | None:
    """What a candidate must share with another to train beside it as a sibling: its recipe and training options
    with every penalty's strength left out (None when it has no penalty: nothing to tell siblings apart by).

    Args:
        recipe: the sections the recipe sets.
        options: ``train`` options for its trainings.

    Example:
        >>> l2 = lambda lam: {"model": {"name": "mlp"}, "remedies": {"penalties": [{"kind": "l2", "lam": lam}]}}
        >>> sibling_key(l2(1e-4), {}) == sibling_key(l2(1e-2), {}), sibling_key({"model": {}}, {})
        (True, None)
    """
    penalties = (recipe.get("remedies") or {}).get("penalties")
    if not penalties:
        return None
    blind = [{key: value for key, value in p.items() if key != "lam"} for p in penalties]
    return json.dumps([{**recipe, "remedies": {**recipe["remedies"], "penalties": blind}}, options], sort_keys=True,
                      default=repr)


@dataclass(frozen=True)
class Candidate:
    """One recipe to evaluate, as a strategy hands it to :meth:`Evaluator.evaluate_candidates`.

    Args:
        recipe: the sections the recipe sets.
        name: its name.
        phase: the search phase.
        options: ``train`` section keys for its trainings only (default none).
    """

    recipe: dict[str, Any]
    name: str
    phase: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluator:
    """Scores a recipe the same way for every search: on the validation split (``folds`` is None), or by k-fold
    cross-validation -- the mean of the folds' scores (:func:`fold_mean`).

    ``train``: options laid over the spec's ``train`` section for every training (e.g. ``max_epochs``).
    ``callbacks``: given to every training (a deadline, a progress display). ``progress``: told which candidate and
    fold is training (anything with ``candidate(name, fold, folds)``; grouped folds also call its ``epoch(epoch,
    max_epochs)`` if it has one, as the Trainer's progress callback does for each fold). ``on_scored``: called with
    every scored trial. ``on_trained``: called with each holdout training's trial and trained Run, in this process
    (a caller that may ship the model validation scored keeps it; folds' models are let go).

    Args:
        base: the base spec.
        data: the dataset.
        folds: ``(train, val)`` pairs for cross-validation (:func:`fitguard.data.kfold`); None: the validation split.
        train: options laid over the spec's ``train`` section for every training (default none).
        callbacks: given to every training (default none).
        progress: told which candidate and fold trains; None (default): nobody.
        on_scored: called with every scored trial; None (default): nothing.
        metric: ``"auto"`` (default: val_accuracy for classes, val_loss otherwise) or a ``val_*`` metric.
        grouped: train a candidate's k folds as one grouped network where :func:`grouped_run` says they may (the
            same scores to float tolerance, 1.2-1.7x faster on small data), and sibling candidates' folds side by
            side (:meth:`evaluate_candidates`); default False: fold after fold.
        deadline: for grouped folds, gives the ``time.perf_counter()`` time after whose epoch they stop (the
            sequential trainings stop by ``callbacks``); None (default): none.
        deadline_reason: the stop reason the deadline gives grouped folds (default "stopped at the deadline").
        on_trained: called with each holdout training's :class:`Trial` and trained :class:`~fitguard.recipe.Run`;
            None (default): nothing (the Run is let go).

    Example:
        >>> from fitguard.data import from_arrays, kfold
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(90, 3)); y = (x[:, 0] > 0).astype(int)
        >>> data = from_arrays(x, y, seed=0)
        >>> base = TrainConfig(model={"name": "mlp", "hidden": [8]}, train={"max_epochs": 5, "device": "cpu"})
        >>> evaluate = Evaluator(base, data, folds=list(kfold(data, k=3, seed=0)))
        >>> trial = evaluate({"remedies": {"mixup": 0.2}}, name="mixup", phase="example")
        >>> trial.metric, trial.mode, len(trial.fold_scores), evaluate.method
        ('val_accuracy', 'max', 3, {'method': 'cross-validation', 'folds': 3})
    """

    base: TrainConfig
    data: Dataset
    folds: list[tuple[TensorData, TensorData]] | None = None
    train: dict[str, Any] = field(default_factory=dict)
    callbacks: tuple[Callback, ...] = ()
    progress: Any = None
    on_scored: Callable[[Trial], None] | None = None
    metric: str = "auto"
    grouped: bool = False
    deadline: Callable[[], float] | None = None
    deadline_reason: str = "stopped at the deadline"
    on_trained: Callable[[Trial, Run], None] | None = None
    # grouped_run's answer by recipe, options and train options, as the siblings that may train in one grouped
    # network (sibling_room; 0: the folds do not train grouped) -- base, data and metric are fixed for an evaluator's
    # life; dataclasses.replace starts a fresh dict: deciding builds the network, and batches ask before they train
    _grouping: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def trainings(self) -> int:
        """Trainings one score costs."""
        return len(self.folds) if self.folds else 1

    @property
    def rows(self) -> int:
        """Training rows of one of its trainings (the smallest fold's)."""
        return min(len(train) for train, _ in self.folds) if self.folds else len(self.data.train)

    @property
    def method(self) -> dict[str, Any]:
        """How it scores, as the summary records it."""
        return {"method": "cross-validation", "folds": len(self.folds)} if self.folds else {"method": "holdout"}

    def fit(self, recipe: dict[str, Any], *, name: str, phase: str, fold: int | None = None,
            options: dict[str, Any] | None = None, callbacks: tuple[Callback, ...] = ()) -> Trial:
        """One training of the recipe: on fold ``fold`` (from 1), or on the holdout split when None.

        Args:
            recipe: the sections the recipe sets.
            name: the candidate's name.
            phase: the search phase.
            fold: the fold's number; None (default): the holdout training.
            options: ``train`` options on top of the evaluator's (default none).
            callbacks: more callbacks for this training (default none).
        """
        if self.progress is not None:
            self.progress.candidate(name, fold, self.trainings if fold is not None else None)
        parts = (self.folds or [])[fold - 1] if fold is not None else None
        return train_candidate(self.base, self.data, recipe, name=name, phase=phase, fold=fold, parts=parts,
                               options={**self.train, **(options or {})}, callbacks=(*self.callbacks, *callbacks),
                               metric=self.metric, on_run=self.on_trained if fold is None else None)

    def fold_trials(self, recipe: dict[str, Any], *, name: str, phase: str, options: dict[str, Any],
                    callbacks: tuple[Callback, ...] = ()) -> list[Trial]:
        """Each fold's trial, in fold order: trained as one grouped network where :meth:`grouped_run` allows it
        (never with callbacks of its own, a pruner), else one after another.

        Args:
            recipe: the sections the recipe sets.
            name: the candidate's name.
            phase: the search phase.
            options: ``train`` options on top of the evaluator's.
            callbacks: more callbacks for these trainings (default none).
        """
        run = self._grouped_unless_known_not(recipe, options) if not callbacks else None
        if run is not None:
            if self.progress is not None:
                self.progress.candidate(f"{name} · {len(self.folds or [])} folds grouped")
            return grouped_sibling_trials([(run, recipe, name)], self.folds or [], phase=phase, metric=self.metric,
                                          deadline=self.deadline, deadline_reason=self.deadline_reason,
                                          on_epoch=getattr(self.progress, "epoch", None))[0]
        return [self.fit(recipe, name=name, phase=phase, fold=index + 1, options=options, callbacks=callbacks)
                for index in range(len(self.folds or []))]

    def grouped_run(self, recipe: dict[str, Any], options: dict[str, Any]) -> Run | None:
        """The run whose folds train as one grouped network (:func:`grouped_run`), when this evaluator groups folds
        and cross-validates; else None.

        Args:
            recipe: the sections the recipe sets.
            options: ``train`` options on top of the evaluator's.
        """
        if not self.grouped or not self.folds:
            return None
        return grouped_run(recipe_config(self.base, recipe, {**self.train, **options}), self.data, self.metric)

    def groups(self, recipe: dict[str, Any], options: dict[str, Any]) -> bool:
        """Whether the recipe's folds train as one grouped network (:meth:`grouped_run` is not None), remembered
        per recipe and options: the answer builds the network once, not at every ask.

        Args:
            recipe: the sections the recipe sets.
            options: ``train`` options on top of the evaluator's.
        """
        key = self._grouping_key(recipe, options)
        if key not in self._grouping:
            self._grouped_unless_known_not(recipe, options)
        return self._grouping.get(key, 0) > 0

    def _grouping_key(self, recipe: dict[str, Any], options: dict[str, Any]) -> str:
        return json.dumps([recipe, options, self.train], sort_keys=True, default=repr)

    def _grouped_unless_known_not(self, recipe: dict[str, Any], options: dict[str, Any]) -> Run | None:
        """:meth:`grouped_run`, remembering its answer for :meth:`groups`; not built when the answer is known to be
        no (a grouped training needs a fresh run each time)."""
        if not self.grouped or not self.folds:
            return None
        key = self._grouping_key(recipe, options)
        if self._grouping.get(key) == 0:
            return None
        run = self.grouped_run(recipe, options)
        self._grouping[key] = self._room(run) if run is not None else 0
        return run

    def _room(self, run: Run) -> int:
        """How many siblings of ``run``'s recipe fit one grouped network (:meth:`sibling_room`)."""
        members = min(SIBLING_MEMBERS.get(run.model_name, self.trainings),
                      SIBLING_PARAMETERS // max(1, count_parameters(run.model)))
        return max(1, members // self.trainings)

    def score(self, recipe: dict[str, Any], *, name: str, phase: str, options: dict[str, Any],
              callbacks: tuple[Callback, ...] = ()) -> Trial:
        """The recipe's trial: its holdout training, or the mean of its folds'.

        Args:
            recipe: the sections the recipe sets.
            name: the candidate's name.
            phase: the search phase.
            options: ``train`` options on top of the evaluator's.
            callbacks: more callbacks for its trainings (default none).
        """
        if not self.folds:
            return self.fit(recipe, name=name, phase=phase, options=options, callbacks=callbacks)
        return fold_mean(recipe, name, phase,
                         self.fold_trials(recipe, name=name, phase=phase, options=options, callbacks=callbacks))

    def __call__(self, recipe: dict[str, Any], *, name: str, phase: str, callbacks: tuple[Callback, ...] = (),
                 **train: Any) -> Trial:
        """Score one recipe (``train``: options for its trainings only), then tell ``on_scored``.

        Args:
            recipe: the sections the recipe sets.
            name: the candidate's name.
            phase: the search phase.
            callbacks: more callbacks for its trainings (a pruner; default none).
            **train: ``train`` options on top of the evaluator's.
        """
        trial = self.score(recipe, name=name, phase=phase, options=train, callbacks=callbacks)
        if self.on_scored is not None:
            self.on_scored(trial)
        return trial

    def evaluate_candidates(self, candidates: Sequence[Candidate],
                            admit: Callable[[int, Candidate], bool] | None = None,
                            on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
        """Score each candidate, in order (scikit-learn's ``evaluate_candidates``). ``admit(index, candidate)`` is
        asked just before a candidate starts (the budget's say); one it refuses comes back as a trial with status
        "skipped: budget" and no score. This evaluator trains them one after another, but for siblings -- next to
        each other, differing only in their penalties' strengths (:func:`sibling_key`; an L2 grid) -- whose folds
        may train grouped: those train as one grouped network, up to :data:`SIBLING_MEMBERS` members (``admit``
        asked for each before they start). The doctor's evaluator with other processes
        (:class:`fitguard.doctor.phases.Scorer`) trains as many candidates side by side as there are processes (and
        asks ``admit`` per batch).

        Args:
            candidates: the candidates.
            admit: whether a candidate may start; None (default): every one.
            on_trial: called with each scored trial as soon as it is (progress); None (default): nothing.
        """
        trials: list[Trial] = []
        while len(trials) < len(candidates):
            start = len(trials)
            group = self._siblings(candidates[start:])
            allowed = [admit is None or admit(start + offset, c) for offset, c in enumerate(group)]
            scored = iter(self.score_siblings([c for c, ok in zip(group, allowed) if ok]))
            for c, ok in zip(group, allowed):
                trials.append(next(scored) if ok else skipped(c))
                if ok and on_trial is not None:
                    on_trial(trials[-1])
        return trials

    def _siblings(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The first candidate and the siblings right after it (same phase, :func:`sibling_key`) that may train
        grouped with it, as many as :meth:`sibling_room` allows (at least the first)."""
        first = candidates[0]
        key = sibling_key(first.recipe, first.options)
        if key is None or len(candidates) < 2 or not self.groups(first.recipe, first.options):
            return [first]
        group = [first]
        for c in candidates[1:self.sibling_room(first)]:
            if c.phase != first.phase or sibling_key(c.recipe, c.options) != key or not self.groups(c.recipe,
                                                                                                   c.options):
                break
            group.append(c)
        return group

    def sibling_room(self, candidate: Candidate) -> int:
        """How many siblings of ``candidate`` (itself included) train as one grouped network: as many as keep its
        members (siblings x folds) within :data:`SIBLING_MEMBERS` for its network and their parameters within
        :data:`SIBLING_PARAMETERS`; 1 when its folds do not train grouped. Remembered per recipe and options.

        Args:
            candidate: a candidate.
        """
        key = self._grouping_key(candidate.recipe, candidate.options)
        if key not in self._grouping:
            self._grouped_unless_known_not(candidate.recipe, candidate.options)
        return max(1, self._grouping.get(key, 0))

    def score_siblings(self, candidates: Sequence[Candidate]) -> list[Trial]:
        """The candidates' trials, each told to ``on_scored`` in order: siblings :meth:`_siblings` grouped train as
        one grouped network (:func:`grouped_sibling_trials`); one candidate alone is scored as :meth:`__call__`
        scores it.

        Args:
            candidates: sibling candidates (none, one, or several that may train grouped).
        """
        if len(candidates) < 2:
            return [self(c.recipe, name=c.name, phase=c.phase, **c.options) for c in candidates]
        trials = self._trained_siblings(candidates)
        for trial in trials:
            if self.on_scored is not None:
                self.on_scored(trial)
        return trials

    def _trained_siblings(self, candidates: Sequence[Candidate]) -> list[Trial]:
        """Two or more siblings' trials, trained as one grouped network (``on_scored`` not told); one by one when a
        run cannot be grouped after all."""
        runs = [self.grouped_run(c.recipe, c.options) for c in candidates]
        if any(run is None for run in runs):
            return [self.score(c.recipe, name=c.name, phase=c.phase, options=c.options) for c in candidates]
        if self.progress is not None:
            self.progress.candidate(f"{candidates[0].name} … {candidates[-1].name} · {len(candidates)} candidates × "
                                    f"{self.trainings} folds grouped")
        fold_trials = grouped_sibling_trials(
            [(run, c.recipe, c.name) for run, c in zip(runs, candidates, strict=True)],  # type: ignore[misc]
            self.folds or [], phase=candidates[0].phase, metric=self.metric, deadline=self.deadline,
            deadline_reason=self.deadline_reason, on_epoch=getattr(self.progress, "epoch", None))
        return [self._sibling_scored(c, fold_mean(c.recipe, c.name, c.phase, each))
                for c, each in zip(candidates, fold_trials, strict=True)]

    def _sibling_scored(self, candidate: Candidate, trial: Trial) -> Trial:
        """A grouped sibling's trial, once scored (before ``on_scored`` hears of it): as it is here; the doctor's
        evaluator stores it."""
        del candidate
        return trial


def skipped(candidate: Candidate, why: str = "skipped: budget") -> Trial:
    """The trial of a candidate that did not train: no score, no cost.

    Args:
        candidate: the candidate.
        why: its status (default "skipped: budget").
    """
    return Trial(candidate.name, candidate.phase, candidate.recipe, math.nan, math.nan, 0, 0, 0.0, why)
