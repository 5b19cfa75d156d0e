from __future__ import annotations

import inspect

import optuna
import pytest

from fitguard.config import parse_config
from fitguard.errors import FitguardError
from fitguard.search import Choice, Float, SearchSpace, default_storage, prepare_study, study, summarize
from fitguard.search.gridtpe import GridTPESampler


def test_study_runs_the_planned_trials_and_resumes(tiny_recipe, tmp_path) -> None:
    space = SearchSpace({"lr": Float(1e-3, 3e-2, log=True), "dropout": Choice((0.0, 0.3))})
    seen = []
    result = study(tiny_recipe, space, trials=3, out=tmp_path, progress=lambda counts, best: seen.append(counts))
    assert (tmp_path / "study.db").is_file()
    assert sorted(r["slot"] for r in result.rows) == [0, 1, 2]
    assert result.best["state"] == "COMPLETE"
    assert seen[-1]["WAITING"] == 0 and seen[0]["WAITING"] == 3
    with pytest.raises(FitguardError) as error:
        study(tiny_recipe, space, trials=3, out=tmp_path)
    assert str(error.value) == (f"study 'fitguard' already exists in sqlite:///{tmp_path / 'study.db'}; "
                                "pass --resume to continue or join it")
    more = study(tiny_recipe, space, trials=5, out=tmp_path, resume=True)
    assert sorted(r["slot"] for r in more.rows) == [0, 1, 2, 3, 4]
    assert [r["number"] for r in more.rows][:3] == [r["number"] for r in result.rows]


def test_a_pruned_trial_never_becomes_the_reported_best() -> None:
    scripted = optuna.create_study(direction="maximize")
    good = scripted.ask()
    good.report(0.95, 1)
    good.report(0.99, 2)  # the best value any trial ever reported
    scripted.tell(good, state=optuna.trial.TrialState.PRUNED)
    plain = scripted.ask()
    plain.report(0.7, 1)
    scripted.tell(plain, 0.7)
    result = summarize(scripted, "memory", "val_accuracy")
    assert result.best["number"] == plain.number and result.best["value"] == 0.7
    assert [r["state"] for r in result.rows] == ["PRUNED", "COMPLETE"]


def test_a_study_of_only_pruned_trials_has_no_best() -> None:
    scripted = optuna.create_study(direction="minimize")
    trial = scripted.ask()
    trial.report(0.1, 1)
    scripted.tell(trial, state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(FitguardError) as error:
        summarize(scripted, "memory", "val_loss")
    assert str(error.value) == f"no trial of study {scripted.study_name!r} completed (1 pruned, 0 failed)"


def test_a_search_whose_every_trial_fails_says_why(tmp_path) -> None:
    regression = parse_config({"data": {"source": "diabetes"}, "model": {"name": "mlp", "hidden": [4]},
                               "train": {"max_epochs": 2, "device": "cpu"}, "early_stopping": False,
                               "tensorboard": False})
    with pytest.raises(FitguardError) as error:
        study(regression, SearchSpace({"mixup": Choice((0.2, 0.4))}), trials=2, out=tmp_path)
    assert str(error.value) == ("all 2 trials of study 'fitguard' failed; first error (trial 0): "
                                "ValueError: mixup and cutmix apply to classification data only")


def test_study_arguments_are_checked(tiny_recipe, tmp_path) -> None:
    space = SearchSpace({"lr": Float(1e-3, 1e-2)})
    for kwargs, message in [
        ({"trials": 0, "out": tmp_path}, "`trials` must be an integer >= 1, got 0"),
        ({"workers": 0, "out": tmp_path}, "`workers` must be an integer >= 1, got 0"),
        ({}, "give `out` (the study is stored in out/study.db) or a `storage` URL"),
        ({"out": tmp_path, "pruner": "sometimes"},
         "`pruner` must be one of catchup, hyperband, median, none, got 'sometimes'"),
        ({"storage": "mongodb://x"}, "`storage` must be a database URL such as sqlite:///runs/x/study.db or "
         "postgresql+psycopg://user@host/db, got 'mongodb://x'"),
    ]:
        with pytest.raises(ValueError) as error:
            study(tiny_recipe, space, **kwargs)
        assert str(error.value) == message


def test_a_study_defaults_to_grid_aware_tpe_without_pruning(tiny_recipe, tmp_path) -> None:
    # benchmarks/search.py (200 seeds): no pruning reached the grid's best on every seed and cost the least on
    # average once the catch-up pruner's misses count at full cost; see fitguard/search/pruning.py
    for function in (study, prepare_study):
        defaults = inspect.signature(function).parameters
        assert (defaults["pruner"].default, defaults["sampler"].default) == ("none", "tpe")
    optuna_study, spec, _ = prepare_study(tiny_recipe, SearchSpace({"dropout": Choice((0.0, 0.3))}), trials=2,
                                          storage=default_storage(tmp_path))
    assert (spec.pruner, spec.sampler) == ("none", "tpe")
    assert isinstance(optuna_study.pruner, optuna.pruners.NopPruner)
    assert isinstance(optuna_study.sampler, GridTPESampler)
