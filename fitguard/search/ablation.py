"""Ablation: the reference, each remedy alone, then remedies combined -- one algorithm for every caller.

The article says "different combinations of these methods will give you a result"; this measures which.
:func:`ablate` is the strategy (it decides what to try from what was measured) and takes any evaluator; the doctor's
ablation phase and :func:`ablation` (a recipe and a mapping of remedies, scored on the validation split) both run it.
Two ways to combine:

- ``"greedy"`` (forward selection): start from the best single remedy that beat the reference and keep adding the
  remedy that improves the score most, while one does and the budget lasts. Costs up to k(k+1)/2 trainings.
- ``"helpful"``: every remedy that beat the reference alone, together, in one training (the doctor's, where each
  training is a k-fold score and the budget is short).

Remedies in the same ``group`` (two augmentations, two learning-rate schedules) are alternatives: a combination
takes at most one of each group, the best-ranked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.recipe import load_data
from fitguard.search.evaluate import Candidate, Evaluator, as_recipe
from fitguard.search.scoring import Trial, rank, resolve_metric
from fitguard.search.space import apply_point

COMBINE = ("greedy", "helpful")


def _row(trial: Trial, names: tuple[str, ...], stage: str, reference: Trial | None) -> Trial:
    trial.details.update(remedies=list(names), stage=stage)
    if reference is not None:
        trial.details["helped"] = trial.status == "done" and rank(trial) > rank(reference)
    return trial


def ablate(evaluate: Callable[[list[tuple[str, ...]]], list[Trial]], remedies: Sequence[str], reference: Trial, *,
           combine: str = "greedy", group: Callable[[str], Hashable] | None = None) -> list[Trial]:
    """Each remedy alone against ``reference``, then combinations of the ones that helped; every trial in the order
    it ran, the reference first (``details``: ``remedies``, ``stage`` -- "reference", "alone" or "combined" -- and
    ``helped``: it ranks above the reference, by score then validation loss).

    ``evaluate`` gets each stage's candidates at once (every remedy alone; each greedy round's combinations), so
    that an evaluator with several processes trains them side by side.

    Args:
        evaluate: scores each tuple of remedies (named together) of a batch, in order; a trial whose ``status`` is
            not "done" (the budget refused it) is listed and never combined.
        remedies: the remedies' names, in the order to try them.
        reference: the trial to beat (the recipe without any of them).
        combine: "greedy" (default) or "helpful" (see the module docstring).
        group: a remedy's group (remedies of one group are alternatives); None (default): each its own.

    Raises:
        ValueError: an unknown ``combine``.

    Example:
        >>> scores = {("a",): 0.8, ("b",): 0.75, ("c",): 0.6, ("a", "b"): 0.85, ("a", "c"): 0.7,
        ...           ("a", "b", "c"): 0.84}
        >>> def evaluate(batch):
        ...     return [Trial(" + ".join(names), "example", {}, scores[names], 0.0, 1, 1, 1.0) for names in batch]
        >>> reference = Trial("none", "example", {}, 0.7, 0.0, 1, 1, 1.0)
        >>> [t.name for t in ablate(evaluate, ["a", "b", "c"], reference)]
        ['none', 'a', 'b', 'c', 'a + b', 'a + c', 'a + b + c']
        >>> [t.name for t in ablate(evaluate, ["a", "b", "c"], reference, combine="helpful")][-1]
        'a + b'
    """
    if combine not in COMBINE:
        raise ValueError(f"`combine` must be one of {', '.join(COMBINE)}, got {combine!r}")
    group_of = group or (lambda name: name)

    def run(batch: list[tuple[str, ...]], stage: str) -> list[Trial]:
        return [_row(trial, names, stage, reference) for names, trial in zip(batch, evaluate(batch))]

    rows = [_row(reference, (), "reference", None)]
    alone = dict(zip(remedies, run([(name,) for name in remedies], "alone")))
    rows += alone.values()
    helpful = [name for name in remedies if alone[name].details["helped"]]
    if combine == "helpful":
        best: dict[Hashable, str] = {}
        for name in helpful:  # of alternatives, the best-ranked
            key = group_of(name)
            if key not in best or rank(alone[name]) > rank(alone[best[key]]):
                best[key] = name
        chosen = tuple(name for name in helpful if name in best.values())
        return rows + (run([chosen], "combined") if len(chosen) >= 2 else [])
    if not helpful:
        return rows
    ran = [name for name in remedies if alone[name].status == "done"]
    leader = max(helpful, key=lambda name: rank(alone[name]))
    chosen, current = (leader,), alone[leader]
    while True:
        taken = {group_of(name) for name in chosen}
        left = [name for name in ran if name not in chosen and group_of(name) not in taken]
        tried = run([(*chosen, name) for name in left], "combined") if left else []
        rows += tried
        done = [t for t in tried if t.status == "done"]
        if not done or rank(top := max(done, key=rank)) <= rank(current):
            return rows
        chosen, current = tuple(top.details["remedies"]), top


@dataclass(frozen=True)
class AblationRow:
    """One run: which remedies, at which stage ('reference', 'alone', 'combined'), and its trial.

    Args:
        remedies: Names of the remedies applied together (empty for the reference).
        stage: ``"reference"`` (the recipe as given), ``"alone"`` (one remedy) or ``"combined"``.
        trial: What the run measured on the validation split.
    """

    remedies: tuple[str, ...]
    stage: str
    trial: Trial

    @property
    def name(self) -> str:
        return " + ".join(self.remedies) or "reference"


@dataclass
class AblationResult:
    """Every ablation run, in the order they ran; :meth:`ranked` and :attr:`best` by the metric's direction.

    Args:
        metric: The validation metric scored, e.g. ``"val_accuracy"``.
        mode: ``"max"`` or ``"min"``: the metric's better direction.
        rows: One :class:`AblationRow` per run.
    """

    metric: str
    mode: str
    rows: list[AblationRow]

    def ranked(self) -> list[AblationRow]:
        """Best validation score first (ties: the lower validation loss, fewer parameters, less time)."""
        return sorted(self.rows, key=lambda r: (*(-v for v in rank(r.trial)), r.trial.parameters, r.trial.seconds))

    @property
    def best(self) -> AblationRow:
        return self.ranked()[0]

    def table(self) -> list[dict[str, Any]]:
        """One row per remedy set, best first: its name, stage, score, gap, parameters and seconds."""
        return [{"remedies": r.name, "stage": r.stage, self.metric: r.trial.value, "gap": r.trial.gap,
                 "parameters": r.trial.parameters, "seconds": r.trial.seconds} for r in self.ranked()]


def ablation(
    recipe: TrainConfig,
    remedies: Mapping[str, Mapping[str, Any]],
    *,
    budget: float | None = None,
    metric: str = "auto",
    data: Dataset | None = None,
    combine: str = "greedy",
) -> AblationResult:
    """Each remedy (a name -> search point, e.g. ``{"dropout": {"dropout": 0.3}}``) alone, then combined
    (:func:`ablate`), every run scored on the same train/validation split with the same seed.

    ``budget`` (seconds) stops the combination stage once spent; the single-remedy runs always run.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`.
        remedies: A non-empty mapping from a remedy's name to its search point (every point is checked before
            any training).
        budget: Seconds after which no further combination is tried, > 0; None (default): no limit.
        metric: ``"auto"`` (default) or a ``val_*`` metric (see :func:`resolve_metric`).
        data: An already loaded dataset with a validation split; None (default) loads the recipe's data.
        combine: ``"greedy"`` (default: forward selection) or ``"helpful"`` (see :func:`ablate`).

    Raises:
        ValueError: empty ``remedies``, a non-positive ``budget``, no validation split, a bad point or ``combine``.

    Example:
        >>> result = ablation(TrainConfig(), {"l2": {"l2": 1e-4}, "dropout": {"dropout": 0.3}})  # doctest: +SKIP
        >>> result.best.name                                                                      # doctest: +SKIP
        'dropout + l2'
    """
    if not isinstance(remedies, Mapping) or not remedies:
        raise ValueError(f"`remedies` must map remedy names to search points, got {remedies!r}")
    if budget is not None and not budget > 0:
        raise ValueError(f"`budget` must be > 0 seconds or None, got {budget!r}")
    if combine not in COMBINE:
        raise ValueError(f"`combine` must be one of {', '.join(COMBINE)}, got {combine!r}")
    data = data if data is not None else load_data(recipe)
    if data.val is None:
        raise ValueError("ablation needs a validation split; set data.val > 0 in the recipe")
    name, mode = resolve_metric(metric, data.task)
    for point in remedies.values():
        apply_point(recipe, point, data.kind)  # every point is checked before any training starts
    evaluate = Evaluator(recipe, data, metric=name)
    started = time.perf_counter()

    def candidate(names: tuple[str, ...]) -> Candidate:
        point: dict[str, Any] = {}
        for remedy in names:
            point.update(remedies[remedy])
        return Candidate(as_recipe(apply_point(recipe, point, data.kind)), " + ".join(names) or "reference",
                         "ablation")

    def within(_: int, __: Candidate) -> bool:
        return budget is None or time.perf_counter() - started <= budget

    def score(batch: list[tuple[str, ...]]) -> list[Trial]:  # the single remedies always run
        return evaluate.evaluate_candidates([candidate(n) for n in batch], within if len(batch[0]) > 1 else None)

    reference = evaluate.evaluate_candidates([candidate(())])[0]
    trials = ablate(score, list(remedies), reference, combine=combine)
    return AblationResult(name, mode, [AblationRow(tuple(t.details["remedies"]), t.details["stage"], t)
                                       for t in trials])
