from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from fitguard.search.gridtpe import GridTPESampler, log_density, split_good

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _ask(study: optuna.Study) -> tuple[optuna.Trial, tuple]:
    trial = study.ask()
    return trial, (trial.suggest_categorical("a", [1, 2, 3]), trial.suggest_categorical("b", ["x", "y", "z", "w"]))


def test_every_grid_point_once_before_any_repeat() -> None:
    study = optuna.create_study(direction="maximize", sampler=GridTPESampler(seed=3, n_startup_trials=4))
    seen = []
    for _ in range(12):
        trial, point = _ask(study)
        seen.append(point)
        study.tell(trial, float(point[0]))
    assert len(set(seen)) == 12
    trial, point = _ask(study)  # the grid is spent: a repeat is all that is left
    assert point in seen


def test_running_trials_count_as_tried() -> None:
    study = optuna.create_study(sampler=GridTPESampler(seed=0, n_startup_trials=0))
    _, first = _ask(study)
    points = {first}
    for _ in range(11):  # none told yet: as parallel workers would hold them
        points.add(_ask(study)[1])
    assert len(points) == 12


def test_it_finds_the_best_point_sooner_than_a_random_order_would() -> None:
    # 5 x 5 grid, one peak: a random order without repeats finds it after (25 + 1) / 2 = 13 trials on average
    a_values, b_values = [1, 2, 3, 4, 5], ["v", "w", "x", "y", "z"]
    found = []
    for seed in range(10):
        study = optuna.create_study(direction="maximize", sampler=GridTPESampler(seed=seed, n_startup_trials=5))
        for number in range(1, 26):
            trial = study.ask()
            a, b = trial.suggest_categorical("a", a_values), trial.suggest_categorical("b", b_values)
            study.tell(trial, -abs(a - 4) - abs(b_values.index(b) - 1))
            if (a, b) == (4, "w"):
                found.append(number)
                break
    assert len(found) == 10 and sum(found) / 10 < 9


def test_split_good_ranks_complete_then_later_pruned_then_earlier_pruned() -> None:
    dist = {"a": CategoricalDistribution((1, 2))}
    complete_low = create_trial(params={"a": 1}, distributions=dist, value=0.2)
    complete_high = create_trial(params={"a": 1}, distributions=dist, value=0.9)
    pruned_late = create_trial(params={"a": 2}, distributions=dist, state=TrialState.PRUNED,
                               intermediate_values={4: 0.5, 12: 0.1})
    pruned_early = create_trial(params={"a": 2}, distributions=dist, state=TrialState.PRUNED,
                                intermediate_values={4: 0.99})
    good, bad = split_good([pruned_early, complete_low, pruned_late, complete_high], maximize=True, gamma=0.5)
    assert good == [complete_high, complete_low] and bad == [pruned_late, pruned_early]
    good, bad = split_good([complete_low, complete_high], maximize=False, gamma=0.25)
    assert good == [complete_low] and bad == [complete_high]


def test_log_density_is_counts_plus_a_uniform_prior_of_weight_one() -> None:
    dist = {"a": CategoricalDistribution((1, 2)), "b": CategoricalDistribution(("x", "y", "z"))}
    trials = [create_trial(params={"a": 1, "b": "x"}, distributions=dist, value=0.0),
              create_trial(params={"a": 1, "b": "y"}, distributions=dist, value=0.0)]
    got = log_density(trials, ["a", "b"], [[1, 2], ["x", "y", "z"]], [(1, "x"), (2, "z")])
    # a: counts (2 + 1/2, 0 + 1/2) / 3; b: (1 + 1/3, 1 + 1/3, 0 + 1/3) / 3
    expected = [math.log(2.5 / 3) + math.log((4 / 3) / 3), math.log(0.5 / 3) + math.log((1 / 3) / 3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_space_with_a_range_is_plain_tpe() -> None:
    def run(sampler: optuna.samplers.BaseSampler) -> list[float]:
        study = optuna.create_study(sampler=sampler)
        out = []
        for _ in range(14):
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            out.append((x, trial.suggest_categorical("c", [0, 1])))
            study.tell(trial, (x - 0.3) ** 2)
        return out

    plain = optuna.samplers.TPESampler(seed=5, constant_liar=True, n_startup_trials=4)
    assert run(GridTPESampler(seed=5, n_startup_trials=4)) == run(plain)


def test_arguments_are_checked() -> None:
    for kwargs, message in [({"gamma": 0.0}, "`gamma` must be in (0, 1], got 0.0"),
                            ({"n_startup_trials": -1}, "`n_startup_trials` must be an integer >= 0, got -1"),
                            ({"n_ei_candidates": 0}, "`n_ei_candidates` must be an integer >= 1, got 0")]:
        with pytest.raises(ValueError) as error:
            GridTPESampler(**kwargs)
        assert str(error.value) == message
