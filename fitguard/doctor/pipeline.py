"""``fitguard doctor``: split -> baseline -> diagnosis -> reference models -> the search the diagnosis asks for ->
final trainings -> one test evaluation -> the shipped model, all within one wall-clock budget.

Like for like: the baseline and the kept recipe are each trained afresh, on the same rows (train + val unless
``--refit none``), for the epoch count validation chose for them (a complete recipe the budget trained once without
a score, for its own schedule's), with the same step rule; those two models are
the ones evaluated on the test split (once), compared with a paired test, and whose gaps (training rows - test)
the summary reports. With ``--refit all`` (the default) the kept recipe is then trained once more on every
labelled row, test included, for the same epochs: that is the shipped model, and the test figure is the honest
estimate for it (it was measured on the same recipe trained on fewer rows).

Everything the report shows is written to the run folder (``summary.json``, the histories, the two models, the
test predictions, augmentation samples), so ``fitguard report RUN_DIR`` can rebuild it without the data.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from fitguard.config import TrainConfig, parse_config, read_config_file
from fitguard.data import Dataset, TensorData, kfold, load
from fitguard.data.encoding import parse_ordinal
from fitguard.doctor import evidence, phases
from fitguard.doctor.diagnosis import diagnose, ensemble_decomposition, sentence
from fitguard.doctor.options import DoctorOptions
from fitguard.doctor.phases import REPORT_SECONDS, RESERVE_FACTOR
from fitguard.doctor.plan import Plan, plan_for
from fitguard.doctor.progress import DoctorProgress
from fitguard.doctor.store import (
    STORAGE_FILE,
    RunStorage,
    TrialStore,
    check_same_run,
    data_fingerprint,
    resumable,
    run_storage,
)
from fitguard.doctor.suggestions import learning_curve_phase, outcomes
from fitguard.doctor.summary import layer_table, versions
from fitguard.doctor.trials import (
    Trial,
    as_tested,
    joined,
    members_of,
    mirrored,
    refit_epochs,
    refit_members,
    refit_recipe,
    train_recipe,
)
from fitguard.doctor.workers import WorkerPool
from fitguard.errors import FitguardError
from fitguard.models import build_network, count
from fitguard.models.ensemble import MeanEnsemble
from fitguard.models.imported import is_import_path
from fitguard.recipe import load_data
from fitguard.regularize.class_weights import class_counts
from fitguard.runs import MARKER, claim_run_dir, save_model, write_json
from fitguard.search.scoring import gap_of, resolve_metric
from fitguard.search.storage import masked_url
from fitguard.summary import Summary, strict, write_summary
from fitguard.train import History
from fitguard.train.callbacks.event_logs import write_logs

#: the baseline network per family: big enough to overfit small data, the usual first try
BASELINE_MODELS = {"mlp": {"hidden": [256, 256]}, "cnn": {"widths": [32, 64]}, "cnn1d": {"widths": [32, 64]}}
#: the kept model's name when the budget cut every search training short, none above the baseline on validation, and
#: the baseline's recipe is kept (:func:`fitguard.doctor.phases.kept_trial`)
BASELINE_KEPT = "the baseline's recipe (the budget cut every search training short, none scored above it)"
#: the baseline may use at most this share of a time budget (it is stopped in flight past it)
BASELINE_SHARE = 0.2
#: the reference models may use at most this share of a time budget
REFERENCE_SHARE = 0.1
#: rows per forward pass over the test split: on a CPU a convolutional network on 28x28 or 32x32 images runs 1.3-2x
#: faster per row in passes of 64-256 rows than of 1,024 (its activations stay in cache), an MLP about as fast; and
#: the time kept for it is costed from passes over the validation rows, which are of this order
PREDICT_ROWS = 256
#: the most of a time budget kept back for the final trainings including the refit on every row
REFIT_ALL_SHARE = 0.4
#: the most of a time budget kept back for the ensemble's members beyond the first (``--ensemble``)
ENSEMBLE_SHARE = 0.15
#: what ``best.partner`` is (:func:`fitguard.doctor.phases.tie_partner`)
PARTNER_NOTE = ("the best network whose validation score the kept complete recipe's validation rows could not tell "
                "from the recipe's (within two standard errors of the difference)")


def base_config(options: DoctorOptions) -> TrainConfig:
    """The spec every training starts from: ``--config``'s (if any) with the doctor's options on top (data
    source and target, seed, device, early stopping on ``--monitor``, one checkpoint kept).

    Args:
        options: the doctor's options.
    """
    raw = read_config_file(options.config) if options.config else {}
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    data = raw.setdefault("data", {})
    if not options.config or options.data != DoctorOptions.data:
        data["source"] = options.data
    if options.target is not None:
        data["target"] = options.target
    data.setdefault("seed", options.seed)
    if options.test_data is not None:
        data["test"] = 0.0  # the external test set replaces the held-back rows
    if options.train_fraction < 1:
        data["train_fraction"] = options.train_fraction
    if options.data_options:
        data["options"] = {**(data.get("options") or {}), **options.data_options}
    if options.missing != DoctorOptions.missing:  # else the spec's own data.missing (default impute) stands
        data["missing"] = options.missing
    if not options.embed:
        data["embed"] = False
    if options.ordinal:
        data["ordinal"] = {**(data.get("ordinal") or {}), **parse_ordinal(options.ordinal)}
    raw.setdefault("train", {}).update(device=options.device, seed=options.seed)
    raw["early_stopping"] = {"monitor": options.monitor, "patience": options.patience, "restore_best": True}
    raw["checkpoint"] = {"every_minutes": None, "every_epochs": None, "keep_last": 1}
    raw["tensorboard"] = True
    return parse_config(raw, options.config or "doctor options")


def check_monitor(options: DoctorOptions, task: str) -> None:
    """Refuse ``--monitor val_accuracy`` for a regression (there is no accuracy to watch).

    Args:
        options: the doctor's options.
        task: the dataset's task.
    """
    if options.monitor == "val_accuracy" and task != "classification":
        raise FitguardError("`--monitor val_accuracy` needs a classification target; this data is a regression: "
                            "use val_loss")


def with_test_data(data: Dataset, options: DoctorOptions, base: TrainConfig) -> Dataset:
    """``data`` with its test split read from ``options.test_data``, transformed by ``data``'s own preprocessing.

    Args:
        data: the dataset.
        options: the doctor's options (``test_data`` names the file).
        base: the base spec (target, seed, standardization and loader options).
    """
    # the loader's options apply to the test file too, except the training pool's row limit: the test file's rows
    # are all test rows (``test_limit_per_class`` limits them, as it limits a source's own test split)
    loader = {k: v for k, v in base.data.options.items() if k not in ("limit_per_class", "test_limit_per_class")}
    if base.data.options.get("test_limit_per_class") is not None:
        loader["limit_per_class"] = base.data.options["test_limit_per_class"]
    external = load(options.test_data, target=base.data.target, val=0.0, test=0.0, seed=base.data.seed,
                    standardize=base.data.standardize, **loader)
    raw = external.raw_train
    if data.task == "classification":
        unseen = sorted({str(v) for v in raw.labels.tolist()} - {str(c) for c in data.class_names})
        if unseen:
            raise FitguardError(f"--test-data has classes the training data lacks: {', '.join(map(repr, unseen[:5]))}; "
                                f"expected only {', '.join(map(repr, data.class_names[:10]))}")
    if external.input_shape != data.input_shape:
        raise FitguardError(f"--test-data rows have shape {tuple(external.input_shape)}, the training data's have "
                            f"{tuple(data.input_shape)}: give a test set in the same format")
    test = TensorData(data.preprocessor.transform(raw.inputs), data.preprocessor.encode_target(raw.labels))
    return dataclasses.replace(data, test=test, raw_test=raw)


def candidates(options: DoctorOptions, kind: str, rows: int | None = None) -> list[dict[str, Any]]:
    """The architecture phase's recipes: the backbone first (when given), then the complete recipes ``--recipe``
    names (:func:`fitguard.doctor.phases.load_recipe`), then the networks that fit the data.

    Args:
        options: the doctor's options (``backbone``, ``model``).
        kind: the data's kind (``table``, ``signal``, ``image``), which picks the networks.
        rows: the labelled rows, which set a named recipe's passes an epoch on few rows (default None: as written).
    """
    found: list[dict[str, Any]] = []
    if options.backbone is not None:
        found.append({"model": {"name": options.model or "auto"},
                      "transfer": {"backbone": options.backbone, "freeze_all_but": options.freeze_all_but,
                                   "unfreeze_every": options.unfreeze_every,
                                   **({"image_size": options.image_size} if options.image_size else {})}})
    found += [phases.load_recipe(value, rows) for value in options.recipe]
    if options.model is not None and is_import_path(options.model):
        found.append({"model": {"name": options.model}})
    elif options.model is not None:
        found.append({"model": {"name": options.model, **BASELINE_MODELS[options.model]}})
        found += [{"model": dict(m)} for m in phases.ARCHITECTURES[kind] if m["name"] == options.model]
    else:
        found += [{"model": dict(m)} for m in phases.ARCHITECTURES[kind]]
    return [c for i, c in enumerate(found) if c not in found[:i]]


def _named(recipes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The architecture phase's candidates the user named: a backbone, a complete recipe (``--recipe``), a network of
    theirs (``--model package.module:function``); not the built-in networks."""
    return [r for r in recipes if "transfer" in r or phases.fixed_schedule(r)
            or is_import_path(str((r.get("model") or {}).get("name", "")))]


def default_recipes(options: DoctorOptions, kind: str, rows: int | None = None) -> list[dict[str, Any]]:
    """The complete recipes of :data:`fitguard.doctor.phases.DEFAULT_RECIPES` for this kind of data (copies), which
    the architecture phase scores first when the time left fits them; none with a ``--model``.

    Args:
        options: the doctor's options (``model``).
        kind: the data's kind.
        rows: the labelled rows, which set a recipe's passes an epoch on few rows (default None: as written).
    """
    if options.model is not None:
        return []
    return [phases.load_recipe(name, rows) for name in phases.DEFAULT_RECIPES.get(kind, ())]


def by_size(recipes: list[dict[str, Any]], data: Dataset, *, descending: bool) -> list[dict[str, Any]]:
    """Built-in networks ordered by parameter count (a backbone, a complete recipe or a user's network keeps its
    place first).

    Args:
        recipes: the candidates.
        data: the dataset the networks are sized for.
        descending: largest first.
    """
    def size(recipe: dict[str, Any]) -> float:
        model = recipe["model"]
        if set(recipe) != {"model"} or is_import_path(model["name"]):  # a backbone, a complete recipe
            return math.inf if descending else -math.inf
        options = {k: v for k, v in model.items() if k != "name"}
        network = build_network(model["name"], data.input_shape, data.out_features, options,
                                data.preprocessor.embeddings)
        return sum(p.numel() for p in network.parameters())

    return sorted(recipes, key=size, reverse=descending)


def baseline_network(model: str | None) -> dict[str, Any]:
    """The article's first try, whatever the data: a wide MLP that can memorize small data, cheap to diagnose;
    the user's own network (``--model``) as it comes.

    Args:
        model: the ``--model`` value; None: the wide MLP.
    """
    if model is not None and is_import_path(model):
        return {"name": model}
    return {"name": model or "mlp", **BASELINE_MODELS[model or "mlp"]}


def _load(options: DoctorOptions, base: TrainConfig, data: Dataset | None) -> Dataset:
    data = data if data is not None else load_data(base)
    if options.test_data is not None:
        data = with_test_data(data, options, base)
    if data.val is None or data.test is None:
        raise FitguardError("`fitguard doctor` needs validation and test splits: use val > 0 and test > 0 in the data "
                         "spec, or give --test-data")
    return data


def run_doctor(options: DoctorOptions, console: Console | None = None, data: Dataset | None = None) -> Path:
    """Run every phase and write the run folder; return its path. The HTML report and the closing table are the
    report layer's (:func:`fitguard.report.build_report`, :func:`fitguard.report.print_outcome`), which
    ``fitguard doctor`` calls next: they read the folder's ``summary.json`` alone.

    ``data``: an already split :class:`~fitguard.data.Dataset` to use instead of loading ``options.data`` (e.g.
    fixed benchmark splits); it needs validation and test splits.

    The run folder is held for this process while it runs (:func:`fitguard.runs.claim_run_dir`): a second
    ``--resume`` or ``--overwrite`` of it meanwhile is refused in one line.

    Args:
        options: Everything the run was asked to do (see :class:`DoctorOptions`).
        console: The rich console for the progress display; None (default): a new ``Console()``.
        data: An already split dataset to use instead of loading ``options.data``; None (default) loads it.

    Returns:
        The run folder (``options.out``).

    Raises:
        FitguardError: an ``out`` that cannot be the run folder (a file, a non-empty folder without
            ``overwrite`` or ``resume``, one ``resume`` cannot continue), or data the options cannot use; a folder
            this call created is removed when the input is refused before any training; a folder another process
            is running in; ``data`` given with ``options.workers`` > 1 (the workers load the data themselves).
    """
    if data is not None and options.workers > 1:
        raise FitguardError("`--workers` needs data the worker processes load themselves (--data): a given Dataset "
                            "is this process's alone")
    clock = phases.Clock(options.budget, options.trials)  # the budget counts from the call
    with (claim_run_dir(options.out, overwrite=options.overwrite, resume=options.resume) as run_dir,
          WorkerPool(options.workers, run_dir) as pool):
        return _run(options, run_dir, clock, console or Console(), data, pool)


def _run(options: DoctorOptions, run_dir: Path, clock: phases.Clock, console: Console, data: Dataset | None,
         pool: WorkerPool) -> Path:
    """The doctor's run in the folder ``run_dir`` this process holds (see :func:`run_doctor`); ``pool`` starts the
    processes that train its cross-validated folds with it (``--workers``) once its data are read."""
    timings: dict[str, float] = {}
    # a resumed run continues the folder's own run: same options, same data (checked before anything is written)
    earlier = resumable(run_dir, options) if options.resume else None
    given = data is not None

    def rewind(seconds: float) -> None:
        # a trial read back: the clock stands where the earlier attempt's stood when it finished (see TrialStore)
        if clock.search_started is not None:
            before_search = clock.search_started - clock.started
            clock.search_started = min(clock.search_started, time.perf_counter() - seconds)
            clock.started = clock.search_started - before_search

    try:
        storage = run_storage(run_dir, options, earlier)
        base = base_config(options)
        marker = {"command": "doctor", "options": options.to_dict(), "config": base.model_dump(mode="json")}
        if storage.shared:  # the URL without its password, and the run's id there (--resume and --join read them)
            marker["storage"] = {"url": masked_url(storage.url), "run_id": storage.run_id}
        if earlier is None:
            write_json(run_dir / MARKER, marker)
        # opened before the data are read: a database that cannot be reached is said at once
        store = TrialStore(storage.url, rewind=rewind, name=storage.trials,
                           elapsed=lambda: time.perf_counter() - (clock.search_started or clock.started))
        data = _load(options, base, data)
        check_monitor(options, data.task)
        fingerprint = data_fingerprint(data)
        if earlier is not None:
            check_same_run(run_dir, earlier, marker["config"], fingerprint)
        attempts = (earlier or {}).get("attempts", 1) + (earlier is not None)
        marker = {**marker, "data_fingerprint": fingerprint, "attempts": attempts}
        write_json(run_dir / MARKER, marker)
        if storage.shared:  # what a --join URL reads, as run.json has it, with where the run's folder is
            store.describe({**marker, "run_dir": str(run_dir.resolve()), "host": socket.gethostname()})
    except Exception:
        # bad input found before anything was trained: a half-made folder would only block the corrected rerun (a
        # folder being resumed is the earlier run's, and stays as it was)
        if earlier is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if earlier is not None:
        # regenerated below, as the first attempt made them (the baseline's logs would otherwise be appended to)
        shutil.rmtree(run_dir / "baseline", ignore_errors=True)
    timings["load"] = time.perf_counter() - clock.started
    display = DoctorProgress(console, quiet=options.quiet, started=clock.started, deadline=clock.deadline)
    # the best-ranked holdout training's model, as the search trained it: shipped when no refit of it fits the time left
    models = phases.SearchModels()
    score, selection = _scorer(base, data, options, clock, display, store, models)
    score.queue = pool.start(data, clock.search_deadline, storage)
    tested_rows = joined(data.train, data.val) if options.refit != "none" else data.train
    search: dict[str, Any] = {}
    with display:
        # baseline: no remedies, long enough to show what it does (its last weights are what the diagnosis reads)
        clock_at = time.perf_counter()
        display.phase("baseline", 1)
        baseline_deadline = clock.started + BASELINE_SHARE * options.budget if options.budget else math.inf
        baseline_train = {"max_epochs": options.epochs, "repeat": phases.schedule(
            len(data.train), base.train.batch_size, options.epochs, options.min_steps)}
        baseline_recipe = {"model": baseline_network(options.model),
                           "early_stopping": {"patience": options.baseline_patience, "restore_best": False}}
        baseline, baseline_run, baseline_history = train_recipe(
            base, baseline_recipe, data, name="baseline", phase="baseline", out=run_dir / "baseline",
            callbacks=(phases.StopAtDeadline(lambda: baseline_deadline, min_epochs=3), display.ticker),
            **baseline_train)
        baseline_history.save(run_dir / "baseline_history.json")
        baseline.history = baseline_history
        display.tick()
        timings["baseline"] = time.perf_counter() - clock_at

        clock_at = time.perf_counter()
        display.phase("diagnosis", 2)
        diagnosis = diagnose(baseline_history, baseline_run.model, data, baseline.parameters)
        plan = plan_for(diagnosis["kind"], class_counts=class_counts(data.train.y, data.num_classes)
                        if data.task == "classification" else None,
                        recommended=[r["remedy"] for r in diagnosis["recommendations"]],
                        confirm=options.confirm if score.folds and options.keep == "best" else 0)
        display.tick()
        # the baseline as it will be tested: afresh on the tested rows for the epochs validation chose for it
        baseline_epochs = refit_epochs(baseline_history, base.early_stopping.monitor)
        tested_at = time.perf_counter()
        baseline_tested, baseline_tested_history = refit_recipe(
            base, baseline_recipe, data, rows=tested_rows, epochs=baseline_epochs,
            callbacks=(phases.StopAtDeadline(lambda: clock.deadline),), **baseline_train)
        baseline_tested_seconds = time.perf_counter() - tested_at
        display.tick()
        bias_variance = _bias_variance(options, data, base, baseline, baseline_run, baseline_history, clock)
        timings["diagnosis"] = time.perf_counter() - clock_at

        references: list[dict[str, Any]] = []
        if options.references:
            clock_at = time.perf_counter()
            display.phase("reference models", None)
            from fitguard.doctor.references import reference_models

            deadline = clock_at + REFERENCE_SHARE * options.budget if options.budget else None
            references = reference_models(data.task, score.folds, data.train, data.val, data.test, deadline=deadline,
                                          seed=options.seed, target_decode=data.preprocessor.decode_target,
                                          features=lambda X: data.preprocessor.expand(X)[0])
            display.tick()
            timings["references"] = time.perf_counter() - clock_at

        clock.search_started = time.perf_counter()
        search = _search(plan, options, score, clock, display, data, storage, timings, models)
        scored = _scored(search)
        # the baseline's recipe, with the epoch count its validation chose (and that epoch's score): kept when the
        # budget cut every search training short and, on a validation split, none scored above it (see
        # phases.kept_trial); the best over both fold splits when finalists were confirmed
        confirmed = [phases.pooled(first, again) for first, again in search.get("confirm", [])]
        chose = len(confirmed) >= 2  # one finalist alone leaves nothing to choose
        at_epochs = phases.score_at(baseline, baseline_epochs)
        best = max(confirmed, key=phases.rank) if chose else phases.kept_trial(
            scored, options.keep, lambda: dataclasses.replace(
                at_epochs, name=BASELINE_KEPT, recipe={"model": baseline_recipe["model"]},
                details={**at_epochs.details, "best_epoch": baseline_epochs}),
            against=not score.folds)
        if not chose and best.name != BASELINE_KEPT and all(phases.cut_by_deadline(t) for t in scored):
            selection["kept"] = ("best validation score: the deadline cut every search training, and the best scored "
                                 "above the baseline on validation")
        if "confirm" in search and not chose:
            selection["kept"] = "best validation score"  # no finalists to choose among: the search's best is kept
        if phases.unscored(best):
            selection["kept"] = "the complete recipe, trained once without a score (no comparison fitted the budget)"
        final_train = dict(baseline_train if best.name == BASELINE_KEPT else score.train)

        clock_at = time.perf_counter()
        display.phase("final training", 2 if refits_on_test(options) else 1)
        epochs = phases.chosen_epochs(best)
        # a recipe trained once has no search models of its own to measure the mirror views: a probe measures them
        # after its final training, in the time that training left (the plan's reserve for it is a forecast)
        probe = phases.unscored(best) and data.kind == "image"
        # flip test-time augmentation, when validation measured it better (a recipe trained once: decided below)
        mirror = not probe and phases.mirror_helps(best)
        hard = (phases.StopAtDeadline(lambda: clock.deadline),)
        every_row = joined(tested_rows, data.test) if refits_on_test(options) else None
        # each member's and the tested baseline's evaluations: the test split and their training rows, costed by
        # what a row's forward pass cost them in the search (the baseline's in its diagnosis run)
        evaluated = len(tested_rows) + len(data.test)
        evaluation = best.details.get("forward_row", 0.0) * evaluated * (2 if mirror or probe else 1)
        after = baseline.details.get("forward_row", 0.0) * evaluated
        # the baseline's recipe kept: its tested model is member 0, trained on the same rows for the same epochs
        # with the same seed (a tiny budget: trained again, it would start past the deadline and be cut to nothing)
        reuse = (best.name == BASELINE_KEPT and epochs == baseline_epochs
                 and not _cut(baseline_tested_history))
        # the network the kept recipe's validation rows could not tell from it: the ensemble's last member, if it fits
        tied = phases.tie_partner(score, best, search.get("architecture", [])) if options.ensemble > 1 else None
        # whether the deadline cut it (and in the refit on every row), whether a seed of the recipe took its place
        partner_said: dict[str, bool] = {}
        partner_recipe = None
        if tied is not None:
            shipped_recipe, _ = phases.as_shipped(tied)
            partner_recipe = (shipped_recipe, phases.chosen_epochs(tied))
        refit_at = time.perf_counter()
        # the model validation scored, as the search trained it, where no refit of the kept recipe fits the time left
        searched = None if reuse else _searched_instead(models, best, score, clock, tested_rows, evaluation, after)
        cut_refit: int | None = None  # the epochs of a refit the deadline cut, when the held model took its place
        if searched is not None:
            trained_run, kept_history, refit_forecast, refit_left = searched
            kept, seeds = as_tested(trained_run, data.task, mirror=mirror), [options.seed]
        else:
            kept, kept_history, seeds = refit_members(
                score.base, best.recipe, data, rows=tested_rows, epochs=epochs, callbacks=hard, out=run_dir,
                # the partner takes the last of --ensemble's places when it fits
                members=lambda first, _: min(_members_that_fit(options, clock, first, evaluation, after, tested_rows,
                                                               every_row), options.ensemble - (tied is not None)),
                seed=options.seed, mirror=mirror,
                trained=(baseline_tested, baseline_tested_history, baseline_tested_seconds) if reuse else None,
                partner=partner_recipe,
                partner_fits=None if tied is None else lambda first, members: _partner_fits(
                    clock, first * phases.training_cost(score, tied) / max(1e-9, phases.training_cost(score, best)),
                    first, members, evaluation, after, tested_rows, every_row),
                partner_kept=lambda history: not partner_said.setdefault("cut", _cut(history)),
                # a partner that did not join leaves its place to the recipe's next seed, when that fits
                seed_instead=lambda first, members: partner_said.setdefault("seed_instead", _partner_fits(
                    clock, first, first, members, evaluation, after, tested_rows, every_row)),
                **final_train)
            held = None if reuse or not _cut(kept_history) else models.run_of(best)
            if held is not None and best.history is not None:  # a refit the forecast admitted, cut after all
                cut_refit, kept_history = len(kept_history), best.history
                kept, seeds = as_tested(held, data.task, mirror=mirror), [options.seed]
                searched = (held, best.history, 0.0, 0.0)
        partnered = kept.member_models is not None
        # what training the kept model took (member 0 counted at its own seconds where it is the tested baseline)
        trained = time.perf_counter() - refit_at + (baseline_tested_seconds if reuse else 0.0)
        if reuse or searched is not None:  # no training here wrote logs in the run folder: the tested one's are them
            write_logs(run_dir, kept_history, tensorboard=score.base.tensorboard)
        if probe:
            # what is left once every network's evaluations (both views), the baseline's and the report are kept
            # back, and the refit on every row where it fits
            networks = len(members_of(kept.final_model()))  # the members, a snapshot ensemble's snapshots counted
            left = clock.deadline - time.perf_counter() - REPORT_SECONDS - networks * evaluation - after
            refit_all = RESERVE_FACTOR * trained * _every_row_share(tested_rows, every_row)
            if left - refit_all >= phases.PROBE_MIN_SECONDS:
                left -= refit_all
            if left > 0:  # the views' evaluations fit: a probe measures them, or the baseline's model
                best.details["mirror"], why = phases.mirror_probe(score, left,
                                                                  on_start=lambda: display.candidate("mirror probe"))
                if best.details["mirror"] is None:
                    found, _ = phases.measured_mirror(baseline_run, data, score.metric, "baseline")
                    best.details["mirror"] = {**found, "probe_skipped": why} if found else None
                if mirror := phases.mirror_helps(best):
                    kept = mirrored(kept, data.task)
        display.tick()
        # the rows the tested model trained on, and how (a refit the deadline cut says so)
        tested_on = data.train if searched is not None else tested_rows
        how = (f"the search's own training on the training split ({len(tested_on)} rows), "
               + (f"restored to epoch {best.details['best_epoch']} as validation chose"
                  if best.details.get("best_epoch") else f"its {best.epochs} epochs")
               + (": no refit fitted the time left" if cut_refit is None else ": the deadline cut the refit")
               if searched is not None else
               f"trained afresh on {len(tested_on)} rows, cut by the run's deadline at epoch {len(kept_history)} of "
               f"{epochs}" if _cut(kept_history) else f"trained afresh on {len(tested_on)} rows for {epochs} epochs")
        # the only time the test split is looked at: one forward pass of each model
        outputs = {name: run.trainer.predict(data.test.X, batch_size=PREDICT_ROWS)
                   for name, run in (("baseline", baseline_tested), ("best", kept))}
        test = evidence.test_section(data, baseline_tested.trainer, kept.trainer, references, seed=options.seed,
                                     outputs=outputs)
        np.savez_compressed(run_dir / "test_predictions.npz", **test.pop("arrays"))
        shipped, shipped_history, shipped_note = kept, kept_history, _shipped_note(options)
        shipped_rows, shipped_members = len(tested_on), len(seeds)
        if searched is not None:
            shipped_note = "the model that was tested: the search's own training on the training split" + (
                f"; a refit on {len(tested_rows)} rows was cut by the run's deadline at epoch {cut_refit} of {epochs}, "
                "a network no validation chose" if cut_refit is not None else
                f"; a refit on {len(tested_rows)} rows would take about "
                f"{refit_forecast:.{1 if refit_forecast < 10 else 0}f} s (x {RESERVE_FACTOR:g} reserve) and "
                f"{'no time was' if refit_left <= 0 else f'{refit_left:.0f} s were'} left in the budget, so none was "
                "started")
            if every_row is not None:
                display.tick()  # the refit on every row's step: not taken (it would take longer still)
        elif every_row is not None:
            # what the tested refit took, scaled to every row: start it only when it fits in what is left
            needed = trained * _every_row_share(tested_rows, every_row)
            left = clock.deadline - time.perf_counter() - REPORT_SECONDS
            if clock.seconds is None or left >= RESERVE_FACTOR * needed:
                shipped, shipped_history, shipped_seeds = refit_members(
                    score.base, best.recipe, data, rows=every_row, epochs=epochs, callbacks=hard,
                    members=len(seeds) - partnered, seed=options.seed, mirror=mirror,
                    partner=partner_recipe if partnered else None,
                    partner_kept=lambda history: not partner_said.setdefault("cut_on_every_row", _cut(history)),
                    # the time the forecasts kept back and did not need: more seeds on every row, up to --ensemble
                    more=lambda longest, count: count < options.ensemble and _final_work_fits(
                        clock, 0.0, 0, 0.0, 0.0, longest, factor=MORE_FACTOR),
                    more_kept=lambda history: not _cut(history),
                    **final_train)
                shipped_rows, shipped_members = len(every_row), len(shipped_seeds)
                shipped_note += _added_note(seeds, shipped_seeds)
            else:
                shipped_note = (f"the model that was tested (train + val): the refit on every row would take about "
                                f"{needed:.{1 if needed < 10 else 0}f} s and "
                                f"{'no time was' if left <= 0 else f'{left:.0f} s were'} "
                                "left in the budget, so it was not started")
            display.tick()
        save_model(run_dir, baseline_tested.model, baseline_tested.model_name, baseline_tested.model_options, data,
                   stem="baseline", architecture=baseline_tested.architecture)
        save_model(run_dir, shipped.model, shipped.model_name, shipped.model_options, data, stem="best",
                   architecture=shipped.architecture, member_models=shipped.member_models)
        (best.history or kept_history).save(run_dir / "best_history.json")
        timings["final"] = time.perf_counter() - clock_at

    if data.kind == "image":
        _augmentation_samples(run_dir, data, best.recipe, options.seed)
    summary = {
        "format": "fitguard-doctor/2",
        "command": options.command(),
        "options": options.to_dict(),
        "config": base.model_dump(mode="json"),
        "seed": options.seed,
        "data": {"source": "given Dataset" if given else base.data.source, "name": data.name, "task": data.task,
                 "kind": data.kind, "input_shape": list(data.input_shape), "class_names": list(data.class_names),
                 "feature_names": list(data.feature_names) if data.feature_names else None,
                 "n_train": len(data.train), "n_val": len(data.val), "n_test": len(data.test),
                 "test_source": options.test_data or "held-out split of --data",
                 "train_fraction": base.data.train_fraction, "split_seed": base.data.seed,
                 "target_scale": _target_scale(data)},
        "metric": "accuracy" if data.task == "classification" else "loss",
        "model": {"baseline": layer_table(baseline_tested.model_name, baseline_tested.model_options,
                                          count(baseline_tested.model, data.input_shape)),
                  # one member's layers: the recipe's members share them (``best.members`` says how many; a tied
                  # network averaged in, ``best.partner``, has its own)
                  "best": layer_table(kept.model_name, kept.model_options, count(one_network(kept.model),
                                                                                 data.input_shape))},
        "baseline": {**_tested_record(baseline, baseline_tested, tested_rows, data, baseline_epochs,
                                     outputs["baseline"]),
                     "diagnosis_run": {"epochs": len(baseline_history), "best_epoch": baseline_epochs,
                                       "stop_reason": baseline_history.stop_reason,
                                       "scores": _scores(baseline_run.trainer, data),
                                       "repeat": baseline_train["repeat"]},
                     "history": "baseline_history.json"},
        "verdict": {**diagnosis, "sentence": sentence(diagnosis)},
        "plan": {**plan.to_dict(), "outcomes": outcomes(diagnosis, search, data, baseline,
                                                        plan.proposals(len(diagnosis["recommendations"]) + 1))},
        "bias_variance": bias_variance,
        "remedies": {
            "epsilon": options.epsilon,
            "window": search.get("window"),
            "architecture": [t.to_dict() for t in search["architecture"]],
            "chosen_architecture": search["chosen"].name,
            "train_longer": [t.to_dict() for t in search.get("train_longer", [])],
            "lambda_cv": search["lambda_cv"],
            "ablation": [t.to_dict() for t in search["ablation"]],
            "learning_curve": search.get("learning_curve"),
            "study": {"storage": f"{storage.shown} ({storage.study})" if storage.shared else STORAGE_FILE,
                      "trials": [t.to_dict() for t in search["study"]]},
            "confirm": _confirmation(confirmed, best if chose else None, options, score) if "confirm" in search
            else None,
            "tie": _tie(search["architecture"], score),
            "one_fold": _one_fold(search["architecture"]),
            "unscored": _unscored(search["architecture"], options),
            "settled": search.get("settled"),
            "trainings": clock.used,
            # scored recipes (a cross-validated one is one per fold's training) in study.db, and how many of them a
            # resumed run read back instead of training them again
            "stored": len(store),
            "replayed": store.replayed,
            "selection": selection,
        },
        "references": references,
        "best": {**_tested_record(best, kept, tested_on, data, epochs, outputs["best"], how), "name": best.name,
                 "recipe": best.recipe,
                 "search_val_score": best.val_score,
                 "search_val_score_note": "none: the budget trained this recipe once, without a score"
                 if phases.unscored(best) else
                 "optimistic: this score chose the recipe among all that were tried" + (
                     "; the mean over the search's folds and a second split's, which chose among the finalists"
                     if chose else ""),
                 "config": kept.config.model_dump(mode="json"), "history": "best_history.json",
                 "model_file": "best.safetensors",
                 "members": len(seeds), "member_seeds": seeds,
                 "partner": None if tied is None else {
                     "name": tied.name, "epochs": phases.chosen_epochs(tied), "parameters": tied.parameters,
                     "seed": seeds[-1] if partnered else None, "used": partnered,
                     "why_not": None if partnered else _partner_why_not(partner_said),
                     "note": _partner_note(partnered, partner_said)},
                 "mirror": {**best.details["mirror"], "used": mirror} if best.details.get("mirror") else None,
                 "tested": "search" if searched is not None else "refit",
                 "shipped": {"refit": options.refit, "rows": shipped_rows, "members": shipped_members,
                             "epochs": len(shipped_history),
                             "stop_reason": shipped_history.stop_reason, "note": shipped_note}},
        "test": test,
        "budget": {"seconds": options.budget, "trials": options.trials, "reserve": clock.reserve},
        "timings": timings,
        "versions": versions(kept.trainer.device),
    }
    timings["total"] = time.perf_counter() - clock.started  # the report (a second or two) comes after
    write_summary(run_dir, Summary.from_dict(strict(summary)))
    if storage.shared:
        store.finish()
    return run_dir


def _search(plan: Plan, options: DoctorOptions, score: phases.Scorer, clock: phases.Clock, display: DoctorProgress,
            data: Dataset, storage: RunStorage, timings: dict[str, float],
            models: phases.SearchModels | None = None) -> dict[str, Any]:
    """The phases ``plan`` asks for, in its order, each within its share of the search's budget; the chosen
    architecture's model is pinned in ``models`` (the ablation's reference is its training)."""
    found: dict[str, Any] = {}
    chosen: Trial | None = None
    # the second split of the labelled rows, built once and only when asked (a tie, the confirmation); its seed is
    # how workers build it too
    second = functools.cache(lambda: phases.second_split(score, data, folds=options.folds,
                                                         seed=_second_split_seed(score)))
    for step in plan.steps:
        started = time.perf_counter()
        tick = display.tick
        if step.phase == "architecture":
            labelled = len(data.train) + len(data.val)  # a built-in recipe takes more passes on few rows
            networks = candidates(options, data.kind, labelled)
            networks = by_size(networks, data, descending=True) if plan.bigger_first else networks
            display.phase("architecture", len(networks))
            optional = default_recipes(options, data.kind, labelled)
            found["architecture"], chosen = phases.architecture(score, clock, networks, epsilon=options.epsilon,
                                                                tick=tick, share=step.until, optional=optional,
                                                                second=second, named=_named(networks),
                                                                one_se=options.one_se)
            found["chosen"] = chosen
            # how far --one-se's tie reached, kept by the run rather than on the trial (its details are copied on)
            found["window"] = chosen.details.pop("window", None)
            if models is not None:
                models.pin(chosen)
            if phases.unscored(chosen):  # this phase and every later one train nothing: say why
                display.nothing_to_do("the recipe trains once, without a score, in the final training: no "
                                      "comparison fits the budget", later="the search has ended: the recipe "
                                                                          "trains once")
            if phases.single_training(chosen) and score.on_scored is not None:
                score.on_scored(chosen)  # the time kept back for the final trainings is now the recipe's
            if (why := phases.settled(phases.scored_by(score, chosen), chosen)) is not None:
                found["settled"] = why
        elif step.phase == "train_longer":
            display.phase("train longer", 1)
            _nothing_searched(display, found)
            found["train_longer"] = phases.train_longer(score, clock, chosen, share=step.until, tick=tick,
                                                        why_not=found.get("settled"))
        elif step.phase == "lambda_cv":
            display.phase("λ cross-validation" if options.lambda_cv or score.folds else "λ on the validation split",
                          len(plan.lambdas))
            found["lambda_cv"] = phases.lambda_cv(score, clock, chosen.recipe, folds=options.folds, tick=tick,
                                                  share=step.until, lambdas=plan.lambdas, split=not options.lambda_cv)
            if "skipped" in found["lambda_cv"]:
                _nothing_searched(display, found, "a complete recipe's weight decay is its L2 strength")
        elif step.phase == "ablation":
            lam = found["lambda_cv"]["best_lam"]
            singles = phases.remedies_for(data, chosen.recipe, lam, plan.remedies)
            display.phase("ablation", len(singles) + 1)
            _nothing_searched(display, found)
            found["ablation"] = phases.ablation(score, clock, chosen, chosen.recipe, lam, tick=tick,
                                                share=step.until, allowed=plan.remedies,
                                                why_not=found.get("settled"))
        elif step.phase == "learning_curve":
            display.phase("learning curve", 4)
            found["learning_curve"] = learning_curve_phase(score, clock, chosen, share=step.until, tick=tick)
        elif step.phase in ("confirm", "study") and "settled" in found:
            found[step.phase] = []  # nothing to choose among: the recipe is kept as given
        elif step.phase == "confirm":
            display.phase("confirm", options.confirm)
            fresh = second()
            found["confirm"] = [] if fresh is None else phases.confirm(
                fresh, clock, _scored(found), finalists=options.confirm, share=step.until, tick=tick)
        elif step.phase == "study":
            ranked = [t for t in (*found["ablation"], *found.get("train_longer", [])) if t.status == "done"]
            leader = max(ranked, key=phases.rank)  # first (fewest remedies) on ties
            display.phase("study", options.trials and max(0, (options.trials - clock.used) // score.trainings))
            found["study"] = phases.study(score, clock, leader, storage.url, seed=options.seed, tick=tick,
                                          dropout=plan.study_dropout, lam_range=plan.study_lambda,
                                          name=storage.study, share=step.until)
        timings[step.phase] = time.perf_counter() - started
    return found


#: the progress line of a remedy phase that trains nothing because the recipe is kept as given (:func:`phases.settled`)
SETTLED_LINE = "the complete recipe is kept as given: no remedy is searched on it"


def _nothing_searched(display: DoctorProgress, found: dict[str, Any], otherwise: str = "") -> None:
    """Tell the progress display why the remedy phase in progress trains nothing, where it is not the budget: the
    recipe is kept as given (``found["settled"]``; a recipe trained once has said so already), else ``otherwise``
    when given."""
    chosen = found.get("chosen")
    if chosen is not None and phases.unscored(chosen):
        return
    if "settled" in found or otherwise:
        display.nothing_to_do(SETTLED_LINE if "settled" in found else otherwise)


def _scored(search: dict[str, Any]) -> list[Trial]:
    """The search's scored recipes that may be kept: the ablation's, the longer training's and the study's."""
    return [t for phase in ("ablation", "train_longer", "study") for t in search.get(phase, []) if t.status == "done"]


def _second_split_seed(score: phases.Scorer) -> int:
    """The seed of the confirmation's second fold split: the run's data seed + 1."""
    return score.base.data.seed + 1


def _confirmation(confirmed: list[Trial], kept: Trial | None, options: DoctorOptions,
                  score: phases.Scorer) -> dict[str, Any]:
    """The summary's record of the confirmation: each finalist's search score, its score on the second fold split
    and their mean over both (which ranked them), and which was kept (None: the finalists left nothing to choose)."""
    return {"finalists": [{"name": t.name, "phase": t.phase, **t.details["confirm"], "score": t.val_score}
                          for t in confirmed],
            "folds": options.folds, "fold_seed": _second_split_seed(score),
            "kept": kept.name if kept is not None else None,
            "note": "scored again on a second split of the same rows into folds; kept by the mean over both splits"
                    if kept is not None else "fewer than two finalists fitted the budget: the search's best is kept"}


def _tie(trials: list[Trial], score: phases.Scorer) -> dict[str, Any] | None:
    """The summary's record of a tie the architecture phase settled on a second split (:func:`phases.settle_tie`);
    None when it settled none."""
    # the fixed schedule first, as the summary's Tie says (a --recipe file may be scored after a network)
    tied = sorted((t for t in trials if "tie" in t.details), key=lambda t: not phases.fixed_schedule(t.recipe))
    if not tied:
        return None
    return {"finalists": [{"name": t.name, **t.details["tie"]} for t in tied],
            "split": None if tied[0].details["tie"]["fresh_score"] is None else "k-fold" if score.folds else "holdout",
            "fold_seed": _second_split_seed(score),
            "kept": next(t.name for t in tied if t.details["tie"]["kept"])}


def _one_fold(trials: list[Trial]) -> dict[str, Any] | None:
    """The summary's record of a recipe the architecture phase scored on the first fold alone
    (:func:`phases.optional_recipe`), and what every network scored on that fold; None when there was none."""
    recipe = next((t for t in trials if "one_fold" in t.details), None)
    if recipe is None:
        return None
    scope = recipe.details["one_fold"]
    return {"recipe": recipe.name, "folds": scope["folds"], "training_rows": scope["training_rows"],
            "validation_rows": scope["validation_rows"], "forecast_seconds": recipe.details["forecast_seconds"],
            "compared": [{"name": t.name, "first_fold": t.details["first_fold"]["val_score"], "all_folds": t.val_score}
                         for t in trials if t is not recipe and "first_fold" in t.details]}


def _unscored(trials: list[Trial], options: DoctorOptions) -> dict[str, Any] | None:
    """The summary's record of a recipe the budget trained once, unscored (:func:`phases.trained_once`); None when
    there was none."""
    recipe = next((t for t in trials if phases.unscored(t)), None)
    if recipe is None:
        return None
    once = recipe.details["unscored"]
    return {"recipe": recipe.name, "epochs": once["epochs"], "full_epochs": once["of"],
            "forecast_seconds": once["forecast_seconds"], "scored_epochs": once["scored_epochs"],
            "budget": round((options.budget or 0.0) + once["more_seconds"]) if once["epochs"] < once["of"] else None}


def _cost_source(leader: Trial, scored: list[Trial]) -> Trial:
    """The trial whose seconds per training cost the final trainings of ``leader``'s recipe: the leader's own,
    unless it trained beside sibling candidates (an L2 grid as one grouped network, ``details["siblings"]``): its
    share of that training is 1.3-1.6x below what its folds cost grouped alone (``benchmarks/cv_speed.py --grid``).
    Then the latest training of the same recipe without siblings costs it (the ablation's "L2 λ=..."), else that of
    the same recipe without its penalties (the architecture phase's network, which the grid comes from: a penalty
    term costs next to nothing), else the leader's own. Not any trial of the same network: the ablation's
    adversarial examples or augmentation cost more a step."""
    if "siblings" not in leader.details:
        return leader
    alone = [t for t in reversed(scored) if "siblings" not in t.details and t.status == "done" and t.epochs]
    unpenalized = _without_penalties(leader.recipe)
    return next((t for t in alone if t.recipe == leader.recipe), None) or next(
        (t for t in alone if _without_penalties(t.recipe) == unpenalized and not _penalties(t.recipe)), leader)


def _penalties(recipe: dict[str, Any]) -> list[Any]:
    return list((recipe.get("remedies") or {}).get("penalties") or [])


def _without_penalties(recipe: dict[str, Any]) -> dict[str, Any]:
    """``recipe`` with no ``remedies.penalties`` (and no ``remedies`` section left empty by that)."""
    remedies = {k: v for k, v in (recipe.get("remedies") or {}).items() if k != "penalties"}
    return {**{k: v for k, v in recipe.items() if k != "remedies"}, **({"remedies": remedies} if remedies else {})}


def search_folds(base: TrainConfig, data: Dataset, options: DoctorOptions
                 ) -> tuple[list[tuple[TensorData, TensorData]] | None, int, int]:
    """How the search splits and repeats the labelled rows: its folds (k-fold over train + val when those are at most
    ``cv_max_rows``; None: the validation split scores), the rows of its smallest training set, and the passes over
    them an epoch (``repeat``) that let ``search_epochs`` epochs take ``min_steps`` steps. The kept recipe's final
    trainings take the same passes an epoch.

    Args:
        base: the run's base spec (its batch size and split seed).
        data: the dataset.
        options: the run's options.
    """
    labelled = len(data.train) + len(data.val)
    folds = list(kfold(data, k=options.folds, seed=base.data.seed)) if labelled <= options.cv_max_rows else None
    rows = min(len(train) for train, _ in folds) if folds else len(data.train)
    return folds, rows, phases.schedule(rows, base.train.batch_size, options.search_epochs, options.min_steps)


def _scorer(base: TrainConfig, data: Dataset, options: DoctorOptions, clock: phases.Clock,
            display: DoctorProgress, store: TrialStore | None = None,
            models: phases.SearchModels | None = None) -> tuple[phases.Scorer, dict[str, Any]]:
    """How the search scores recipes: cross-validated when the labelled rows are at most ``cv_max_rows``, each
    epoch repeating the (fold's) training rows until ``search_epochs`` epochs can take ``min_steps`` steps. Each
    scored trial updates the time the clock keeps back for the final trainings and their evaluations; each holdout
    training is offered to ``models`` (None: none kept)."""
    labelled = len(data.train) + len(data.val)
    folds, rows, repeat = search_folds(base, data, options)
    tested = labelled if options.refit != "none" else len(data.train)
    scored: list[Trial] = []

    def learn_cost(trial: Trial) -> None:
        # the final trainings cost what the best recipe's trainings cost per row and epoch, on their rows
        scored.append(trial)
        # the best so far; a recipe kept on one training's score, once chosen (one fold's score does not rank with k
        # folds'; a recipe the noise kept may rank below a network; either is the final training's recipe from then on)
        leader = next((t for t in scored if phases.single_training(t) and t.details.get("chosen")), None) or max(
            (t for t in scored if t.status == "done" and t.epochs), key=phases.rank, default=None)
        if leader is None:
            return
        display.best = (f"{leader.val_score:.3f}" if data.task == "classification"
                        else f"val loss {-leader.val_score:.4g}")
        if clock.seconds is None:
            return
        timed = _cost_source(leader, scored)
        per_epoch_row = (timed.seconds / max(1, phases.scored_by(score, timed).trainings) / max(1, timed.epochs)
                         / max(1, rows))
        tested_cost = per_epoch_row * phases.chosen_epochs(leader) * tested
        # each member's evaluations: the test split, and its training rows once more (the gap), costed by what a
        # row's forward pass cost it in the search: measured, not derived from training, because their ratio is
        # 0.03 for a small MLP and above 1 for a CNN on 32x32 colour images (large activations per row)
        evaluation = leader.details.get("forward_row", 0.0) * (tested + len(data.test))
        every_cost = (per_epoch_row * phases.chosen_epochs(leader) * (tested + len(data.test))
                      if refits_on_test(options) else 0)
        # the refit on every row is kept in reserve only while it is a modest share of the budget (a test split
        # many times the labelled rows would starve the search); the final phase starts it only when it fits
        if RESERVE_FACTOR * (tested_cost + every_cost) > REFIT_ALL_SHARE * clock.seconds:
            every_cost = 0
        # the ensemble's further members are kept in reserve up to ENSEMBLE_SHARE of the budget
        # the trainings' estimate carries RESERVE_FACTOR (their epochs and speed vary); the forward passes were
        # measured on this network and vary little
        member = RESERVE_FACTOR * (tested_cost + every_cost) + evaluation
        members = min(options.ensemble, 1 + int(ENSEMBLE_SHARE * clock.seconds / member)) if member > 0 else 1
        # and the tested baseline's evaluations (costed like a member's)
        clock.reserve = member * members + evaluation + REPORT_SECONDS

    score = phases.Scorer(base, data, folds, {"max_epochs": options.search_epochs, "repeat": repeat},
                          callbacks=(phases.StopAtDeadline(clock.search_deadline), display.ticker), progress=display,
                          on_scored=learn_cost, grouped=options.grouped_folds, deadline=clock.search_deadline,
                          deadline_reason=phases.DEADLINE_STOP, store=store,
                          on_trained=models.offer if models is not None else None)
    rule = ("fewest remedies within one standard error of the best" if folds and options.keep == "simplest"
            else f"best mean validation score over two fold splits among the {options.confirm} best recipes"
            if folds and options.confirm else "best validation score")
    return score, {**score.method, "labelled_rows": labelled, "max_epochs": options.search_epochs,
                   "patience": options.patience, "repeat": repeat, "min_steps": options.min_steps, "kept": rule,
                   "monitor": base.early_stopping.monitor}


def _bias_variance(options: DoctorOptions, data: Dataset, base: TrainConfig, baseline: Trial, run: Any,
                   history: Any, clock: phases.Clock) -> dict[str, Any] | None:
    """The baseline architecture's bias and variance over ``options.rounds`` bootstrap models, unless that would
    take more than a tenth of the time budget (estimated from the baseline's own epochs)."""
    if not options.rounds:
        return None
    epochs = max(2, min(30, baseline.details["best_epoch"] or len(history)))
    per_epoch = baseline.seconds / max(1, len(history))
    if options.budget is not None and options.rounds * epochs * per_epoch > 0.1 * options.budget:
        return {"skipped": f"estimated {options.rounds * epochs * per_epoch:.0f} s, more than a tenth of the budget"}
    return ensemble_decomposition(data, run.model_name, run.model_options, rounds=options.rounds, epochs=epochs,
                                  lr=base.train.lr, batch_size=base.train.batch_size, seed=options.seed,
                                  device=run.trainer.device)


def _target_scale(data: Dataset) -> dict[str, Any] | None:
    """A standardized regression target's training mean and std, and what they mean for the summary's units."""
    pre = data.preprocessor
    if data.task != "regression" or not pre.target_mean:
        return None
    return {"mean": list(pre.target_mean), "std": list(pre.target_std),
            "note": "the networks train on (target - mean) / std: losses, gaps and validation scores are in those "
                    "units (MSE times std² for the target's); test figures and predictions are in the target's own"}


def _scores(trainer: Any, data: Dataset) -> dict[str, dict[str, float]]:
    return {"train": trainer.evaluate(data.train), "val": trainer.evaluate(data.val)}


def _tested_record(trial: Trial, run: Any, rows: TensorData, data: Dataset, epochs: int,
                   outputs: torch.Tensor, how: str | None = None) -> dict[str, Any]:
    """A tested model's record: its training rows' and test scores (from ``outputs``, its raw outputs for the test
    rows: the test split is run through a model once), and the gap between them (measured the same way for the
    baseline and the kept model, in the units the networks train in); ``how`` it was trained (None: afresh on
    ``rows`` for ``epochs`` epochs)."""
    trained = run.trainer.evaluate(rows)
    tested = run.trainer.score_outputs(outputs, data.test.y)
    metric, mode = resolve_metric("auto", data.task)
    gap = gap_of(trained[metric[len("val_"):]], tested[metric[len("val_"):]], mode)
    return {"val_score": trial.val_score, "gap": gap,
            "gap_note": "training rows - test, on the model that was tested ("
                        f"{how or f'trained afresh on {len(rows)} rows for {epochs} epochs'})",
            "parameters": trial.parameters, "epochs": epochs, "best_epoch": trial.details.get("best_epoch"),
            "search_epochs": trial.epochs,
            "stop_reason": trial.details.get("stop_reason"), "scores": {"train": trained, "test": tested},
            "seconds": trial.seconds}


def _searched_instead(models: phases.SearchModels, best: Trial, score: phases.Scorer, clock: phases.Clock,
                      rows: TensorData, evaluation: float,
                      after: float) -> tuple[Any, History, float, float] | None:
    """The search's own trained model of ``best``, its History, the refit's forecast seconds and the seconds left for
    it, when the final phase tests and ships it instead of a refit: it is held
    (:class:`~fitguard.doctor.phases.SearchModels`), the run has a time budget, and one refit on ``rows`` for the
    epochs validation chose -- forecast from the search's training of it, its seconds an epoch scaled by the rows
    (:func:`~fitguard.doctor.phases.training_cost`) -- would not end by the deadline with the evaluations and the
    report (:func:`_final_work_fits`, with its reserve factor, as every final training is planned). A refit the
    deadline cuts is a network no validation chose: MNIST-1D at 60 s (session 34), the kept CNN's refit on train +
    val was cut at 19 of its 75 epochs and tested at 0.923-0.945, where the search's model of it scored 0.974 on
    validation. None: refit as usual (and where the deadline cuts that refit after all, the final phase tests the
    held model instead, :func:`_run`)."""
    run = models.run_of(best)
    if run is None or best.history is None or clock.seconds is None:
        return None
    refit = phases.training_cost(score, best) * len(rows) / max(1, score.rows)
    left = clock.deadline - time.perf_counter() - REPORT_SECONDS - evaluation - after
    return None if _final_work_fits(clock, refit, 1, evaluation, after) else (run, best.history, refit, left)


def _final_work_fits(clock: phases.Clock, trainings: float, networks: int, evaluation: float, after: float,
                     every_row: float = 0.0, *, factor: float = RESERVE_FACTOR) -> bool:
    """Whether the final phase's work still to do ends before the run's deadline with :data:`REPORT_SECONDS` to
    spare: ``trainings`` seconds of training on the tested rows and ``every_row`` seconds of the refit on every row
    (forecasts, times ``factor``, by default :data:`RESERVE_FACTOR`: their epochs and speed vary; a seed added after
    the refit is costed from its siblings measured, :data:`MORE_FACTOR`), ``networks`` networks' ``evaluation``
    each (the seconds of its forward passes over the test split and its training rows, measured on these networks
    in the search: no factor) and the tested baseline's (``after``). Without a time budget everything fits.

    Example:
        >>> clock = phases.Clock(seconds=100.0, trials=None)  # 100 s left, 97 once the report is kept back
        >>> _final_work_fits(clock, 60.0, 2, 1.0, 1.0), _final_work_fits(clock, 60.0, 2, 1.0, 1.0, every_row=15.0)
        (True, False)
        >>> clock = phases.Clock(seconds=30.0, trials=None)  # one more seed after the refit: its siblings x 1.15
        >>> [_final_work_fits(clock, 0.0, 0, 0.0, 0.0, s, factor=MORE_FACTOR) for s in (20.0, 25.0)]
        [True, False]
    """
    if clock.seconds is None:
        return True
    left = clock.deadline - time.perf_counter() - REPORT_SECONDS
    return factor * (trainings + every_row) + networks * evaluation + after <= left


#: one more seed of the recipe on every row trains when this times the longest such training before it fits the time
#: left: a member's seconds over the longest before it, in 297 trainings of the kept recipes of 60 s runs
#: (``benchmarks/reference/members_every_row_cpu.json``, ``members_or_rows_cpu.json``,
#: ``members_or_rows_images_cpu.json``), had median 0.97 and 95th percentile 1.14 (max 1.41, a 0.4 s training). Lower
#: than :data:`RESERVE_FACTOR`, which covers a forecast from another training: this is the same job measured, and a
#: seed the deadline cuts costs only time that would have been idle (it is left out; the run ends at its deadline)
MORE_FACTOR = 1.15


def _every_row_share(tested: TensorData, every_row: TensorData | None) -> float:
    """A training on every row over one on the tested rows (the rows' ratio); 0 when there is no such refit."""
    return len(every_row) / len(tested) if every_row is not None else 0.0


def _members_that_fit(options: DoctorOptions, clock: phases.Clock, first: float, evaluation: float, after: float,
                      tested: TensorData, every_row: TensorData | None) -> int:
    """How many members the kept recipe's ensemble gets, once member 0 took ``first`` seconds: the most, up to
    ``options.ensemble``, whose remaining work fits (:func:`_final_work_fits`): the other members on the tested
    rows, every member's ``evaluation``, ``after`` (the tested baseline's), and every member again on every row when
    that refit will run (it runs only when one member's refit fits, see the final phase)."""
    if clock.seconds is None:
        return options.ensemble
    every = first * _every_row_share(tested, every_row)
    if not _final_work_fits(clock, 0.0, 1, evaluation, after, every):
        every = 0.0  # the refit on every row will not run: only the tested members count
    members = 1
    while members < options.ensemble and _final_work_fits(clock, members * first, members + 1, evaluation, after,
                                                          (members + 1) * every):
        members += 1
    return members


def _cut(history: Any) -> bool:
    """Whether the run's deadline stopped a final training (``history``) before its epochs were done."""
    return str(history.stop_reason or "").startswith(phases.DEADLINE_STOP)


def _partner_why_not(said: dict[str, bool]) -> str:
    """``best.partner.why_not``: why a partner that was not averaged in was not (``said``: whether the deadline cut
    its training, ``cut``; not cut: it did not fit), and whether a seed of the recipe took its place
    (``seed_instead``)."""
    why = ("the run's deadline cut its training, so it was not averaged in" if said.get("cut") else
           "its training did not fit the time left, so it was not averaged in")
    return why + ("; one more seed of the recipe took its place" if said.get("seed_instead") else "")


def _partner_note(partnered: bool, said: dict[str, bool]) -> str:
    """``best.partner.note``: what the partner is and what became of it (``said``: as :func:`_partner_why_not`
    reads it, and whether the deadline cut its refit on every row, ``cut_on_every_row``)."""
    if not partnered:
        return f"{PARTNER_NOTE}; {_partner_why_not(said)}"
    shipped = ("; the run's deadline cut its refit on every row, so the shipped model is the tested one's members "
               "without it" if said.get("cut_on_every_row") else "")
    return f"{PARTNER_NOTE}, averaged in as the ensemble's last member{shipped}"


def _partner_fits(clock: phases.Clock, cost: float, first: float, members: int, evaluation: float, after: float,
                  tested: TensorData, every_row: TensorData | None) -> bool:
    """Whether one more network, forecast to train in ``cost`` seconds on the tested rows, fits in the time left once
    the kept recipe's ``members`` (member 0 took ``first`` seconds) have trained: its training and every network's
    ``evaluation``, the tested baseline's (``after``), and -- where the refit on every row fits without it -- that
    refit of every member and of the new one too (:func:`_final_work_fits`), so that by the forecast it does not cost
    the shipped model the rows of the test split. The new network is the one tied with the kept recipe
    (:func:`phases.tie_partner`), or a seed of the recipe in the place the partner left."""
    share = _every_row_share(tested, every_row)
    refit_all = first * members * share
    if share and _final_work_fits(clock, 0.0, members + 1, evaluation, after, refit_all):
        return _final_work_fits(clock, cost, members + 1, evaluation, after, refit_all + cost * share)
    return _final_work_fits(clock, cost, members + 1, evaluation, after)


def one_network(model: torch.nn.Module) -> torch.nn.Module:
    """``model``, or the first member of a :class:`~fitguard.models.ensemble.MeanEnsemble`.

    Args:
        model: a network or an ensemble.
    """
    return model.members[0] if isinstance(model, MeanEnsemble) else model


def refits_on_test(options: DoctorOptions) -> bool:
    """Whether the shipped model trains on the test rows too, after the one test evaluation: ``--refit all`` when the
    test split is part of ``--data``. An external test set (``--test-data``) is never trained on: a user who keeps
    a test set apart keeps it apart, so ``--refit all`` then ships the model trained on all of ``--data`` (train +
    val), the one that was tested.

    Args:
        options: the doctor's options.

    Example:
        >>> refits_on_test(DoctorOptions(budget=60)), refits_on_test(DoctorOptions(budget=60, test_data="t.csv"))
        (True, False)
    """
    return options.refit == "all" and options.test_data is None


def _added_note(tested: list[int], shipped: list[int]) -> str:
    """What the shipped note adds where the refit on every row trained seeds of the recipe that were not tested (the
    time left after the refit, which the final phase's forecasts had kept back); "" where it trained none.

    Example:
        >>> import textwrap
        >>> print(textwrap.fill(_added_note([0, 1000], [0, 1000, 2000]), 100))
        ; then 1 more seed of the recipe (seed 2000) trained on every row in the time left and joined it,
        untested: the shipped model averages 3 networks, the tested one 2
    """
    added = [s for s in shipped if s not in tested]
    if not added:
        return ""
    return (f"; then {len(added)} more seed{'s' if len(added) > 1 else ''} of the recipe "
            f"(seed{'s' if len(added) > 1 else ''} {', '.join(map(str, added))}) trained on every row in the time "
            f"left and joined it, untested: the shipped model averages {len(shipped)} networks, the tested one "
            f"{len(tested)}")


def _shipped_note(options: DoctorOptions) -> str:
    if refits_on_test(options):
        return ("trained on every labelled row (train + val + test) after the test evaluation; the test figure is "
                "the estimate for it, measured on the same recipe trained on train + val")
    if options.refit == "all":
        return ("the model that was tested: trained on every labelled row of --data (train + val); the external test "
                "set (--test-data) was evaluated once and never trained on")
    if options.refit == "trainval":
        return "the model that was tested: trained on train + val"
    return "the model that was tested: trained on the training split only"


def pixels(data: Dataset, images: torch.Tensor) -> torch.Tensor:
    """Standardized images (N, C, H, W) back in pixel units (0-1 for 8-bit images): the training split's per-channel
    mean and standard deviation undone; images as they are when the data were not standardized.

    Args:
        data: the dataset whose preprocessing standardized them.
        images: the model's inputs.
    """
    mean, std = data.preprocessor.mean, data.preprocessor.std
    if len(mean) != images.shape[1] or len(std) != images.shape[1]:
        return images
    shape = (1, images.shape[1], 1, 1)
    scale, shift = (torch.tensor(v, dtype=images.dtype).view(shape) for v in (std, mean))
    return images * scale + shift


def _augmentation_samples(run_dir: Path, data: Dataset, recipe: dict[str, Any], seed: int) -> None:
    from fitguard import augment

    spec = (recipe.get("remedies") or {}).get("augment") or {"rotate": 10.0, "shift": 0.1, "scale": 0.1}
    originals = data.train.X[:8].cpu()
    labels = data.train.y[:8].cpu()
    pipeline = augment.images(**spec)
    generator = torch.Generator().manual_seed(seed)
    views = [pipeline(originals.clone(), labels, generator)[0] for _ in range(3)]
    np.savez_compressed(run_dir / "augmentation_samples.npz", original=pixels(data, originals).numpy(),
                        augmented=torch.stack([pixels(data, v) for v in views], 1).numpy(),
                        labels=np.asarray([data.class_names[i] for i in labels]),
                        spec=np.asarray([repr(spec)]))


