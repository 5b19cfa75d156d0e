"""``summary.json``: what one ``fitguard doctor`` run found, as a typed contract.

The doctor writes a :class:`Summary`; the report (and anyone else) reads one. The JSON schema is generated from
the models (:func:`json_schema`), never kept by hand. Sections keep keys they do not declare (``extra="allow"``), so
a newer doctor's additions survive a round trip; the top level declares every section and refuses others.
Non-finite numbers (a skipped trial's score) are written as ``null`` so the file is strict JSON.

Example:
    >>> summary = load_summary("runs/doctor")                          # doctest: +SKIP
    >>> summary.data.task, summary.best.shipped.refit                  # doctest: +SKIP
    ('classification', 'all')
    >>> Summary.from_dict({"format": "fitguard-doctor/1"})                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fitguard.errors.FitguardError: ... format: Input should be 'fitguard-doctor/2' (got 'fitguard-doctor/1'); ...
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from fitguard.errors import FitguardError
from fitguard.train.state_io import atomic_write_bytes

FORMAT = "fitguard-doctor/2"
FILE_NAME = "summary.json"
#: :func:`json_schema` written out for readers without Python; a test keeps it equal to the generated one
#: (``python -m fitguard.summary`` rewrites it)
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")

Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]
Score = float | None  # null where a trial was skipped or a number was not finite
_VERSIONS = ("python", "fitguard", "torch")  # the versions every summary names
Phase = Literal["architecture", "lambda_cv", "ablation", "study", "final", "baseline", "train_longer",
                "learning_curve"]


class Section(BaseModel):
    """A part of the summary: declared keys are checked, other keys are kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class TargetScale(Section):
    """Regression: the training rows' target mean and std per column.

    Args:
        mean: the training rows' target mean, one per target column.
        std: their standard deviation, one per target column.
        note: what the scale means for the numbers of the summary; None (default): no note.
    """

    mean: list[float]
    std: list[float]
    note: str | None = None


class DataSection(Section):
    """The data: where it came from, its task and shape, and the rows of each split.

    Args:
        source: the data source as given (a built-in name, a file or a folder).
        name: the dataset's name.
        task: "classification" or "regression".
        kind: "table", "signal" or "image".
        input_shape: one row's shape as the network takes it.
        class_names: the classes in output order (empty for regression).
        feature_names: a table's feature names; None (default) for images and signals.
        n_train: training rows.
        n_val: validation rows.
        n_test: test rows.
        test_source: where the test rows came from (the source's own test split or a held-out share).
        train_fraction: the share of the training split kept; None (default): not recorded.
        split_seed: the seed of the split; None (default): not recorded.
        target_scale: regression: the training rows' target mean and std per column (the networks train on
            (target - mean) / std, so losses, gaps and validation scores are in those units, test figures in the
            target's own); None (default) for classification or an unstandardized target.
    """

    source: str
    name: str
    task: Literal["classification", "regression"]
    kind: Literal["table", "signal", "image"]
    input_shape: list[int]
    class_names: list[str]
    feature_names: list[str] | None = None
    n_train: Positive
    n_val: Positive
    n_test: Positive
    test_source: str
    train_fraction: float | None = None
    split_seed: int | None = None
    target_scale: TargetScale | None = Field(None, description=(
        "regression: the training rows' target mean and std per column; the networks train on (target - mean) / "
        "std, so losses, gaps and validation scores are in those units, test figures in the target's own; null for "
        "classification or an unstandardized target"))


class Layer(Section):
    """One row of a layer table.

    Args:
        name: the layer's name in the model.
        kind: its module type.
        output_shape: its output's shape for one row.
        parameters: its parameters.
        connections: its connections (multiply-accumulates per row).
    """

    name: str
    kind: str
    output_shape: list[int]
    parameters: Count
    connections: Count


class Network(Section):
    """A network's layer table (:func:`fitguard.models.count`).

    Args:
        name: the builder's name.
        options: the builder's options.
        parameters: the network's parameters.
        connections: its connections, summed over layers.
        layers: one :class:`Layer` per layer, in forward order.
    """

    name: str
    options: dict[str, Any]
    parameters: Count
    connections: Count
    layers: list[Layer]


class Networks(Section):
    """The layer tables of the baseline and the kept network.

    Args:
        baseline: the baseline network's table.
        best: the kept network's table: one member's layers (an ensemble's members share them).
    """

    baseline: Network
    best: Network = Field(description="one member's layers: an ensemble's members share them")


class TrainTest(Section):
    """A model's scores (the evaluator's metrics) on its training rows and on the test split.

    Args:
        train: metric name -> score on the model's training rows.
        test: metric name -> score on the test split.
    """

    train: dict[str, Score]
    test: dict[str, Score]


class DiagnosisRun(Section):
    """The baseline's own training, the one the diagnosis read.

    Args:
        epochs: epochs it trained.
        best_epoch: the epoch early stopping restored; None when none was.
        stop_reason: why it stopped.
        scores: split name -> metric name -> score.
        repeat: passes over the training rows per epoch.
    """

    epochs: int
    best_epoch: int | None
    stop_reason: str | None
    scores: dict[str, dict[str, Score]]
    repeat: int


class Run(Section):
    """A model trained afresh on the tested rows for the epochs validation chose, and tested once.

    Args:
        val_score: validation score of the search (the baseline's: of its diagnosis run); None where not finite.
        gap: the train-test gap of the tested model (see ``gap_note``).
        gap_note: how ``gap`` is measured.
        parameters: the tested model's parameters.
        epochs: epochs the tested model trained.
        best_epoch: the epoch early stopping restored; None (default) when none was.
        search_epochs: the epochs of the search run that chose the recipe; None (default): not recorded.
        stop_reason: why the tested training stopped; None (default): not recorded.
        scores: its :class:`TrainTest` scores.
        seconds: its training time; None (default): not recorded.
    """

    val_score: Score = Field(description="validation score of the search (the baseline's: of its diagnosis run)")
    gap: float
    gap_note: str
    parameters: Count
    epochs: int
    best_epoch: int | None = None
    search_epochs: int | None = Field(None, description="the epochs of the search run that chose the recipe")
    stop_reason: str | None = None
    scores: TrainTest
    seconds: float | None = None


class Baseline(Run):
    """The baseline as it was tested, and the run the diagnosis read.

    Args:
        val_score: validation score of the search (the baseline's: of its diagnosis run); None where not finite.
        gap: the train-test gap of the tested model (see ``gap_note``).
        gap_note: how ``gap`` is measured.
        parameters: the tested model's parameters.
        epochs: epochs the tested model trained.
        best_epoch: the epoch early stopping restored; None (default) when none was.
        search_epochs: the epochs of the search run that chose the recipe; None (default): not recorded.
        stop_reason: why the tested training stopped; None (default): not recorded.
        scores: its :class:`TrainTest` scores.
        seconds: its training time; None (default): not recorded.
        diagnosis_run: the training the diagnosis read; None (default): not recorded.
        history: the file in the run folder holding the History.
    """

    epochs: Positive
    diagnosis_run: DiagnosisRun | None = None
    history: str = Field(description="file in the run folder holding the History")


class Shipped(Section):
    """The model written to ``best.safetensors``: which rows it learned, for how many epochs, and why.

    Args:
        refit: which rows the shipped model learned: "all" (train + validation + test, after the test evaluation),
            "trainval" (the tested model, trained on train + validation) or "none" (the tested model, trained on the
            training split only).
        rows: the rows it learned.
        epochs: epochs it trained.
        stop_reason: why its training stopped; None: not recorded.
        note: why it was shipped this way.
        members: the networks it averages: the tested model's (``best.members``), or more where the refit on every row
            trained further seeds of the recipe in the time left (untested), or fewer where the deadline cut the
            partner's refit; None: not recorded (a summary before session 32).
    """

    refit: Literal["all", "trainval", "none"]
    rows: Positive
    epochs: Count
    stop_reason: str | None
    note: str
    members: Positive | None = Field(default=None, description=(
        "the networks the shipped model averages: the tested model's, or more where the refit on every row trained "
        "further seeds of the recipe in the time left (untested), or fewer where the deadline cut the partner's "
        "refit; None: not recorded (a summary before session 32)"))


class Partner(Section):
    """The best network whose validation score the kept complete recipe's validation rows could not tell from the
    recipe's (:func:`fitguard.doctor.phases.tie_partner`), averaged into the kept recipe's ensemble as its last
    member when its training fitted the time left.

    Args:
        name: the network's name, as the architecture phase scored it.
        epochs: the epochs it trains as shipped (the count validation chose for it, no early stopping).
        parameters: its parameters (the kept recipe's members have ``parameters`` of the :class:`Best` each).
        seed: its seed as a member (the last of ``member_seeds``); None when it was not averaged in.
        used: whether the tested and shipped models average it in.
        why_not: why it was not averaged in, and whether a seed of the recipe took its place; None (default) where
            it was.
        note: what it is, and why it was not averaged in where it was not.
    """

    name: str
    epochs: Positive
    parameters: Count
    seed: int | None = None
    used: bool
    why_not: str | None = None
    note: str


class Mirror(Section):
    """Flip test-time augmentation, measured on the kept recipe's validation rows (the same trained models predicting
    each image plain, its left-right mirror, and the mean of both): the scores, higher is better, and the losses;
    ``used`` when the mirrored images alone scored no worse than the plain within ``MIRROR_Z`` standard errors and,
    measured by the recipe's own models, the mean had the lower loss (:func:`fitguard.doctor.phases.mirror_helps`);
    then the tested and shipped models predict with the mean.

    Args:
        val_score: the validation score of the mean over both views.
        val_loss: the validation loss of the mean over both views.
        plain_val_score: the validation score of the plain prediction.
        plain_val_loss: the validation loss of the plain prediction.
        mirrored_val_score: the validation score of the mirrored images alone.
        mirrored_z: how many standard errors the mirrored images alone score worse than the plain, paired by row
            (folds combined as Stouffer's).
        used: whether the tested and shipped models average the mirror views.
        measured_by: "recipe" (default): the kept recipe's own search models; for a recipe trained once with no
            score of its own (:class:`Unscored`), "probe": a small CNN trained for it on the training split and
            measured on the validation split (:func:`fitguard.doctor.phases.mirror_probe`), or "baseline": the
            baseline's model there, where the probe did not fit the time left.
        probe: the probe's network ("probe" only).
        probe_epochs: the epochs the probe trained ("probe" only).
        probe_seconds: the seconds the probe took, its training and both views' predictions ("probe" only).
        probe_skipped: why the probe was not used ("baseline" only: it did not fit the time left, the deadline cut
            it, or it measured nothing or no better than chance).
    """

    val_score: Score
    val_loss: Score
    plain_val_score: Score
    plain_val_loss: Score
    mirrored_val_score: Score
    mirrored_z: float
    used: bool
    measured_by: Literal["recipe", "probe", "baseline"] = "recipe"
    probe: str | None = None
    probe_epochs: int | None = None
    probe_seconds: float | None = None
    probe_skipped: str | None = None


class Best(Run):
    """The kept recipe as it was tested, and what was shipped.

    Args:
        val_score: validation score of the search (the baseline's: of its diagnosis run); None where not finite.
        gap: the train-test gap of the tested model (see ``gap_note``).
        gap_note: how ``gap`` is measured.
        parameters: the tested model's parameters.
        epochs: epochs the tested model trained.
        best_epoch: the epoch early stopping restored; None (default) when none was.
        search_epochs: the epochs of the search run that chose the recipe; None (default): not recorded.
        stop_reason: why the tested training stopped; None (default): not recorded.
        scores: its :class:`TrainTest` scores.
        seconds: its training time; None (default): not recorded.
        name: the kept recipe's name.
        recipe: the kept recipe's sections.
        search_val_score: the validation score that chose it (optimistic: it chose among all that were tried).
        search_val_score_note: what ``search_val_score`` means.
        config: the kept recipe's whole TrainConfig.
        history: the file in the run folder holding the History.
        model_file: the file of the shipped weights (``best.safetensors``).
        members: networks averaged in the tested model (and the shipped one, but where ``shipped.members`` says
            otherwise): a deep ensemble of the kept recipe refit with ``member_seeds`` (--ensemble; 1: a single
            network), the last of them the tied network where ``partner`` is used. A kept snapshot ensemble averages
            its snapshots within each member too (the saved model holds members x snapshots networks).
        member_seeds: one seed per member.
        partner: the network tied with the kept recipe (:class:`Partner`); None (default): none (a recipe kept on
            rows that resolve a point, no network within the noise of it, or ``--ensemble`` 1).
        mirror: flip test-time augmentation as validation measured it (:class:`Mirror`); None (default): not
            measured (data that are not images, folds trained grouped).
        shipped: the :class:`Shipped` model.
        tested: which model was tested: "refit" (default: trained afresh on the tested rows for the epochs validation
            chose) or "search" (the search's own training of the recipe on the training split, restored to the epoch
            validation chose: no refit fitted the time left; the baseline is still refit on the tested rows).
    """

    name: str
    recipe: dict[str, Any]
    search_val_score: Score
    search_val_score_note: str
    config: dict[str, Any] = Field(description="the kept recipe's whole TrainConfig")
    history: str = Field(description="file in the run folder holding the History")
    model_file: str
    members: Positive = Field(description=(
        "networks averaged in the tested model (and the shipped one, but where shipped.members says otherwise): a "
        "deep ensemble of the kept recipe refit with "
        "member_seeds (--ensemble; 1: a single network), the last of them the tied network where partner is used"))
    member_seeds: list[int] = Field(min_length=1)
    partner: Partner | None = None
    mirror: Mirror | None = None
    shipped: Shipped
    tested: Literal["refit", "search"] = Field(default="refit", description=(
        "which model was tested: refit (trained afresh on the tested rows for the epochs validation chose) or search "
        "(the search's own training of the recipe on the training split, restored to the epoch validation chose: no "
        "refit fitted the time left; the baseline is still refit on the tested rows)"))


class Recommendation(Section):
    """One of the verdict's suggestions, by priority.

    Args:
        remedy: the remedy suggested.
        reason: why.
        priority: its rank, lower first.
    """

    remedy: str
    reason: str
    priority: int


class WeightStats(Section):
    """One baseline layer's weight statistics (:mod:`fitguard.diagnose.weights`).

    Args:
        name: the layer's name.
        shape: its weight's shape.
        l1: the weight's L1 norm; None (default): not recorded.
        l2: its L2 norm.
        max_abs: its largest absolute value.
    """

    name: str
    shape: list[int]
    l1: float | None = None
    l2: float
    max_abs: float


class Verdict(Section):
    """The diagnosis of the baseline: overfit, underfit or good, with the evidence.

    Args:
        kind: "overfit", "underfit" or "good".
        onset_epoch: the epoch overfitting began; None when it did not.
        gap: val_loss - loss at the baseline's last epoch; None where not finite.
        train_accuracy: the baseline's training accuracy at its last epoch (in training mode, as the verdict reads
            it); None without classes (default).
        val_accuracy: its validation accuracy at that epoch; None without classes (default).
        evidence: the observations behind the verdict, one sentence each.
        recommendations: the suggestions, by priority.
        weights: the baseline's layers' weight statistics.
        sentence: the verdict in one sentence.
    """

    kind: Literal["overfit", "underfit", "good"]
    onset_epoch: int | None
    gap: float | None = Field(description="val_loss - loss at the baseline's last epoch")
    train_accuracy: Score = None
    val_accuracy: Score = None
    evidence: list[str]
    recommendations: list[Recommendation]
    weights: list[WeightStats]
    sentence: str


class PlanStep(Section):
    """One phase of the search and the cumulative share of the budget at which it stops starting trainings.

    Args:
        phase: the search phase.
        until: the cumulative share of the budget at which it stops starting trainings.
        why: why the plan runs it.
    """

    phase: str
    until: float
    why: str


class Outcome(Recommendation):
    """A suggestion and what the search measured when it tried it.

    Args:
        remedy: the remedy suggested.
        reason: why.
        priority: its rank, lower first.
        tried: whether the search tried it.
        helped: whether it beat its reference; None when not measured.
        trial: the trial that measured it; None (default): none.
        score: that trial's score; None (default): none.
        reference: the trial it was measured against; None (default): none.
        reference_score: that trial's score; None (default): none.
        measured: what was measured, in words.
    """

    tried: bool
    helped: bool | None
    trial: str | None = Field(None, description="the trial that measured it")
    score: float | None = None
    reference: str | None = Field(None, description="the trial it was measured against")
    reference_score: float | None = None
    measured: str


class PlanSection(Section):
    """The search the verdict decided (:mod:`fitguard.doctor.plan`) and what each suggestion did when tried.

    Args:
        kind: the verdict it follows: "overfit", "underfit" or "good".
        steps: the phases in order, at least one.
        bigger_first: whether larger networks are tried before regularizing.
        lambdas: the L2 strengths the cross-validation tries.
        remedies: the remedies the ablation tries.
        study_dropout: whether the study searches dropout; None (default): no study planned.
        study_lambda: the study's range of L2 strengths; None (default): none.
        class_skew: largest / smallest training class count (classification); from plan.SKEW_RATIO (3) on, class
            weights are tried first; None (default) for regression.
        outcomes: what each suggestion did when tried.
    """

    kind: Literal["overfit", "underfit", "good"]
    steps: list[PlanStep] = Field(min_length=1)
    bigger_first: bool
    lambdas: list[float]
    remedies: list[str]
    study_dropout: bool | None = Field(None, description="whether the study searches dropout")
    study_lambda: list[float] | None = Field(None, description="the study's range of L2 strengths")
    class_skew: float | None = Field(None, description=(
        "largest / smallest training class count (classification); from plan.SKEW_RATIO (3) on, class weights "
        "are tried first"))
    outcomes: list[Outcome]


class SearchTrial(Section):
    """One training (or one set of folds) of the search.

    Args:
        name: the trial's name.
        phase: the search phase it belongs to.
        recipe: the recipe it trained.
        val_score: its validation score; None where skipped or not finite.
        gap: its train-validation gap; None where skipped or not finite.
        parameters: its model's parameters.
        epochs: epochs it trained.
        seconds: its training time, >= 0.
        status: how it ended (e.g. done, pruned, failed).
        details: anything else the phase records (default none).
    """

    name: str
    phase: Phase
    recipe: dict[str, Any]
    val_score: Score
    gap: Score
    parameters: Count
    epochs: Count
    seconds: Annotated[float, Field(ge=0)]
    status: str
    details: dict[str, Any] = Field(default_factory=dict)


class LambdaRow(Section):
    """One λ of the L2 cross-validation: its scores per fold, their mean and spread.

    Args:
        lam: the L2 strength.
        scores: its score on each fold.
        mean: their mean.
        std: their standard deviation.
    """

    lam: float
    scores: list[Score]
    mean: Score
    std: Score


class LambdaCV(Section):
    """The L2 strength chosen by k-fold cross-validation, or on the validation split (without ``--lambda-cv``).

    Args:
        folds: the number of folds, >= 2; 1: each strength was scored on the validation split.
        rows: one :class:`LambdaRow` per strength tried.
        best_lam: the strength chosen; None when none could be.
        skipped: why no strength was tried (a complete recipe brings its own weight decay); None (default): they were.
        siblings: the most strengths whose folds trained side by side as one grouped network (each member with its
            own strength; :func:`fitguard.search.evaluate.grouped_sibling_trials`); None (default): each strength's
            folds trained on their own.
    """

    folds: Annotated[int, Field(ge=1)]
    rows: list[LambdaRow]
    best_lam: float | None
    skipped: str | None = None
    siblings: Annotated[int, Field(ge=2)] | None = None


class Study(Section):
    """The Optuna study: its storage file and its trials.

    Args:
        storage: the Optuna storage file.
        trials: its trials.
    """

    storage: str
    trials: list[SearchTrial]


class Selection(Section):
    """How candidates were scored: on the validation split (holdout) or by k-fold cross-validation over train +
    val; the search trainings' epoch limit, patience and passes over the training rows per epoch; what early
    stopping watched (which sets the epoch every refit trains for).

    Args:
        method: "holdout" or "cross-validation".
        folds: the folds of cross-validation, >= 2; None (default) for holdout.
        labelled_rows: the training and validation rows candidates were scored on.
        max_epochs: the search trainings' epoch limit.
        patience: their early-stopping patience.
        repeat: passes over the training rows per epoch.
        min_steps: the optimizer steps a training was sized to be able to take (the doctor's ``--min-steps``).
        kept: the rule that kept the recipe; None (default): not recorded.
        monitor: what early stopping watched, "val_loss" or "val_accuracy".
    """

    method: Literal["holdout", "cross-validation"]
    folds: Annotated[int, Field(ge=2)] | None = None
    labelled_rows: Count
    max_epochs: Positive
    patience: Count
    repeat: Positive
    min_steps: Count
    kept: str | None = None
    monitor: Literal["val_loss", "val_accuracy"]


class LearningCurve(Section):
    """Would more data help: errors at growing row counts and the power law fitted to them.

    Args:
        points: per row count: ``rows``, ``train_error``, ``val_error`` and ``seconds`` (``reused``: the search's own
            trial of the chosen network on the whole training split, not trained again).
        error: the error measured ("1 - accuracy" or "loss").
        fit: the fitted power law's ``a``, ``b`` and ``c``; None when no curve was fitted.
        more_rows_for_half_the_gap: the rows to add to close half the train-validation gap; None when the curve says
            more data alone does not get there, or no curve was fitted.
        note: why there is no curve; None (default): there is one.
    """

    points: list[dict[str, Any]]
    error: str
    fit: dict[str, float] | None
    more_rows_for_half_the_gap: int | None
    note: str | None = None


class Finalist(Section):
    """A recipe scored again on a second fold split (``--confirm``).

    Args:
        name: its name in the search.
        phase: the search phase that scored it first.
        search_score: its cross-validated score in the search (optimistic: it made it a finalist).
        fresh_score: its score on the second fold split.
        fresh_folds: that split's fold scores.
        score: the mean over both splits' folds, which ranked the finalists.
    """

    name: str
    phase: Phase
    search_score: Score
    fresh_score: Score
    fresh_folds: list[Score]
    score: Score


class Confirmation(Section):
    """The search's best recipes scored again on a second split of the same rows into folds (``--confirm``).

    Args:
        finalists: the recipes scored again, best-ranked in the search first.
        folds: folds of the second split, >= 2.
        fold_seed: the seed of the second split.
        kept: the finalist kept; None when fewer than two fitted the budget (the search's best is kept).
        note: what was done.
    """

    finalists: list[Finalist]
    folds: Annotated[int, Field(ge=2)]
    fold_seed: int
    kept: str | None
    note: str


class TieFinalist(Section):
    """One side of a tie between a fixed schedule and early stopping (:class:`Tie`).

    Args:
        name: the network's name in the architecture phase.
        search_score: its validation score there (an early-stopped network's: at the epoch those rows liked best).
        fresh_score: its score on the second split, trained as it would be shipped, which decided; None: no
            second split (too few validation rows to resolve a point: ``noise`` decided).
        fresh_folds: that split's fold scores (one for a holdout split; none without one).
        epochs: the epochs it trained there (a recipe: its schedule's; an early-stopped network: the count its
            first split chose); None without a second split.
        kept: whether it was kept.
        noise: without a second split, the lead the early-stopped network needed to be kept (two standard errors
            of a difference of accuracies on these validation rows); None with one.
    """

    name: str
    search_score: Score
    fresh_score: Score
    fresh_folds: list[Score]
    epochs: Count | None
    kept: bool
    noise: float | None = None


class Tie(Section):
    """A tie between a fixed schedule and early stopping in the architecture phase
    (:func:`fitguard.doctor.phases.settle_tie`): neither their validation losses nor their first scores compare
    them. Where the validation rows cannot resolve a point of accuracy the fixed schedule is kept unless the network
    leads it by more than the noise; elsewhere a second split of the same labelled rows, each trained as it would be
    shipped, decides.

    Args:
        finalists: the best network of each kind within ``epsilon``, the fixed schedule first (where the validation
            rows cannot resolve a point, a fixed schedule within the noise of the best score; since session 22).
        split: how the second split scores: "holdout" (one split of about the first's sizes) or "k-fold"; None:
            there was none (the validation rows cannot resolve a point of accuracy).
        fold_seed: the seed of the second split.
        kept: the finalist kept: the higher second-split score (on an exact tie, the fixed schedule); without a
            second split, the fixed schedule unless the network leads it by more than ``noise``.
    """

    finalists: list[TieFinalist] = Field(min_length=2, max_length=2)
    split: Literal["holdout", "k-fold"] | None
    fold_seed: int
    kept: str


class FirstFoldScore(Section):
    """A network's score on the first fold, beside its mean over every fold (:class:`OneFold`).

    Args:
        name: the network's name in the architecture phase.
        first_fold: its score on the first fold, on which it was compared with the recipe.
        all_folds: its mean score over every fold (what the later phases compare); the recipe's own is its first
            fold's.
    """

    name: str
    first_fold: Score
    all_folds: Score


class OneFold(Section):
    """A complete recipe the architecture phase scored on the first fold alone
    (:func:`fitguard.doctor.phases.optional_recipe`): its k trainings did not fit the time left, one and its final
    training did. Every network was then compared with it on that fold: the same rows on both sides.

    Args:
        recipe: the recipe's name.
        folds: the folds of the cross-validation, of which the first scored it, >= 2.
        training_rows: the first fold's training rows.
        validation_rows: the first fold's validation rows, on which every network was compared with it.
        forecast_seconds: the forecast of its k trainings, which did not fit.
        compared: every scored network's first-fold score, beside its mean over the folds.
    """

    recipe: str
    folds: Annotated[int, Field(ge=2)]
    training_rows: Count
    validation_rows: Count
    forecast_seconds: Annotated[float, Field(ge=0)]
    compared: list[FirstFoldScore]


class Shortened(Section):
    """A complete recipe the architecture phase scored at fewer epochs than its own (written by runs before session
    25; :class:`Unscored` since): at full length, its one training and its final training would
    have ended past the run's deadline; at these epochs they fitted, its schedule sized to them. Kept, it is shipped
    at these epochs.

    Args:
        recipe: the shortened recipe's name (with its epochs).
        epochs: the epochs it trained.
        full_epochs: the recipe's own epochs.
        forecast_seconds: the forecast of its one training at full length.
        kept: whether the architecture phase kept it (then shipped at these epochs).
        budget: about the ``--budget`` that would have trained it at full length: the run's, plus the forecast
            seconds of the epochs it lacked in its one training and its final training (with the final training's
            reserve; not the ensemble's further members).
    """

    recipe: str
    epochs: Annotated[int, Field(ge=1)]
    full_epochs: Annotated[int, Field(ge=1)]
    forecast_seconds: Annotated[float, Field(ge=0)]
    kept: bool
    budget: Annotated[float, Field(ge=0)]


class Unscored(Section):
    """A complete recipe the budget trained once, with no validation score
    (:func:`fitguard.doctor.phases.trained_once`): scored first, it would have been cut to the epochs one training
    and its final training fit (``scored_epochs``), leaving no time to score anything beside it, or to under a third
    of its epochs (then the networks would have been scored instead of it). It is kept, nothing else is scored, and
    the final phase trains it at these epochs; its test figures are its evidence.

    Args:
        recipe: its name (with its epochs when shortened).
        epochs: the epochs it trains (its schedule sized to them).
        full_epochs: the recipe's own epochs.
        forecast_seconds: the forecast of one training at full length (on the first fold, or the training split).
        scored_epochs: the epochs it would have trained had it been scored first; None: not even a third of them.
        budget: about the ``--budget`` that would have trained it at full length (the run's, plus the forecast
            seconds of the epochs it lacks, with the final training's reserve); None: it trains at full length.
    """

    recipe: str
    epochs: Annotated[int, Field(ge=1)]
    full_epochs: Annotated[int, Field(ge=1)]
    forecast_seconds: Annotated[float, Field(ge=0)]
    scored_epochs: Annotated[int, Field(ge=1)] | None
    budget: Annotated[float, Field(ge=0)] | None


class Remedies(Section):
    """The search: architecture, λ, ablation, study, in the order the plan asked for.

    Args:
        epsilon: the architecture phase keeps, of the networks within this much of the best validation score, the
            one with the lowest validation loss, then the fewest parameters (regression, scored by the loss: the
            fewest parameters), >= 0.
        window: how far below the best validation score the kept network's tie reached when ``--one-se`` widened
            ``epsilon`` to one standard error of the best validation accuracy (a table scored by accuracy,
            :func:`fitguard.doctor.phases.tie_window`); None (default): ``epsilon`` alone.
        architecture: the architecture phase's trials, at least one.
        chosen_architecture: the network it kept.
        train_longer: the trials that trained longer.
        lambda_cv: the L2 cross-validation.
        ablation: the ablation's trials, at least one.
        learning_curve: the :class:`LearningCurve`; None when it did not run.
        study: the Optuna study.
        confirm: the :class:`Confirmation` of the best recipes on a second fold split; None (default) when the run
            did not confirm (holdout scoring, ``--confirm 0``, ``--keep simplest``).
        tie: the :class:`Tie` of a fixed schedule and early stopping; None (default): no such tie, or its second
            split did not fit the time left (the tie-break decided).
        one_fold: the :class:`OneFold` record of a recipe scored on the first fold alone; None (default): every
            candidate was scored on every fold (or the validation split).
        shortened: the :class:`Shortened` record of a recipe scored at fewer epochs than its own to fit the
            budget (runs before session 25 wrote it; a recipe that would be shortened to be scored is now trained
            once, unscored); None (default): none was.
        unscored: the :class:`Unscored` record of a recipe the budget trained once with no score; None (default):
            none was.
        settled: why the remedy phases searched nothing on the kept network (a complete recipe kept as given:
            its validation cannot resolve a point, :func:`fitguard.doctor.phases.settled`); None (default): they
            searched.
        trainings: the search trainings run.
        stored: scored recipes in study.db (default 0).
        replayed: how many of them a resumed run read back instead of training them (default 0; 0 before --resume).
        selection: how candidates were scored.
    """

    epsilon: Annotated[float, Field(ge=0)]
    window: Annotated[float, Field(gt=0)] | None = None
    architecture: list[SearchTrial] = Field(min_length=1)
    chosen_architecture: str
    train_longer: list[SearchTrial]
    lambda_cv: LambdaCV
    ablation: list[SearchTrial] = Field(min_length=1)
    learning_curve: LearningCurve | None
    study: Study
    confirm: Confirmation | None = None
    tie: Tie | None = None
    one_fold: OneFold | None = None
    shortened: Shortened | None = None
    unscored: Unscored | None = None
    settled: str | None = None
    trainings: Count
    #: scored recipes in study.db, and how many a resumed run read back instead of training them (0 before --resume)
    stored: Count = 0
    replayed: Count = 0
    selection: Selection


class Reference(Section):
    """A scikit-learn reference model on the same folds and rows (:mod:`fitguard.doctor.references`).

    Args:
        name: the reference model's name.
        status: "done", or why it was skipped.
        seconds: its time.
    """

    name: str
    status: str
    seconds: float


class Estimate(Section):
    """A value with its 95% interval.

    Args:
        value: the estimate.
        low: the interval's low end.
        high: the interval's high end.
    """

    value: float
    low: float
    high: float


class Recall(Section):
    """One class's recall on the test rows (``class`` in the file).

    Args:
        class_name: the class (``class`` in the file).
        value: its recall; None for a class without test rows.
        rows: its test rows.
    """

    class_name: str = Field(alias="class")
    value: float | None
    rows: Count


class Figure(Section):
    """A test figure with its 95% interval.

    Args:
        metric: "accuracy" or "mse".
        value: the figure.
        low: its interval's low end.
        high: its interval's high end.
        rows: the test rows it was measured on.
        interval: how the interval was computed.
        balanced_accuracy: classification: the mean of the per-class recalls, 95% bootstrap interval; None (default)
            for regression.
        recall: classification: each class's recall on the test rows; None (default) for regression.
        rmse: regression: root of the MSE, in the target's units, 95% bootstrap interval; None (default) for
            classification.
        r2: regression: R² (mean over target columns), 95% bootstrap interval over the same resamples; None (default)
            for classification.
    """

    metric: Literal["accuracy", "mse"]
    value: float
    low: float
    high: float
    rows: Positive
    interval: str
    balanced_accuracy: Estimate | None = Field(None, description=(
        "classification: the mean of the per-class recalls (sklearn.metrics.balanced_accuracy_score), 95% "
        "bootstrap interval"))
    recall: list[Recall] | None = Field(None, description=(
        "classification: each class's recall on the test rows (null for a class with none)"))
    rmse: Estimate | None = Field(None, description=(
        "regression: root of the MSE, in the target's units, 95% bootstrap interval"))
    r2: Estimate | None = Field(None, description=(
        "regression: R² (sklearn.metrics.r2_score, mean over target columns), 95% bootstrap interval over the same "
        "resamples"))


class Paired(Section):
    """A paired test of two models on the same test rows.

    Args:
        test: the paired test used.
        difference: the difference the test measured between the two models (accuracy, or mean squared error).
        p_value: the test's p-value, >= 0.
        verdict: "better", "worse" or "not distinguishable": the compared model against the one it is paired with.
    """

    test: str
    difference: float
    p_value: Annotated[float, Field(ge=0)]
    verdict: Literal["better", "worse", "not distinguishable"]


class Tested(Section):
    """A tested model's scores on the test split (the evaluator's metrics) and its figure.

    Args:
        loss: the test loss.
        accuracy: the test accuracy (classification); None (default) for regression.
        figure: the test :class:`Figure`.
    """

    __test__ = False  # a Test* name: pytest must not collect it when this file is given by name

    loss: float
    accuracy: float | None = Field(None, description="classification")
    figure: Figure


class TestedReference(Section):
    """A reference model on the test split, compared with the kept model.

    Args:
        name: the reference model's name.
        figure: its test :class:`Figure`.
        best_vs_reference: the kept model against it, on the same rows.
    """

    __test__ = False  # a Test* name: pytest must not collect it when this file is given by name

    name: str
    figure: Figure
    best_vs_reference: Paired


class TestSection(Section):
    """The one look at the test split: figures with 95% intervals and paired tests on the same rows.

    Args:
        units: regression: the units of every figure and score of this section; None (default) for classification.
        rows: the test rows.
        baseline: the baseline's test scores.
        best: the kept model's test scores.
        best_vs_baseline: the kept model against the baseline, on the same rows.
        references: the reference models' test scores.
    """

    __test__ = False  # a Test* name: pytest must not collect it when this file is given by name

    units: str | None = Field(None, description="regression: the units of every figure and score of this section")
    rows: Positive
    baseline: Tested
    best: Tested
    best_vs_baseline: Paired
    references: list[TestedReference]


class Budget(Section):
    """What the run was allowed: seconds and trainings, and the time kept back for the final trainings.

    Args:
        seconds: the time budget; None: unbounded.
        trials: the most search trainings; None: only ``seconds`` bounds them.
        reserve: seconds kept back for the final trainings and the report, >= 0.
    """

    seconds: float | None
    trials: int | None
    reserve: Annotated[float, Field(ge=0)]


def _require(values: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in values]
    if missing:
        raise ValueError(f"needs {' and '.join(map(repr, missing))}")


class Timings(RootModel[dict[str, Annotated[float, Field(ge=0)]]]):
    """Seconds per phase in the order they ran, and ``total`` for the whole run.

    Args:
        root: phase name -> seconds, each >= 0; ``total`` is required.
    """

    model_config = ConfigDict(json_schema_extra={"required": ["total"]})

    @model_validator(mode="after")
    def _has_total(self) -> Timings:
        _require(self.root, ("total",))
        return self

    @property
    def total(self) -> float:
        return self.root["total"]


class Versions(RootModel[dict[str, str]]):
    """The versions of Python, fitguard and the libraries the run used, by name.

    Args:
        root: name -> version; ``python``, ``fitguard`` and ``torch`` are required.
    """

    model_config = ConfigDict(json_schema_extra={"required": list(_VERSIONS)})

    @model_validator(mode="after")
    def _has_the_main_ones(self) -> Versions:
        _require(self.root, _VERSIONS)
        return self


class Summary(BaseModel):
    """What one ``fitguard doctor`` run found.

    Search scores are 'higher is better' and measured on validation data (optimistic for the recipe they chose):
    validation accuracy for classification, minus the validation loss for regression. The baseline and the kept
    recipe are each trained afresh on the same rows for the epochs validation chose and read the test split once;
    their gaps are training rows - test (accuracy) or test - training rows (loss).

    Args:
        format: the file format, "fitguard-doctor/2".
        command: the shell command that reruns this doctor run.
        options: every DoctorOptions field.
        config: the base TrainConfig every training started from.
        seed: the run's seed.
        data: the :class:`DataSection`.
        metric: the test metric of the terminal table, "accuracy" or "loss".
        model: the baseline's and the kept network's layer tables.
        baseline: the :class:`Baseline`.
        verdict: the :class:`Verdict`.
        plan: the :class:`PlanSection`.
        bias_variance: the baseline architecture's bias and variance, or why it was skipped.
        remedies: the search (:class:`Remedies`).
        references: scikit-learn reference models on the same folds and rows.
        best: the kept recipe (:class:`Best`).
        test: the one look at the test split (:class:`TestSection`).
        budget: the :class:`Budget`.
        timings: seconds per phase and in total.
        versions: the versions of Python, fitguard and the libraries used.
    """

    model_config = ConfigDict(extra="forbid", title="fitguard doctor summary.json")

    format: Literal["fitguard-doctor/2"]
    command: str = Field(description="shell command that reruns this doctor run")
    options: dict[str, Any] = Field(description="every DoctorOptions field")
    config: dict[str, Any] = Field(description="the base TrainConfig (fitguard.config) every training started from")
    seed: int
    data: DataSection
    metric: Literal["accuracy", "loss"] = Field(description="the test metric of the terminal table")
    model: Networks
    baseline: Baseline
    verdict: Verdict
    plan: PlanSection
    bias_variance: dict[str, Any] | None = Field(description=(
        "the baseline architecture's bias and variance, or why it was skipped"))
    remedies: Remedies
    references: list[Reference] = Field(description=(
        "scikit-learn reference models on the same folds and rows (fitguard.doctor.references)"))
    best: Best
    test: TestSection
    budget: Budget
    timings: Timings
    versions: Versions

    @classmethod
    def from_dict(cls, raw: Any) -> Summary:
        """Check ``raw`` (a parsed ``summary.json``) and type it.

        Args:
            raw: the parsed JSON (a dict, or anything else, which is refused).

        Raises:
            FitguardError: the first field that is missing or of the wrong type, in one line (a reader needs where
                to look, not pydantic's page of every problem).
        """
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise FitguardError(f"summary does not match the Summary model: {_first_problem(error)}") from None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON values, with the keys it was built from (undeclared keys included)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _first_problem(error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "the summary"
    if first["type"] == "value_error":  # a validator's own message already says what is wrong
        line = f"{where}: {first['ctx']['error']}"
    else:
        line = f"{where}: {first['msg']}"
    if first["type"] not in ("missing", "value_error"):
        shown = repr(first["input"])
        line += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    more = len(problems) - 1
    return line + (f"; and {more} more problem{'s' if more > 1 else ''}" if more else "")


def strict(value: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, keys -> strings, recursively.

    Args:
        value: a JSON-like value (dicts, lists, tuples, numbers, strings...).

    Example:
        >>> strict({"a": (1.0, float("nan")), 2: float("inf")})
        {'a': [1.0, None], '2': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def json_schema() -> dict[str, Any]:
    """The JSON schema of ``summary.json``, generated from :class:`Summary`."""
    schema = Summary.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": FORMAT, **schema}


def schema_text() -> str:
    """:func:`json_schema` as the text of ``summary.schema.json``."""
    return json.dumps(json_schema(), indent=1, ensure_ascii=False) + "\n"


def write_summary(run_dir: str | Path, summary: Summary | dict[str, Any]) -> Path:
    """Check ``summary`` against :class:`Summary` and write it as ``run_dir/summary.json`` (atomically).

    Args:
        run_dir: the doctor run folder.
        summary: a :class:`Summary`, or the dict to check and type as one (made strict first).

    Returns:
        The path written.

    Raises:
        FitguardError: naming the first field that does not match.
    """
    if not isinstance(summary, Summary):
        summary = Summary.from_dict(strict(summary))
    path = Path(run_dir) / FILE_NAME
    atomic_write_bytes(path, json.dumps(strict(summary.to_dict()), indent=1, allow_nan=False).encode())
    return path


def load_summary(run_dir: str | Path) -> Summary:
    """The :class:`Summary` of a doctor run folder.

    Args:
        run_dir: the doctor run folder.

    Raises:
        FileNotFoundError: the folder holds no ``summary.json``.
        FitguardError: the file is not JSON, or a field is missing or of the wrong type (named in one line).
    """
    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a doctor run folder (summary.json is missing)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FitguardError(f"{path} is not valid JSON: {error}") from None
    try:
        return Summary.from_dict(raw)
    except FitguardError as error:
        raise FitguardError(f"{path}: {error}") from None


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
