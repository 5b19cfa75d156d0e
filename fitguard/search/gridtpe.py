"""TPE that never proposes a configuration twice when the search space is a finite grid.

Training is seeded, so a second trial of the same configuration repeats the first one epoch for epoch: on a
space of choices only, Optuna's TPE (which samples each parameter independently, with replacement) spends
a growing share of a study on repeats. :class:`GridTPESampler` scores the *untried* grid points the way TPE
scores candidates (the ratio of a Parzen estimator fitted to the best trials over one fitted to the rest, per
parameter, each a categorical with a uniform prior of weight 1) and samples among them; running trials count
as tried, so parallel workers spread out. Spaces with a range fall back to the wrapped TPE unchanged.

Example:
    >>> import optuna
    >>> sampler = GridTPESampler(seed=0)
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> s = optuna.create_study(direction="maximize", sampler=sampler)
    >>> seen = set()
    >>> for _ in range(6):
    ...     t = s.ask()
    ...     seen.add((t.suggest_categorical("a", [1, 2, 3]), t.suggest_categorical("b", [0, 1])))
    ...     _ = s.tell(t, 0.0)
    >>> len(seen)
    6
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from fitguard._validation import check_int


def split_good(trials: Sequence[FrozenTrial], maximize: bool,
               gamma: float) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """The best ``ceil(gamma * n)`` finished trials and the rest; a completed trial ranks above every pruned
    one, and a trial pruned later above one pruned earlier (then by its last reported value), as TPE ranks.

    Args:
        trials: the finished trials.
        maximize: whether larger values are better.
        gamma: the share ranked "good", in (0, 1].
    """
    sign = -1.0 if maximize else 1.0

    def rank(trial: FrozenTrial) -> tuple[int, float, float]:
        if trial.state == TrialState.COMPLETE:
            return 0, 0.0, sign * trial.value
        if trial.intermediate_values:
            step, value = max(trial.intermediate_values.items())
            return 1, -step, sign * value if math.isfinite(value) else math.inf
        return 2, 0.0, 0.0

    ordered = sorted(trials, key=rank)
    n_good = math.ceil(gamma * len(ordered))
    return ordered[:n_good], ordered[n_good:]


def log_density(trials: Sequence[FrozenTrial], names: Sequence[str], choices: Sequence[Sequence[Any]],
                points: Sequence[tuple]) -> np.ndarray:
    """Log of the product over parameters of categorical Parzen estimators (counts + uniform prior of weight 1).

    Args:
        trials: the trials the estimators are fitted on.
        names: the parameters' names.
        choices: each parameter's choices, in ``names`` order.
        points: the points to score, one value per parameter.
    """
    total = np.zeros(len(points))
    for index, (name, values) in enumerate(zip(names, choices)):
        counts = np.full(len(values), 1.0 / len(values))
        for trial in trials:
            counts[values.index(trial.params[name])] += 1.0
        logp = np.log(counts / counts.sum())
        total += logp[[values.index(point[index]) for point in points]]
    return total


class GridTPESampler(optuna.samplers.BaseSampler):
    """TPE without repeats on finite grids (see the module); ``n_startup_trials`` random untried points first.

    ``gamma`` is the share of finished trials fitted as "good" (0.25, Hyperopt's default);
    ``n_ei_candidates`` untried points are drawn from the good estimator and the best ratio is taken.

    Args:
        seed: seeds both this sampler's draws and the inner TPE's; None (default): unseeded.
        n_startup_trials: random untried points before TPE starts, >= 0 (default 10).
        gamma: the share of finished trials fitted as "good", in (0, 1] (default 0.25).
        n_ei_candidates: untried points drawn from the good estimator, >= 1 (default 24).
        constant_liar: passed to the inner TPE, used off the grid (default True).

    Raises:
        ValueError: an argument out of range.
    """

    def __init__(self, seed: int | None = None, *, n_startup_trials: int = 10, gamma: float = 0.25,
                 n_ei_candidates: int = 24, constant_liar: bool = True) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"`gamma` must be in (0, 1], got {gamma!r}")
        for name, value, low in (("n_startup_trials", n_startup_trials, 0), ("n_ei_candidates", n_ei_candidates, 1)):
            check_int(name, value, low=low)
        self._rng = np.random.default_rng(seed)
        self._inner = optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar,
                                                 n_startup_trials=n_startup_trials)
        self.n_startup_trials = n_startup_trials
        self.gamma = gamma
        self.n_ei_candidates = n_ei_candidates

    def reseed_rng(self) -> None:
        """Reseed this sampler's and the inner TPE's generators at random (Optuna calls it in workers)."""
        self._rng = np.random.default_rng()
        self._inner.reseed_rng()

    def infer_relative_search_space(self, study: Any, trial: FrozenTrial) -> dict[str, Any]:
        """The study's grid when every parameter is a finite choice, else what the inner TPE infers.

        Args:
            study: the Optuna study.
            trial: the trial being sampled.
        """
        grid = _finite_space(study)
        return grid if grid else self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        """An untried grid point (random for the first ``n_startup_trials``, then TPE's best ratio); off a grid,
        the inner TPE's.

        Args:
            study: the Optuna study.
            trial: the trial being sampled.
            search_space: what :meth:`infer_relative_search_space` returned.
        """
        if not search_space or not _all_choices(search_space):
            return self._inner.sample_relative(study, trial, search_space)
        names = list(search_space)
        choices = [list(search_space[name].choices) for name in names]
        trials = study.get_trials(deepcopy=False)
        tried = {tuple(t.params.get(n) for n in names) for t in trials
                 if t.number != trial.number and set(names) <= set(t.params)}
        untried = [p for p in itertools.product(*choices) if p not in tried]
        if not untried:  # every point was tried: a repeat is all that is left
            untried = list(itertools.product(*choices))
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                    and set(names) <= set(t.params)]
        if len(finished) < self.n_startup_trials:
            pick = untried[self._rng.integers(len(untried))]
        else:
            good, bad = split_good(finished, study.direction == optuna.study.StudyDirection.MAXIMIZE, self.gamma)
            below = log_density(good, names, choices, untried)
            above = log_density(bad, names, choices, untried)
            weights = np.exp(below - below.max())
            draws = self._rng.choice(len(untried), size=self.n_ei_candidates, p=weights / weights.sum())
            ratio = (below - above)[draws]
            pick = untried[draws[int(np.argmax(ratio))]]
        return dict(zip(names, pick))

    def sample_independent(self, study: Any, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        """The inner TPE's value for a parameter outside the relative space.

        Args:
            study: the Optuna study.
            trial: the trial being sampled.
            param_name: the parameter.
            param_distribution: its distribution.
        """
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: FrozenTrial) -> None:
        """Pass on to the inner TPE.

        Args:
            study: the Optuna study.
            trial: the trial being sampled.
        """
        self._inner.before_trial(study, trial)

    def after_trial(self, study: Any, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        """Pass on to the inner TPE.

        Args:
            study: the Optuna study.
            trial: the finished trial.
            state: its final state.
            values: its values; None when it has none.
        """
        self._inner.after_trial(study, trial, state, values)


def _all_choices(space: dict[str, Any]) -> bool:
    return all(isinstance(d, CategoricalDistribution) for d in space.values())


def _finite_space(study: Any) -> dict[str, Any]:
    """The distributions of the study's first trial that chose parameters, when all are choices; else {}."""
    for trial in study.get_trials(deepcopy=False):
        if trial.distributions:
            return dict(trial.distributions) if _all_choices(trial.distributions) else {}
    return {}
