from __future__ import annotations

import optuna
import pytest

from fitguard.search.gridtpe import GridTPESampler
from fitguard.search.pruning import CatchUpPruner, best_until, cannot_catch_up, make_sampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_best_until_skips_later_steps_and_non_finite_values() -> None:
    assert best_until({1: 0.2, 2: float("nan"), 3: 0.9}, 2) == 0.2
    assert best_until({1: 0.2, 3: 0.9}) == 0.9
    assert best_until({1: float("nan")}) == float("-inf")


def test_cannot_catch_up_uses_the_largest_gain_after_the_step() -> None:
    completed = [{1: 0.50, 2: 0.60, 3: 0.80},   # gain after step 2: 0.20; the incumbent, 0.80
                 {1: 0.30, 2: 0.70, 3: 0.72}]   # gain after step 2: 0.02
    pruned = [{1: 0.10, 2: 0.20, 3: 0.45}]      # ran past step 2 before it was cut: gain 0.25
    # best so far 0.56 (not the last value 0.40) + 0.20 = 0.76 < 0.80
    assert cannot_catch_up({1: 0.56, 2: 0.40}, completed, [], step=2)
    # the pruned trial's 0.25 counts too: 0.56 + 0.25 >= 0.80
    assert not cannot_catch_up({1: 0.56, 2: 0.40}, completed, pruned, step=2)
    # at step 3 no trial ran further: nothing is known, nothing is cut
    assert not cannot_catch_up({1: 0.1, 2: 0.1, 3: 0.1}, completed, pruned, step=3)


def _study(direction: str, pruner: CatchUpPruner, curves: list[list[float]]) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=pruner)
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
        study.tell(trial, curve[-1])
    return study


def _cut_at(study: optuna.Study, curve: list[float]) -> int | None:
    trial = study.ask()
    for step, value in enumerate(curve, start=1):
        trial.report(value, step)
        if trial.should_prune():
            return step
    return None


def test_a_trial_is_cut_once_it_cannot_catch_up_and_not_before_min_epochs() -> None:
    done = [[0.3, 0.5, 0.6, 0.7, 0.72, 0.74], [0.4, 0.6, 0.62, 0.63, 0.64, 0.65], [0.2, 0.3, 0.4, 0.5, 0.55, 0.6]]
    # largest gains after steps 1..4: 0.44, 0.30, 0.20, 0.10; incumbent 0.74
    late_starter = [0.35, 0.45, 0.5, 0.55, 0.6, 0.7]
    # step 1: 0.35 + 0.44 >= 0.74, step 2: 0.45 + 0.30 >= 0.74, step 3: 0.5 + 0.2 < 0.74
    assert _cut_at(_study("maximize", CatchUpPruner(min_epochs=1), done), late_starter) == 3
    assert _cut_at(_study("maximize", CatchUpPruner(min_epochs=4), done), late_starter) == 4  # 0.55 + 0.1
    assert _cut_at(_study("maximize", CatchUpPruner(min_epochs=1, min_completed=4), done), late_starter) is None


def test_losses_are_minimized() -> None:
    done = [[0.9, 0.5, 0.3], [0.8, 0.7, 0.6], [1.0, 0.9, 0.8]]  # gains after step 1: 0.6, 0.2, 0.2; incumbent 0.3
    pruner = CatchUpPruner(min_epochs=1)
    assert _cut_at(_study("minimize", pruner, done), [0.85, 0.2, 0.1]) is None  # 0.85 - 0.6 = 0.25 <= 0.3
    assert _cut_at(_study("minimize", pruner, done), [1.5, 1.4, 1.3]) == 1  # 1.5 - 0.6 > 0.3


def test_arguments_are_checked() -> None:
    for kwargs, message in [({"min_epochs": 0}, "`min_epochs` must be an integer >= 1, got 0"),
                            ({"min_completed": True}, "`min_completed` must be an integer >= 1, got True")]:
        with pytest.raises(ValueError) as error:
            CatchUpPruner(**kwargs)
        assert str(error.value) == message


def test_get_config_round_trips() -> None:
    pruner = CatchUpPruner(min_epochs=2, min_completed=5)
    assert CatchUpPruner(**pruner.get_config()).get_config() == {"min_epochs": 2, "min_completed": 5}


def test_the_tpe_sampler_is_grid_aware() -> None:
    assert isinstance(make_sampler("tpe", 0), GridTPESampler)
