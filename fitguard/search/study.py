"""``study``: an Optuna search over remedies (pruning opt-in), on SQLite or PostgreSQL, with one or many workers.

Example:
    >>> from fitguard.config import TrainConfig
    >>> from fitguard.search import Float, SearchSpace, study
    >>> space = SearchSpace({"lr": Float(1e-4, 1e-2, log=True)})
    >>> result = study(TrainConfig(), space, trials=10, out="runs/search")   # doctest: +SKIP
    >>> result.best["params"]                                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitguard._validation import check_int, check_type
from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.errors import FitguardError
from fitguard.search.pruning import DEFAULT_PRUNER, DEFAULT_SAMPLER, make_pruner, make_sampler
from fitguard.search.scoring import resolve_metric
from fitguard.search.space import SearchSpace
from fitguard.search.storage import default_storage, open_storage, storage_errors
from fitguard.search.workers import SLOT, SPEC, TrialSpec, open_study, work


@dataclass
class StudyResult:
    """Every trial as a row (number, slot, state, value, params, gap, epochs, seconds, error) and the best
    *completed* trial — a pruned trial never counts, whatever it reported before it was cut.

    Args:
        name: The study's name.
        storage: The database URL it is stored in.
        metric: The validation metric trials were scored on.
        direction: ``"maximize"`` or ``"minimize"``.
        rows: One dict per trial (keys above, plus ``parameters`` and ``retry_of``), in trial order.
        best: The row of the best completed trial.
    """

    name: str
    storage: str
    metric: str
    direction: str
    rows: list[dict[str, Any]]
    best: dict[str, Any]

    def counts(self) -> dict[str, int]:
        """The number of trials in each state (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``...)."""
        return count_states(self.rows)


def count_states(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The number of trials in each state; the five usual states are always present.

    Args:
        rows: what :func:`trial_rows` returned.
    """
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def trial_rows(optuna_study: Any) -> list[dict[str, Any]]:
    """One plain dict per trial: number, slot, state, value, params and the attributes fitguard records.

    Args:
        optuna_study: the study.
    """
    rows = []
    for t in optuna_study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number, "slot": t.user_attrs.get(SLOT), "state": t.state.name, "value": t.value,
            "params": dict(t.params), "gap": t.user_attrs.get("gap"), "epochs": t.user_attrs.get("epochs"),
            "parameters": t.user_attrs.get("parameters"), "seconds": t.user_attrs.get("seconds"),
            "error": t.user_attrs.get("error"), "retry_of": t.system_attrs.get("failed_trial"),
        })
    return rows


def summarize(optuna_study: Any, storage: str, metric: str) -> StudyResult:
    """Rows of every trial and the best completed one; raises ``FitguardError`` when none completed.

    Args:
        optuna_study: The Optuna study to read.
        storage: Its database URL, recorded in the result.
        metric: The metric its values are, recorded in the result.
    """
    rows = trial_rows(optuna_study)
    direction = "maximize" if optuna_study.direction.name == "MAXIMIZE" else "minimize"
    complete = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None and math.isfinite(r["value"])]
    if not complete:
        counts = count_states(rows)
        errors = [r for r in rows if r["error"]]
        why = f"; first error (trial {errors[0]['number']}): {errors[0]['error']}" if errors else ""
        if counts["FAIL"] and not counts["PRUNED"] and not counts["COMPLETE"]:
            raise FitguardError(f"all {counts['FAIL']} trials of study {optuna_study.study_name!r} failed{why}")
        raise FitguardError(
            f"no trial of study {optuna_study.study_name!r} completed ({counts['PRUNED']} pruned, "
            f"{counts['FAIL']} failed){why}"
        )
    pick = max if direction == "maximize" else min
    best = pick(complete, key=lambda r: r["value"])
    return StudyResult(optuna_study.study_name, storage, metric, direction, rows, best)


def plan(optuna_study: Any, trials: int) -> int:
    """Queue slots up to ``trials`` (slots already planned are kept); returns how many were added.

    Args:
        optuna_study: the study.
        trials: the slots the study should hold.
    """
    planned = {t.user_attrs.get(SLOT) for t in optuna_study.get_trials(deepcopy=False)}
    added = 0
    for slot in range(trials):
        if slot not in planned:
            optuna_study.enqueue_trial({}, user_attrs={SLOT: slot})
            added += 1
    return added


def _create(storage: Any, name: str, spec: TrialSpec, direction: str, resume: bool, url: str) -> None:
    import optuna

    existing = next((s for s in storage.get_all_studies() if s.study_name == name), None)
    if existing is not None:
        if not resume:
            raise FitguardError(f"study {name!r} already exists in {url}; pass --resume to continue or join it")
        stored = existing.user_attrs.get(SPEC, {})
        keys = ("config", "space", "metric")
        if {k: stored.get(k) for k in keys} != {k: getattr(spec, k) for k in keys}:
            raise FitguardError(f"study {name!r} in {url} was made from another config or search space; "
                                "use the same CONFIG to join it, or another --study name")
        return
    if resume:
        raise FitguardError(f"cannot resume: no study named {name!r} in {url}")
    created = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True)
    created.set_user_attr(SPEC, spec.to_dict())


def _load(recipe: TrainConfig) -> Dataset:
    from fitguard.recipe import load_data

    return load_data(recipe)


def prepare_study(
    recipe: TrainConfig,
    space: SearchSpace,
    *,
    trials: int,
    storage: str,
    name: str = "fitguard",
    metric: str = "auto",
    sampler: str = DEFAULT_SAMPLER,
    pruner: str = DEFAULT_PRUNER,
    min_epochs: int = 4,
    seed: int = 0,
    resume: bool = False,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
    data: Dataset | None = None,
) -> tuple[Any, TrialSpec, Any]:
    """Create (or, with ``resume``, join) the study and queue its trials; ``(study, spec, storage)``.

    Workers started afterwards (``python -m fitguard.search.workers URL NAME``) run the queue.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`; each trial applies its point to it.
        space: The :class:`SearchSpace` to sample.
        trials: Total trials the study should hold, >= 1 (with ``resume``, slots already queued count).
        storage: Database URL of the study (``sqlite:///...``, ``postgresql://...`` or ``mysql://...``), or
            ``grpc://HOST:PORT`` of Optuna's gRPC storage proxy in front of one (trials then beat in a system
            attribute: :class:`~fitguard.search.workers.AttributeHeartbeat`).
        name: The study's name in the storage. Default ``"fitguard"``.
        metric: ``"auto"`` (default; val_accuracy for classification, val_loss otherwise) or a ``val_*`` metric.
        sampler: ``"tpe"`` (default, grid-aware) or ``"random"`` (see :func:`make_sampler`).
        pruner: ``"none"`` (default), ``"catchup"``, ``"hyperband"`` or ``"median"`` (see :func:`make_pruner`).
        min_epochs: Epochs before a pruner may cut a trial. Default 4.
        seed: Seed of the sampler. Default 0.
        resume: Continue or join an existing study ``name`` (it must exist and come from the same recipe and
            space); False (default) refuses an existing study.
        heartbeat_interval: Seconds between a running trial's heartbeats, >= 1. Default 10.
        grace_period: Seconds without a heartbeat after which a trial's worker counts as dead and the trial is
            retried (up to 3 times); None (default): 3 heartbeat intervals.
        data: An already loaded dataset; None (default) loads the recipe's data.

    Raises:
        ValueError: an unknown sampler, pruner or metric, or a malformed storage URL.
        FitguardError: an existing study without ``resume``, or a study to resume that is missing or differs.
    """
    make_pruner(pruner, recipe.train.max_epochs, min_epochs)
    make_sampler(sampler, seed)
    data = data if data is not None else _load(recipe)
    metric_name, mode = resolve_metric(metric, data.task)
    grace = grace_period if grace_period is not None else 3 * heartbeat_interval
    spec = TrialSpec(recipe.model_dump(mode="json"), space.to_dict(), metric_name, sampler, pruner, seed, min_epochs,
                     heartbeat_interval, grace)
    rdb = open_storage(storage, heartbeat_interval, grace)
    _create(rdb, name, spec, "maximize" if mode == "max" else "minimize", resume, storage)
    optuna_study, spec = open_study(rdb, name)
    plan(optuna_study, trials)
    return optuna_study, spec, rdb


def study(
    recipe: TrainConfig,
    space: SearchSpace,
    *,
    trials: int = 20,
    timeout: float | None = None,
    storage: str | None = None,
    out: str | Path | None = None,
    name: str = "fitguard",
    workers: int = 1,
    metric: str = "auto",
    sampler: str = DEFAULT_SAMPLER,
    pruner: str = DEFAULT_PRUNER,
    min_epochs: int = 4,
    seed: int = 0,
    resume: bool = False,
    heartbeat_interval: int = 10,
    grace_period: int | None = None,
    data: Dataset | None = None,
    progress: Callable[[dict[str, int], dict[str, Any] | None], None] | None = None,
) -> StudyResult:
    """Search ``space`` on ``recipe``: ``trials`` trials, scored on their per-epoch validation metric.

    ``sampler`` (default 'tpe', grid-aware: no configuration twice) and ``pruner`` (default 'none': every
    trial runs all its epochs; 'catchup', 'hyperband' or 'median' cut trials after ``min_epochs`` epochs) are
    named as in :func:`~fitguard.search.pruning.make_pruner`, whose module says why no pruning is the default.
    ``storage`` (default: ``out/study.db``) may be PostgreSQL; ``workers`` > 1 starts that many local
    processes; ``resume`` continues (or joins) the study ``name``. ``progress(counts, best_row)`` is called as
    trials end.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`; each trial applies its point to it.
        space: The :class:`SearchSpace` to sample.
        trials: Total trials, >= 1 (with ``resume``, slots already queued count). Default 20.
        timeout: Seconds after which workers start no new trial (> 0); None (default): no limit.
        storage: Database URL of the study, or ``grpc://HOST:PORT`` of Optuna's gRPC storage proxy in front of
            one; None (default): ``sqlite`` in ``out/study.db``.
        out: Folder for the default storage (created if missing); needed when ``storage`` is None.
        name: The study's name in the storage. Default ``"fitguard"``.
        workers: Processes that run trials, >= 1: 1 (default) runs them in this process, more start
            ``python -m fitguard.search.workers`` processes (then ``data`` must be None).
        metric: ``"auto"`` (default; val_accuracy for classification, val_loss otherwise) or a ``val_*`` metric.
        sampler: ``"tpe"`` (default, grid-aware) or ``"random"`` (see :func:`make_sampler`).
        pruner: ``"none"`` (default), ``"catchup"``, ``"hyperband"`` or ``"median"`` (see :func:`make_pruner`).
        min_epochs: Epochs before a pruner may cut a trial. Default 4.
        seed: Seed of the sampler. Default 0.
        resume: Continue or join an existing study ``name`` (it must exist and come from the same recipe and
            space); False (default) refuses an existing study.
        heartbeat_interval: Seconds between a running trial's heartbeats, >= 1. Default 10.
        grace_period: Seconds without a heartbeat after which a trial's worker counts as dead and the trial is
            retried (up to 3 times); None (default): 3 heartbeat intervals.
        data: An already loaded dataset (only with ``workers=1``); None (default) loads the recipe's data.
        progress: Called as ``progress(counts, best_row)`` at the start and as trials end (state counts, and
            the best completed trial's row or None); None (default): not called.

    Raises:
        ValueError: an argument out of range, neither ``out`` nor ``storage``, or ``data`` with several workers.
        FitguardError: no trial completed, a worker process failed, or a study conflict (see
            :func:`prepare_study`).
    """
    check_int("trials", trials, low=1)
    check_int("workers", workers, low=1)
    if timeout is not None and not timeout > 0:
        raise ValueError(f"`timeout` must be > 0 seconds or None, got {timeout!r}")
    check_type("space", space, SearchSpace)
    if storage is None:
        if out is None:
            raise ValueError("give `out` (the study is stored in out/study.db) or a `storage` URL")
        Path(out).mkdir(parents=True, exist_ok=True)
        storage = default_storage(out)
    if data is not None and workers > 1:
        raise ValueError("`data` given in Python cannot reach worker processes; "
                         "use workers=1 or a data source in the recipe")
    data = data if data is not None else _load(recipe)
    optuna_study, spec, rdb = prepare_study(recipe, space, trials=trials, storage=storage, name=name, metric=metric,
                                            sampler=sampler, pruner=pruner, min_epochs=min_epochs, seed=seed,
                                            resume=resume, heartbeat_interval=heartbeat_interval,
                                            grace_period=grace_period, data=data)
    metric_name, mode = spec.metric, ("max" if optuna_study.direction.name == "MAXIMIZE" else "min")
    deadline = time.time() + timeout if timeout is not None else None

    def report(_state: str = "") -> None:
        if progress is not None:
            rows = trial_rows(optuna_study)
            done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
            pick = max if mode == "max" else min
            progress(count_states(rows), pick(done, key=lambda r: r["value"]) if done else None)

    with storage_errors(storage):
        report()
        if workers == 1:
            work(optuna_study, spec, data, rdb, deadline, on_trial=report)
        else:
            _run_processes(storage, name, workers, deadline, report)
        return summarize(optuna_study, storage, metric_name)


def _run_processes(url: str, name: str, workers: int, deadline: float | None, report: Callable[[], None]) -> None:
    command = [sys.executable, "-m", "fitguard.search.workers", url, name]
    if deadline is not None:
        command += ["--deadline", str(deadline)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = [subprocess.Popen([*command, "--worker", str(i)], env=env) for i in range(workers)]
    try:
        while any(p.poll() is None for p in processes):
            report()
            time.sleep(1.0)
    except KeyboardInterrupt:
        for process in processes:
            process.send_signal(2)  # SIGINT: each worker fails and re-queues its running trial
        for process in processes:
            process.wait()
        raise
    report()
    failed = [p.returncode for p in processes if p.returncode != 0]
    if failed:
        raise FitguardError(f"{len(failed)} of {workers} worker processes exited with an error (codes {failed})")
