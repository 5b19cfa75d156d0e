"""Ablation: the baseline, each remedy alone, then remedies combined by greedy forward selection.

The article says "different combinations of these methods will give you a result"; this measures which.
Greedy forward selection starts from the best single remedy and keeps adding the remedy that improves the
validation score most, while one does and the time budget lasts. Every run is scored on the same
train/validation split with the same seed, so differences are the remedies' doing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.recipe import load_data
from fitguard.search.scoring import Score, fit_and_score, resolve_metric
from fitguard.search.space import apply_point


@dataclass(frozen=True)
class AblationRow:
    """One run: which remedies, at which stage ('baseline', 'alone', 'combined'), and its score.

    Args:
        remedies: Names of the remedies applied together (empty for the baseline).
        stage: ``"baseline"``, ``"alone"`` (one remedy) or ``"combined"`` (a greedy combination).
        score: What the run measured on the validation split.
    """

    remedies: tuple[str, ...]
    stage: str
    score: Score

    @property
    def name(self) -> str:
        return " + ".join(self.remedies) or "baseline"


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
        """Best validation score first (ties: fewer parameters, then less time)."""
        sign = -1 if self.mode == "max" else 1
        return sorted(self.rows, key=lambda r: (sign * r.score.value, r.score.parameters, r.score.seconds))

    @property
    def best(self) -> AblationRow:
        return self.ranked()[0]

    def table(self) -> list[dict[str, Any]]:
        """One row per remedy set, best first: its name, stage, score, gap, parameters and seconds."""
        return [{"remedies": r.name, "stage": r.stage, self.metric: r.score.value, "gap": r.score.gap,
                 "parameters": r.score.parameters, "seconds": r.score.seconds} for r in self.ranked()]


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def ablation(
    recipe: TrainConfig,
    remedies: Mapping[str, Mapping[str, Any]],
    *,
    budget: float | None = None,
    metric: str = "auto",
    data: Dataset | None = None,
) -> AblationResult:
    """Each remedy (a name -> search point, e.g. ``{"dropout": {"dropout": 0.3}}``) alone, then combined.

    ``budget`` (seconds) stops the greedy combination stage once spent; the single-remedy runs always run.

    The combination stage is greedy: starting from the best single remedy, it adds each remaining remedy in
    turn, keeps the best combination while it beats the previous score, and stops when none does.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`.
        remedies: A non-empty mapping from a remedy's name to its search point (every point is checked before
            any training).
        budget: Seconds after which no further combination is tried, > 0; None (default): no limit.
        metric: ``"auto"`` (default) or a ``val_*`` metric (see :func:`resolve_metric`).
        data: An already loaded dataset with a validation split; None (default) loads the recipe's data.

    Raises:
        ValueError: empty ``remedies``, a non-positive ``budget``, no validation split, or a bad point.

    Example:
        >>> result = ablation(TrainConfig(), {"l2": {"l2": 1e-4}, "dropout": {"dropout": 0.3}})  # doctest: +SKIP
        >>> result.best.name                                                                      # doctest: +SKIP
        'dropout + l2'
    """
    if not isinstance(remedies, Mapping) or not remedies:
        raise ValueError(f"`remedies` must map remedy names to search points, got {remedies!r}")
    if budget is not None and not budget > 0:
        raise ValueError(f"`budget` must be > 0 seconds or None, got {budget!r}")
    data = data if data is not None else load_data(recipe)
    if data.val is None:
        raise ValueError("ablation needs a validation split; set data.val > 0 in the recipe")
    name, mode = resolve_metric(metric, data.task)
    for point in remedies.values():
        apply_point(recipe, point, data.kind)  # every point is checked before any training starts
    started = time.perf_counter()

    def score(names: tuple[str, ...]) -> Score:
        point: dict[str, Any] = {}
        for remedy in names:
            point.update(remedies[remedy])
        result, _ = fit_and_score(apply_point(recipe, point, data.kind), data, data.train, data.val, name)
        return result

    rows = [AblationRow((), "baseline", score(()))]
    alone = {remedy: score((remedy,)) for remedy in remedies}
    rows += [AblationRow((remedy,), "alone", s) for remedy, s in alone.items()]
    chosen: tuple[str, ...] = ()
    current = rows[0].score.value
    candidates = {(r,): s for r, s in alone.items()}
    while candidates:
        key, best = max(candidates.items(), key=lambda kv: kv[1].value if mode == "max" else -kv[1].value)
        if not _better(best.value, current, mode):
            break
        chosen, current = key, best.value
        left = [r for r in remedies if r not in chosen]
        if not left or (budget is not None and time.perf_counter() - started > budget):
            break
        candidates = {}
        for remedy in left:
            combo = (*chosen, remedy)
            candidates[combo] = score(combo)
            rows.append(AblationRow(combo, "combined", candidates[combo]))
            if budget is not None and time.perf_counter() - started > budget:
                break
    return AblationResult(name, mode, rows)
