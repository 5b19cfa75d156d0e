"""What ``fitguard doctor`` was asked to do, validated once: data, model, budget, sizes of each phase."""

from __future__ import annotations

import inspect
import json
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, Optional, get_args, get_type_hints

import yaml

from fitguard.data.encoding import parse_ordinal
from fitguard.data.missing import MISSING_CHOICES
from fitguard.durations import duration_error, parse_duration
from fitguard.errors import FitguardError
from fitguard.models.imported import check_import_path, is_import_path

FAMILIES = ("mlp", "cnn", "cnn1d")
#: which scored recipe the doctor keeps: the best-ranked, or (cross-validated) the simplest within one standard error
KEEP_RULES = ("best", "simplest")
#: what early stopping watches, and so the epoch every training restores and every refit trains for. val_loss
#: (the default) was measured against val_accuracy on refits of one recipe on doctor's folds (breast_cancer and
#: digits 10% seeds 0-2, sonar seeds 0-1): accuracy's first peak on a few dozen validation rows often comes early
#: (digits 10% seed 1: epochs 3-4 against 36-100), and those refits scored lower on 4 of 7 (by 0.2 to 1.5 points),
#: higher on 2 (both sonar) and level on 1; the loss is the smoother signal
MONITORS = ("val_loss", "val_accuracy")
#: the rows the shipped model is finally trained on: every labelled row (after the one test evaluation), train +
#: validation (the model that was tested), or none (the search's own training on the training split)
REFITS = ("all", "trainval", "none")


def parse_budget(text: str) -> float | None:
    """Seconds in a budget such as ``90``, ``90s``, ``10m`` or ``1.5h``; ``none``: no time limit (``--trials``
    then bounds the run). :func:`fitguard.durations.parse_duration` for ``--budget``.

    Args:
        text: A number of seconds, optionally with a unit suffix ``s``, ``m`` or ``h``, or ``none`` (any case).

    Raises:
        FitguardError: text that is not such a duration, or a duration that is not > 0 (see
            :func:`~fitguard.durations.parse_duration`).

    Example:
        >>> parse_budget("10m"), parse_budget("45s"), parse_budget("2"), parse_budget("none")
        (600.0, 45.0, 2.0, None)
    """
    return parse_duration(text, name="--budget", none_ok=True)


def parse_data_options(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` loader options (values read as YAML scalars: ``100`` is an int, ``true`` a bool).

    Args:
        items: the ``--data-option`` values.

    Raises:
        FitguardError: an item without ``=`` or whose key is not a name.

    Example:
        >>> parse_data_options(["limit_per_class=100", "image_size=16"])
        {'limit_per_class': 100, 'image_size': 16}
    """
    options: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key.strip().isidentifier():
            raise FitguardError(f"`--data-option` must be KEY=VALUE (e.g. limit_per_class=100), got {item!r}")
        try:
            options[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            options[key.strip()] = text
    return options


def _option(default: Any, help: str, *, flag: str | None = None, cli_type: Any = None,
            to_cli: Callable[[Any], Any] | None = None, from_cli: Callable[[Any], Any] | None = None,
            rerun: bool = True) -> Any:
    """A :class:`DoctorOptions` field and everything ``fitguard doctor`` needs to offer it (see ``cli_options``).

    Args:
        default: the default value, or a factory (``dict``) for a mutable one.
        help: the option's ``--help`` text.
        flag: the option's name on the command line when it is not the field's (``--data-option``).
        cli_type: the command line's type when it is not the field's (``--budget`` is text such as ``10m``).
        to_cli: the field's value as the command line's (``180.0`` -> ``"180s"``).
        from_cli: the command line's value as the field's (``"10m"`` -> ``600.0``).
        rerun: whether :meth:`DoctorOptions.command` repeats it (not ``--overwrite`` and ``--quiet``).
    """
    metadata = {"help": help, "flag": flag, "cli_type": cli_type, "to_cli": to_cli, "from_cli": from_cli,
                "rerun": rerun}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DoctorOptions:
    """Every knob of one doctor run; the defaults finish digits in three minutes on 2 CPU cores.

    ``budget`` is the wall time of the whole run in seconds (baseline, diagnosis, reference models, search, final
    trainings and report): a hard deadline that stops a training in flight. ``trials`` bounds the search's
    trainings instead of (or as well as) the time; one of the two must be given. ``refit`` says which rows train
    the shipped model (see :data:`REFITS`); ``test_data`` is an external test set, in which case nothing of
    ``data`` is held back for testing. ``ensemble``: the tested and shipped model is the mean of up to this many
    refits of the kept recipe, each with its own seed (fewer when the time left cannot pay for them; 1 turns it
    off). ``monitor``: what early stopping watches (see :data:`MONITORS`).

    Each field is also a ``fitguard doctor`` flag (``test_data`` is ``--test-data``); the ``--help`` text of each
    comes from the field's own ``help``. Invalid values raise :class:`~fitguard.errors.FitguardError` naming the
    flag.

    Args:
        data: A built-in dataset name (default ``"digits"``) or a path to a .csv, .npz, image folder or .zip.
        target: The target column of a CSV or Parquet file; None (default): the ``config`` spec's, if any (a
            table without one is refused).
        test_data: An external test set in ``data``'s format; then nothing of ``data`` is held back for testing.
            Default None.
        config: A YAML/TOML spec of the data and training; these options override it. Default None.
        model: ``"mlp"``, ``"cnn"``, ``"cnn1d"`` or ``package.module:function`` returning an ``nn.Module``
            (called with ``input_shape=`` and ``out_features=``); None (default): chosen by the kind of data.
        data_options: Extra keyword arguments for the data loader (``--data-option KEY=VALUE``, values read as
            YAML scalars). Default empty.
        missing: Missing table cells: ``"impute"`` (default; training rows' median or most frequent category
            plus a missing-indicator column) or ``"error"``.
        embed: Give a table column with more than 20 categories a learned embedding (False: its 19 most
            frequent categories keep a one-hot column, the rest share one). Default True.
        ordinal: Ordered table columns as ``"NAME=LOWEST,...,HIGHEST"`` strings: encoded as one number, the
            category's position. Default none.
        backbone: A pretrained backbone (a name, a fitguard run folder or a weights file) that competes as one
            more architecture. Default None.
        recipe: Complete recipes scored first among the architectures (after the backbone), then regularized like
            any kept network: names of :data:`fitguard.doctor.phases.RECIPES` (``vgg``) or YAML/TOML files of
            recipe sections with a ``model`` (:func:`fitguard.doctor.phases.load_recipe`). One that sets
            ``train.max_epochs`` keeps its own schedule, optimizer and batch size in every phase; it is not
            cross-validated over λ (its weight decay is its L2), and the study tunes its learning rate around its
            own. Default none.
        freeze_all_but: Train only the backbone's last K layer blocks, K >= 0; needs ``backbone``. Default None
            (everything trains).
        unfreeze_every: Unfreeze one more backbone block every N epochs, N >= 1; needs ``freeze_all_but``.
            Default None.
        image_size: The side a named backbone resizes images to, >= 8; needs ``backbone``. Default None (the
            backbone's own: 224 for efficientnet_lite0, where one epoch of 1,000 images takes minutes on a CPU;
            32 keeps CIFAR-sized images as they are).
        budget: Wall time of the whole run in seconds (> 0), a hard deadline; None: only ``trials`` bounds it
            (then ``trials`` is required). Default 180.
        trials: At most this many search trainings, >= 1; None (default): only ``budget`` bounds them.
        device: ``"auto"`` (default), ``"cpu"`` or ``"cuda"``.
        seed: Seed of the split, the weights and the batches. Default 0.
        epochs: Maximum epochs of the baseline, >= 1. Default 150.
        search_epochs: Maximum epochs of each search training, >= 1. Default 100.
        patience: Early-stopping patience of the search trainings, in epochs, >= 1. Default 15.
        monitor: ``"val_loss"`` (default) or ``"val_accuracy"`` (classification): what early stopping watches,
            and so the epoch every refit trains for.
        baseline_patience: Early-stopping patience of the baseline, in epochs, >= 1. Default 50.
        folds: Folds of the cross-validation (of λ, and of every candidate on small data), >= 2. Default 3.
        lambda_cv: Where the search scores on a validation split (more than ``cv_max_rows`` labelled rows),
            cross-validate the L2 strength over ``folds`` folds of train + validation; False: score each strength
            on that split, one training each. Default False (since session 37: level in accuracy at a third of the
            trainings, ``benchmarks/MEASUREMENTS.md``).
        cv_max_rows: Cross-validate every candidate when train + validation hold at most this many rows, >= 0
            (0: never). Default 600.
        min_steps: Repeat the training rows within an epoch (up to 20 times) until a training can take this
            many optimizer steps, >= 0. Default 1500.
        keep: ``"best"`` (default; the best validation score) or ``"simplest"`` (fewest remedies within one
            standard error of it, cross-validated runs).
        confirm: Cross-validated runs kept by ``"best"``: score this many of the best-ranked recipes again on a
            second fold split of the same rows (in the last tenth of the search) and keep the best by the mean over
            both splits, 0 or >= 2. Default 3. (The search's best score is the largest of many noisy ones.)
        epsilon: The architecture phase keeps, of the networks whose validation score is within this much of the
            best (in the score's units, e.g. 0.005 accuracy), the one with the lowest validation loss, then the
            fewest parameters (regression, scored by the loss: the fewest parameters), in [0, 1). Default 0.005.
        one_se: On a table scored by accuracy, the architecture phase's tie reaches at least one standard error of
            the best validation accuracy, not ``epsilon`` alone (:func:`fitguard.doctor.phases.tie_window`).
            Default True (since session 35: ``benchmarks/MEASUREMENTS.md``).
        rounds: Bootstrap models for the bias-variance estimate: 0 skips it, else >= 2. Default 5.
        train_fraction: Keep this fraction of the training split, in (0, 1] (learning-curve experiments).
            Default 1.
        refit: Rows the shipped model trains on, for the epochs validation chose: ``"all"`` (default; train,
            validation and test, after the one test evaluation; with ``test_data``, train and validation: an external
            test set is never trained on), ``"trainval"`` (the model that was tested) or ``"none"``.
        ensemble: Ship the mean of up to this many refits of the kept recipe, each with its own seed, >= 1 (1: a
            single network; fewer when the budget left cannot pay for them); where a network tied with a kept
            complete recipe on too few validation rows to tell them apart, it takes the last place
            (:func:`fitguard.doctor.phases.tie_partner`). Default 5.
        references: Cross-validate scikit-learn reference models (logistic regression, RBF SVC, gradient
            boosting) on the same rows. Default True.
        grouped_folds: Train a candidate's k folds as one grouped network where the result is the same (built-in
            MLPs, CNNs on small images, no augmentation...: :func:`fitguard.search.evaluate.grouped_run`): 1.2-1.7x
            faster on small data; and the L2 grid's strengths side by side in one grouped network
            (:meth:`fitguard.search.evaluate.Evaluator.evaluate_candidates`; a further 1.3-2.0x on small
            networks). Default True.
        out: The run folder to write. Default ``"runs/doctor"``.
        overwrite: Replace an existing run folder (not with ``resume``). Default False.
        resume: Continue a killed run in ``out`` with the same options, reading finished search trainings back
            from its ``study.db`` (not with ``overwrite``). Default False.
        quiet: No progress display or table. Default False.
        storage: A database URL (``postgresql+psycopg://user@host/db`` or ``sqlite:///path``), or the address
            ``grpc://HOST:PORT`` of Optuna's gRPC storage proxy in front of one, that holds the run's trials and fold
            queue, under a run id, instead of ``study.db`` in ``out``; then the run always queues its
            cross-validated folds, so that ``--join URL`` processes on other machines train them too. Run folders
            and summaries record it with its password masked. Default None.
        workers: Processes that train the cross-validated search's folds, >= 1: this one and ``workers - 1``
            ``--join`` processes it starts, each with ``1 / workers`` of the CPU threads (1, the default: this
            process alone, as before).
        join: Instead of a run of its own, train the queued folds of a running doctor run until it ends: its
            folder (its ``run.json`` gives the options and data), or its storage's URL (``URL#RUN_ID`` picks one
            of several runs there). Default None.
    """

    data: str = _option("digits", "Built-in dataset name or a .csv/.npz/image folder/.zip path.")
    target: str | None = _option(None, "Target column of a CSV file.")
    test_data: str | None = _option(
        None, "External test set (same format as --data); then nothing of --data is held back for testing.")
    config: str | None = _option(None, "YAML/TOML spec of the data and training (flags override it).")
    model: str | None = _option(
        None, "Model family mlp, cnn or cnn1d (default: by kind of data), or package.module:function returning an "
              "nn.Module, called as function(input_shape=..., out_features=...).")
    data_options: dict[str, Any] = _option(
        dict, "Loader option KEY=VALUE, repeatable, e.g. limit_per_class=100.", flag="data_option",
        cli_type=Optional[list[str]], to_cli=lambda options: [f"{k}={_scalar(v)}" for k, v in options.items()],
        from_cli=lambda items: parse_data_options(items or []))
    missing: str = _option("impute", "Missing table cells: impute (median / most frequent category of the training "
                                     "rows, plus a missing-indicator column) or error (refuse them).")
    embed: bool = _option(True, "A table column with more than 20 categories becomes a learned embedding "
                                "(--no-embed: the 19 most frequent keep a one-hot column, the rarer share one).")
    ordinal: tuple[str, ...] = _option(
        (), "An ordered table column as NAME=LOWEST,...,HIGHEST (repeatable): one number, the category's position, "
            "instead of a one-hot.", cli_type=Optional[list[str]], to_cli=list,
        from_cli=lambda items: tuple(items or ()))
    backbone: str | None = _option(
        None, "Pretrained backbone (a name, a fitguard run folder or a weights file) competing as an architecture.")
    recipe: tuple[str, ...] = _option(
        (), "A complete recipe scored first among the architectures, then regularized like them (repeatable): a "
            "name (vgg: a VGG net with SGD, one cycle over 60 epochs, label smoothing and augmentation) or a "
            "YAML/TOML file of recipe sections (model, train, early_stopping, remedies).", cli_type=Optional[list[str]],
        to_cli=list, from_cli=lambda items: tuple(items or ()))
    freeze_all_but: int | None = _option(None, "Train only the backbone's last K layer blocks.")
    unfreeze_every: int | None = _option(None, "Unfreeze one more backbone block every N epochs.")
    image_size: int | None = _option(
        None, "Side a named --backbone resizes images to (default: its own, 224 for efficientnet_lite0).")
    budget: float | None = _option(
        180.0, "Wall time of the whole run, e.g. 90s, 10m (a hard deadline); none: only --trials bounds it.",
        cli_type=str, to_cli=lambda seconds: _budget_text(seconds), from_cli=lambda text: parse_budget(text))
    trials: int | None = _option(None, "At most this many search trainings.")
    device: str = _option("auto", "auto, cpu or cuda.")
    seed: int = _option(0, "Seed of the split, the weights and the batches.")
    epochs: int = _option(150, "Maximum epochs of the baseline.")
    search_epochs: int = _option(100, "Maximum epochs of each search training.")
    patience: int = _option(15, "Early-stopping patience of the search trainings.")
    monitor: str = _option("val_loss", "What early stopping watches, and so the epoch every refit trains for: "
                                       "val_loss or val_accuracy (classification).")
    baseline_patience: int = _option(50, "Early-stopping patience of the baseline.")
    folds: int = _option(3, "Folds of the cross-validation (λ; every candidate on small data).")
    lambda_cv: bool = _option(False, "Where the search scores on a validation split (more than --cv-max-rows "
                                     "labelled rows), cross-validate λ over --folds folds; false: score λ on the "
                                     "split.")
    cv_max_rows: int = _option(600, "Cross-validate every candidate when train + val hold at most this many rows "
                                    "(0: never).")
    min_steps: int = _option(1500, "Repeat the training rows within an epoch (up to 20x) until a training can take "
                                   "this many steps.")
    keep: str = _option("best", "best: the best validation score; simplest: fewest remedies within one standard "
                                "error of it (cross-validated runs).")
    confirm: int = _option(3, "Cross-validated runs with --keep best: score this many of the best recipes again on a "
                              "second fold split and keep the best over both splits (0: keep the search's best).")
    epsilon: float = _option(0.005, "Of the networks within this much of the best validation score, keep the lowest "
                                    "validation loss (regression: the fewest parameters).")
    one_se: bool = _option(True, "On tables, widen --epsilon to one standard error of the best validation accuracy "
                                 "(the one-standard-error rule).")
    rounds: int = _option(5, "Bootstrap models for bias-variance (0 skips it).")
    train_fraction: float = _option(1.0, "Keep this fraction of the training split.")
    refit: str = _option("all", "Rows the shipped model trains on, for the epochs validation chose: all (train + val "
                                "+ test, after the one test evaluation; with --test-data train + val: an external test "
                                "set is never trained on), trainval (the model that was tested) or none.")
    ensemble: int = _option(5, "Ship the mean of up to this many refits of the kept recipe, each with its own seed (a "
                               "deep ensemble; fewer when the budget left cannot pay for them; 1: a single network). "
                               "Where a network tied with a kept complete recipe on too few validation rows to tell "
                               "them apart, it takes the last place.")
    references: bool = _option(True, "Cross-validate scikit-learn reference models (logistic regression, RBF SVC, "
                                     "gradient boosting) on the same rows.")
    grouped_folds: bool = _option(True, "Train a candidate's k folds as one grouped network where the scores are the "
                                        "same (MLPs, CNNs on small images, no augmentation), and the L2 grid's "
                                        "strengths side by side in one: faster on small data.")
    out: str = _option("runs/doctor", "Run folder to write.")
    overwrite: bool = _option(False, "Replace an existing run folder.", rerun=False)
    resume: bool = _option(False, "Continue the killed run in --out with the same options: the search trainings it "
                                  "finished are read back from its study.db, not trained again.", rerun=False)
    quiet: bool = _option(False, "No progress display or table.", rerun=False)
    # not repeated by a rerun, nor compared by --resume: which process trains a fold, and where the trials are kept,
    # do not change a result
    storage: str | None = _option(
        None, "Database URL for the run's trials and fold queue instead of study.db in --out, e.g. "
              "postgresql+psycopg://user@host/db (put the password in a PGPASSFILE, not the URL), or grpc://HOST:PORT "
              "of an Optuna gRPC storage proxy in front of one: `fitguard doctor --join URL` on other machines then "
              "trains its folds.", rerun=False)
    workers: int = _option(1, "Processes that train the cross-validated folds: this one and N-1 --join processes it "
                              "starts, each with 1/N of the CPU threads.", rerun=False)
    join: str | None = _option(None, "Train the queued folds of a running doctor run until it ends: its folder "
                                     "(started with --workers N) or its --storage URL (URL#RUN_ID picks one of "
                                     "several runs); the run's record gives the options and data (--data PATH: "
                                     "where this machine has them).", rerun=False)

    def __post_init__(self) -> None:
        if self.model is not None:
            if is_import_path(self.model):
                check_import_path(self.model)
            elif self.model not in FAMILIES:
                raise FitguardError(
                    f"`--model` must be one of {', '.join(FAMILIES)} or package.module:function, got {self.model!r}")
        if self.backbone is None:
            for name in ("freeze_all_but", "unfreeze_every", "image_size"):
                if getattr(self, name) is not None:
                    raise FitguardError(f"`--{name.replace('_', '-')}` needs `--backbone NAME|PATH`")
        if self.image_size is not None and self.image_size < 8:
            raise FitguardError(f"`--image-size` must be >= 8 pixels, got {self.image_size}")
        if self.freeze_all_but is not None and self.freeze_all_but < 0:
            raise FitguardError(f"`--freeze-all-but` must be >= 0, got {self.freeze_all_but}")
        if self.unfreeze_every is not None:
            if self.unfreeze_every < 1:
                raise FitguardError(f"`--unfreeze-every` must be >= 1, got {self.unfreeze_every}")
            if self.freeze_all_but is None:
                raise FitguardError("`--unfreeze-every` needs `--freeze-all-but K`: with nothing frozen there is "
                                    "nothing to unfreeze")
        from fitguard.doctor.phases import load_recipe  # the phases import these options

        for value in self.recipe:
            load_recipe(value)
        if self.missing not in MISSING_CHOICES:
            raise FitguardError(f"`--missing` must be one of {', '.join(MISSING_CHOICES)}, got {self.missing!r}")
        try:
            parse_ordinal(self.ordinal)
        except ValueError as error:
            raise FitguardError(f"`--ordinal`: {error}") from None
        if self.resume and self.overwrite:
            raise FitguardError("give `--resume` (continue the run in --out) or `--overwrite` (start it again), "
                                "not both")
        if self.budget is None and self.trials is None:
            raise FitguardError("give `--budget` or `--trials` (or both): with neither the search would never end")
        if self.budget is not None and not self.budget > 0:
            raise duration_error("--budget", self.budget, none_ok=True)
        from fitguard.train.trainer import resolve_device

        try:
            resolve_device(self.device)
        except ValueError as error:
            raise FitguardError(f"`--device`: {error}") from None
        if self.refit not in REFITS:
            raise FitguardError(f"`--refit` must be one of {', '.join(REFITS)}, got {self.refit!r}")
        if self.trials is not None and self.trials < 1:
            raise FitguardError(f"`--trials` must be >= 1, got {self.trials}")
        if self.monitor not in MONITORS:
            raise FitguardError(f"`--monitor` must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.keep not in KEEP_RULES:
            raise FitguardError(f"`--keep` must be one of {', '.join(KEEP_RULES)}, got {self.keep!r}")
        for name, least in (("cv_max_rows", 0), ("min_steps", 0), ("confirm", 0), ("epochs", 1), ("search_epochs", 1),
                            ("folds", 2), ("patience", 1), ("baseline_patience", 1), ("ensemble", 1), ("workers", 1)):
            if getattr(self, name) < least:
                raise FitguardError(f"`--{name.replace('_', '-')}` must be >= {least}, got {getattr(self, name)}")
        if self.confirm == 1:
            raise FitguardError("`--confirm` must be 0 (keep the search's best) or >= 2 (one finalist leaves nothing "
                                "to choose), got 1")
        if self.join is not None and self.workers > 1:
            raise FitguardError("`--join` trains in this one process; start more `--join` processes for more "
                                "workers, or give `--workers` to the run itself")
        if self.join is not None:
            self._check_grpc("join", self.join.partition("#")[0])
        if self.storage is not None:
            from fitguard.search.storage import engine_url

            if not self._check_grpc("storage", self.storage):
                try:
                    engine_url(self.storage)
                except ValueError:
                    raise FitguardError(f"`--storage` must be a database URL such as postgresql+psycopg://user@host/db "
                                        f"or sqlite:///path/study.db, got {self.storage!r}") from None
            if self.join is not None:
                raise FitguardError("`--join` finds the run's storage itself: give `--join URL`, not `--storage`")
        if self.rounds == 1 or self.rounds < 0:
            raise FitguardError(f"`--rounds` must be 0 (skip bias-variance) or >= 2, got {self.rounds}")
        if not 0 <= self.epsilon < 1:
            raise FitguardError(f"`--epsilon` must be in [0, 1), got {self.epsilon}")
        if not 0 < self.train_fraction <= 1:
            raise FitguardError(f"`--train-fraction` must be in (0, 1], got {self.train_fraction}")

    @staticmethod
    def _check_grpc(name: str, url: str) -> bool:
        """Whether ``url`` (of the option ``--name``) is a gRPC storage proxy's ``grpc://HOST:PORT``; one line for a
        malformed one."""
        from fitguard.search.storage import grpc_address

        try:
            return grpc_address(url, name=f"--{name}") is not None
        except ValueError as error:
            raise FitguardError(str(error)) from None

    def to_dict(self) -> dict[str, Any]:
        """Every option by field name, as plain data (what a run folder's summary records); a ``storage`` URL's
        password is masked (``***``)."""
        from fitguard.search.storage import masked_url

        values = asdict(self)
        if self.storage is not None:
            values["storage"] = masked_url(self.storage)
        return values

    def changed_from(self, stored: dict[str, Any]) -> list[str]:
        """The options a rerun repeats whose value differs from ``stored``, as ``--flag: VALUE before, VALUE now``
        lines;
        empty when a run with these options may continue that one.

        Args:
            stored: an earlier run's :meth:`to_dict`.

        Example:
            >>> DoctorOptions(budget=120.0).changed_from(DoctorOptions(budget=60.0, quiet=True).to_dict())
            ['--budget: 60s before, 120s now']
            >>> older = {k: v for k, v in DoctorOptions().to_dict().items() if k != "one_se"}
            >>> DoctorOptions().changed_from(older)
            ['--one-se: not an option of the fitguard that started it, True now']
        """
        lines = []
        for option in fields(self):
            before, now = stored.get(option.name), getattr(self, option.name)
            if not option.metadata["rerun"] or json.loads(json.dumps(before)) == json.loads(json.dumps(now)):
                continue
            to_cli = option.metadata["to_cli"]
            before, now = ((to_cli(v) if to_cli is not None and v is not None else v) for v in (before, now))
            flag = "--" + (option.metadata["flag"] or option.name).replace("_", "-")
            # a run a fitguard without the option started: what it did then is not this option's value
            lines.append(f"{flag}: not an option of the fitguard that started it, {now} now"
                         if option.name not in stored else f"{flag}: {before} before, {now} now")
        return lines

    def command(self) -> str:
        """The shell command that reruns this doctor run: every option that differs from its default."""
        defaults = DoctorOptions()
        parts = ["fitguard", "doctor"]
        for option in fields(self):
            value = getattr(self, option.name)
            if value == getattr(defaults, option.name) or not option.metadata["rerun"]:
                continue
            flag = "--" + (option.metadata["flag"] or option.name).replace("_", "-")
            to_cli = option.metadata["to_cli"]
            value = to_cli(value) if to_cli is not None else value
            if isinstance(value, bool):
                parts.append(flag if value else f"--no-{flag[2:]}")
            elif isinstance(value, list):  # a repeatable option
                for item in value:
                    parts += [flag, str(item)]
            else:
                parts += [flag, str(value)]
        return " ".join(_quote(p) for p in parts)

    @classmethod
    def from_cli(cls, **params: Any) -> DoctorOptions:
        """The options of ``fitguard doctor``'s parsed parameters (named as :func:`cli_options` names them).

        Raises:
            FitguardError: a value no option takes (each check names its flag).
        """
        values = {}
        for option in fields(cls):
            name = option.metadata["flag"] or option.name
            from_cli = option.metadata["from_cli"]
            values[option.name] = from_cli(params[name]) if from_cli is not None else params[name]
        return cls(**values)


def cli_options() -> list[inspect.Parameter]:
    """``fitguard doctor``'s parameters, one per :class:`DoctorOptions` field, in its order: the name on the command
    line, its type (``Optional`` where the field may be None) with its ``typer.Option(help=...)``, and its default
    as the command line writes it. The command is built from them, so the two cannot drift apart.

    Example:
        >>> [p.name for p in cli_options()][:4]
        ['data', 'target', 'test_data', 'config']
    """
    import typer

    hints = get_type_hints(DoctorOptions)
    defaults = DoctorOptions()
    parameters = []
    for option in fields(DoctorOptions):
        kind = option.metadata["cli_type"] or _optional(hints[option.name])
        to_cli = option.metadata["to_cli"]
        default = getattr(defaults, option.name)
        default = to_cli(default) if to_cli is not None else default
        if isinstance(default, list) and not default:
            default = None  # typer: an empty repeatable option is None
        annotation = Annotated[kind, typer.Option(help=option.metadata["help"])]
        parameters.append(inspect.Parameter(option.metadata["flag"] or option.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=annotation))
    return parameters


def _optional(hint: Any) -> Any:
    """``X | None`` as ``Optional[X]`` (the form typer reads); any other type as it is."""
    arguments = [a for a in get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) and len(arguments) == 1:
        return Optional[arguments[0]]
    return hint


def _budget_text(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:g}s"


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./:=,+-]+", text) else "'" + text.replace("'", "'\\''") + "'"
