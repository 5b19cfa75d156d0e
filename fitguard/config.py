"""Pydantic models of every spec a user writes (YAML or TOML), and their one-line error messages.

A training spec (``fitguard train spec.yaml``)::

    data: {source: digits, val: 0.2, test: 0.2, seed: 0}
    model: {name: mlp, hidden: [256, 256], dropout: 0.25, batchnorm: true}
    train: {optimizer: adam, lr: 0.001, batch_size: 32, max_epochs: 200, seed: 0}
    early_stopping: {monitor: val_loss, patience: 20, restore_best: true}
    remedies:
      penalties: [{kind: l2, lam: 0.0001}, {kind: l1, lam: 0.00001, proximal: true}]
      weight_noise: {sigma: 0.01, relative: true}
      augment: {rotate: 10, shift: 0.1}
      class_weight: balanced      # or one weight per class, e.g. [1.0, 4.0]
    transfer: {backbone: runs/pretrained, freeze_all_but: 1, unfreeze_every: 5}

Every section and field is optional except ``data.source``; unknown keys are errors (a typo must not be
silently ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import tomllib
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fitguard.data.encoding import DEFAULT_MAX_CATEGORIES
from fitguard.errors import FitguardError

#: more values than any real spec holds; bounds what YAML aliases may expand to
MAX_SPEC_VALUES = 100_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(_Spec):
    """The ``data`` section: which dataset, how it is split and preprocessed (:func:`fitguard.data.load`'s options).

    Args:
        source: a built-in dataset name, a file or a folder (default "digits").
        target: CSV and Parquet files: the label column; None (default) for other sources.
        val: share of rows held out for validation, in [0, 1) (default 0.2).
        test: share of rows held out for the test, in [0, 1) (default 0.2).
        seed: seeds the split and the ``train_fraction`` draw (default 0).
        train_fraction: share of the training split kept, in (0, 1] (default 1.0: all).
        standardize: standardize the inputs on the training rows (default True).
        missing: tables: "impute" (default) fills missing cells from the training rows (median / most frequent +
            indicator); "error" refuses them.
        max_categories: tables: categories a column keeps before the rarer share one "<other>" column, >= 2.
        embed: tables: a column with more categories becomes the code of a learned embedding (default True);
            False: the rarer share "<other>".
        ordinal: tables: column -> its categories, lowest first; such a column is one number, the category's
            position (default none).
        options: further keyword options for the loader (default none).
    """
    source: str = "digits"
    target: str | None = None
    val: float = Field(0.2, ge=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)
    seed: int = 0
    train_fraction: float = Field(1.0, gt=0, le=1)
    standardize: bool = True
    #: tables: "impute" fills missing cells from the training rows (median / most frequent + indicator); "error"
    missing: Literal["impute", "error"] = "impute"
    #: tables: categories a column keeps before the rarer share one "<other>" column (fitguard.data.encoding)
    max_categories: int | None = Field(DEFAULT_MAX_CATEGORIES, ge=2)
    #: tables: a column with more categories becomes the code of a learned embedding; false: rarer share "<other>"
    embed: bool = True
    #: tables: column -> its categories, lowest first; such a column is one number, the category's position
    ordinal: dict[str, list[str]] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class ModelSpec(_Spec):
    """The ``model`` section: a builder's name; every other key is an option the builder checks (hidden, dropout...).

    Args:
        name: the network builder, or "auto" (default): the usual one for the data's kind.
    """
    # builder options (hidden, widths, dropout, ...) are checked by the builder
    model_config = ConfigDict(extra="allow")
    name: str = "auto"


class TrainSpec(_Spec):
    """The ``train`` section: the :class:`~fitguard.train.Trainer`'s options, with its meanings.

    Args:
        loss: "cross_entropy", "mse", "bce" or "auto" (default): from the task.
        optimizer: "adam" (default), "adamw" or "sgd".
        lr: learning rate, > 0 (default 1e-3).
        batch_size: rows per step, >= 1 (default 32).
        max_epochs: the most epochs a run trains, >= 1 (default 100).
        repeat: passes over the training rows per epoch, >= 1 (default 1).
        weight_decay: the optimizer's weight decay, >= 0 (default 0).
        nesterov: Nesterov momentum, with "sgd" only (default False).
        label_smoothing: classification label smoothing, in [0, 1) (default 0).
        clip_grad_norm: clip the gradient norm to this, > 0; None (default): no clipping.
        device: "cpu", "cuda", ... or "auto" (default).
        precision: "32" (default) or "bf16" autocast.
        compile: ``torch.compile`` the model (default False).
        channels_last: channels-last memory for the model and image batches: true, false, or "auto" (default): on
            a CPU for a built-in network with 2-d convolutions, where it trains 1.3-2x faster
            (:func:`~fitguard.train.trainer.channels_last_pays`); off for a ``package.module:function`` network and
            a transferred backbone (their code may ``view`` an activation, which channels-last memory refuses).
        seed: seeds the weights and the batch order (default 0).
    """
    loss: Literal["auto", "cross_entropy", "mse", "bce"] = "auto"
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(100, ge=1)
    repeat: int = Field(1, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    clip_grad_norm: float | None = Field(None, gt=0)
    device: str = "auto"
    precision: Literal["32", "bf16"] = "32"
    compile: bool = False
    channels_last: bool | Literal["auto"] = "auto"
    seed: int = 0

    @field_validator("channels_last", mode="before")
    @classmethod
    def _layout(cls, value: Any) -> Any:
        if value not in (True, False, "auto") or (isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f'must be true, false or "auto", got {value!r}')
        return value


class EarlyStoppingSpec(_Spec):
    """The ``early_stopping`` section: :class:`~fitguard.train.EarlyStopping`'s options (``false`` turns it off).

    Args:
        monitor: the logged metric to watch (default "val_loss").
        mode: "min", "max" or "auto" (default): from the metric's name.
        patience: epochs without improvement before stopping, >= 0 (default 20).
        min_delta: the least change that counts as an improvement, >= 0 (default 0).
        delta_mode: "absolute" (default) or "relative" (a share of the best).
        baseline: a value the metric must beat first; None (default): none.
        start_from_epoch: epochs ignored at the start, >= 0 (default 0).
        restore_best: load the best epoch's weights back at the end (default True).
        smoothing: exponential smoothing of the metric, in [0, 1) (default 0: none).
    """
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(20, ge=0)
    min_delta: float = Field(0.0, ge=0)
    delta_mode: Literal["absolute", "relative"] = "absolute"
    baseline: float | None = None
    start_from_epoch: int = Field(0, ge=0)
    restore_best: bool = True
    smoothing: float = Field(0.0, ge=0, lt=1)


class CheckpointSpec(_Spec):
    """The ``checkpoint`` section: how often a run folder's checkpoint is written, and how many are kept.

    Args:
        every_epochs: write every this many epochs, >= 1; None (default): not by epoch count.
        every_minutes: write when this many minutes passed since the last, > 0 (default 5.0); None: not by time.
        keep_last: checkpoints kept on disk, >= 1 (default 2).
    """
    every_epochs: int | None = Field(None, ge=1)
    every_minutes: float | None = Field(5.0, gt=0)
    keep_last: int = Field(2, ge=1)


class PenaltySpec(_Spec):
    """One entry of ``remedies.penalties``: an :class:`~fitguard.regularize.L1`, :class:`~fitguard.regularize.L2` or
    :class:`~fitguard.regularize.ElasticNet`.

    Args:
        kind: "l1", "l2" or "elastic_net" (required).
        lam: strength, >= 0 (required).
        l1_ratio: elastic net's share of L1, in [0, 1] (default 0.5).
        layers: globs over parameter names; None (default): every weight matrix and kernel.
        proximal: L1 as soft-thresholding after each step (default False).
        decoupled: L2 as optimizer weight decay (default False).
    """
    kind: Literal["l1", "l2", "elastic_net"]
    lam: float = Field(ge=0)
    l1_ratio: float = Field(0.5, ge=0, le=1)
    layers: str | list[str] | None = None
    proximal: bool = False
    decoupled: bool = False


class WeightNoiseSpec(_Spec):
    """``remedies.weight_noise``: :class:`~fitguard.regularize.WeightNoise`'s options.

    Args:
        sigma: the noise's standard deviation, > 0 (required).
        relative: ``sigma`` as a share of each tensor's standard deviation (default False).
        layers: globs over parameter names; None (default): every weight matrix and kernel.
    """
    sigma: float = Field(gt=0)
    relative: bool = False
    layers: str | list[str] | None = None


class WeightAveragingSpec(_Spec):
    """``fitguard.train.WeightAveraging``: SWA (from ``start``, an epoch or a fraction of max_epochs) or an EMA.

    Args:
        kind: "swa" (default) or "ema".
        start: SWA's first epoch (an int >= 1) or a fraction of max_epochs in (0, 1); None (default): the
            callback's default.
        decay: EMA's decay, in (0, 1) (default 0.999).
        lr: SWA's constant learning rate, > 0; None (default): the optimizer's own.
    """

    kind: Literal["swa", "ema"] = "swa"
    #: an epoch number (an int >= 1) or a fraction of max_epochs in (0, 1); WeightAveraging checks which
    start: int | float | None = Field(None, gt=0)
    decay: float = Field(0.999, gt=0, lt=1)
    lr: float | None = Field(None, gt=0)


class CosineSpec(_Spec):
    """``fitguard.train.CosineAnnealing``: per-epoch cosine decay, restarting every ``cycle`` epochs (None: one).

    Args:
        cycle: the first cycle's length in epochs, >= 1; None (default): one cycle over the run.
        t_mult: each cycle's length times this gives the next's, >= 1 (default 1).
        min_lr: the learning rate at a cycle's end, >= 0 (default 0).
    """

    cycle: int | None = Field(None, ge=1)
    t_mult: int = Field(1, ge=1)
    min_lr: float = Field(0.0, ge=0)


class OneCycleSpec(_Spec):
    """``fitguard.train.OneCycle``: the rate rises to ``train.lr`` over the first ``warmup`` share of the steps and
    falls along a cosine to nearly 0 at ``max_epochs``, stepped every batch; momentum moves the other way.

    Args:
        warmup: the share of the steps spent rising, in (0, 1) (default 0.3).
        div_factor: the first rate is ``train.lr`` divided by this, >= 1 (default 25).
        final_div_factor: the last rate is the first divided by this, >= 1 (default 1e4).
        cycle_momentum: move the momentum opposite to the rate (default True).
        base_momentum: the momentum at the peak rate (default 0.85).
        max_momentum: the momentum at the lowest rates (default 0.95).
    """

    warmup: float = Field(0.3, gt=0, lt=1)
    div_factor: float = Field(25.0, ge=1)
    final_div_factor: float = Field(1e4, ge=1)
    cycle_momentum: bool = True
    base_momentum: float = Field(0.85, ge=0, lt=1)
    max_momentum: float = Field(0.95, ge=0, lt=1)


class SnapshotSpec(_Spec):
    """``fitguard.train.SnapshotEnsemble``: ``cycles`` cosine cycles; the model is the mean of the last ``keep``.

    Args:
        cycles: cosine cycles, one snapshot at the end of each, >= 1 (default 5).
        keep: snapshots averaged, >= 1; None (default): all.
        min_lr: the learning rate at a cycle's end, >= 0 (default 0).
    """

    cycles: int = Field(5, ge=1)
    keep: int | None = Field(None, ge=1)
    min_lr: float = Field(0.0, ge=0)


class LookaheadSpec(_Spec):
    """``fitguard.train.Lookahead``: every ``k`` optimizer steps the slow weights move ``alpha`` of the way.

    Args:
        k: optimizer steps between syncs, >= 1 (default 5).
        alpha: the slow weights' step, in (0, 1] (default 0.5).
    """

    k: int = Field(5, ge=1)
    alpha: float = Field(0.5, gt=0, le=1)


class AdversarialSpec(_Spec):
    """``fitguard.regularize.FGSM``: train on ``(1 - weight) * loss + weight * loss at the FGSM perturbation``.

    Args:
        epsilon: the perturbation's size, > 0 (required).
        weight: the adversarial loss's share, in (0, 1] (default 0.5).
    """

    epsilon: float = Field(gt=0)
    weight: float = Field(0.5, gt=0, le=1)


class RemediesSpec(_Spec):
    """The ``remedies`` section: regularizers added to the training (each off by default).

    Args:
        penalties: :class:`PenaltySpec` entries (default none).
        weight_noise: a :class:`WeightNoiseSpec`; None (default): none.
        input_noise: standard deviation of Gaussian noise on the features, > 0; None (default): none.
        augment: image augmentation options (rotate, shift, flip...); None (default): none.
        mixup: mixup's alpha, > 0; None (default): none.
        cutmix: cutmix's alpha, > 0; None (default): none.
        class_weight: classification: "balanced" (n_samples / (n_classes * count) on the training rows) or one
            weight per class; None (default): equal weights.
        weight_averaging: a :class:`WeightAveragingSpec`; None (default): none. Not with ``snapshots``.
        cosine: a :class:`CosineSpec`; None (default): none. Not with ``snapshots``.
        one_cycle: a :class:`OneCycleSpec`; None (default): none. Not with ``cosine`` or ``snapshots``.
        snapshots: a :class:`SnapshotSpec`; None (default): none.
        lookahead: a :class:`LookaheadSpec` around the optimizer; None (default): none.
        adversarial: an :class:`AdversarialSpec` (FGSM training); None (default): none.
    """
    penalties: list[PenaltySpec] = Field(default_factory=list)
    weight_noise: WeightNoiseSpec | None = None
    input_noise: float | None = Field(None, gt=0)
    augment: dict[str, Any] | None = None
    mixup: float | None = Field(None, gt=0)
    cutmix: float | None = Field(None, gt=0)
    #: classification: "balanced" (n_samples / (n_classes * count) on the training rows) or one weight per class
    class_weight: Literal["balanced"] | list[float] | None = None
    #: the averaging remedies of the regularization cocktail: at most one of the three decides the final weights
    weight_averaging: WeightAveragingSpec | None = None
    cosine: CosineSpec | None = None
    one_cycle: OneCycleSpec | None = None
    snapshots: SnapshotSpec | None = None
    #: the two optimizer-side remedies of the cocktail: Lookahead around the optimizer, FGSM adversarial training
    lookahead: LookaheadSpec | None = None
    adversarial: AdversarialSpec | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> RemediesSpec:
        schedules = [name for name in ("cosine", "one_cycle", "snapshots") if getattr(self, name) is not None]
        if len(schedules) > 1:
            why = " (snapshots are cosine cycles already)" if schedules[1] == "snapshots" else ""
            raise ValueError(f"`{schedules[0]}` and `{schedules[1]}` both set the learning rate schedule{why}: "
                             "keep one")
        if self.weight_averaging is not None and self.snapshots is not None:
            raise ValueError("`weight_averaging` and `snapshots` both decide the final model: keep one")
        return self

    @field_validator("class_weight", mode="before")
    @classmethod
    def _one_weight_per_class(cls, value: Any) -> Any:
        from fitguard.regularize.class_weights import check_class_weight  # torch only when a spec asks for it

        check_class_weight(value)
        return value


class TransferSpec(_Spec):
    """The ``transfer`` section: start from a pretrained backbone (:func:`fitguard.transfer.apply_backbone`).

    Args:
        backbone: a named backbone, a weights file or a run folder; None (default): no transfer.
        freeze_all_but: layer blocks left trainable at the end, >= 0; None (default): all trainable.
        unfreeze_every: unfreeze one more block every this many epochs, >= 1; None (default): never.
        body_lr_factor: the body's learning rate as a share of the head's, in (0, 1] (default 0.1).
        image_size: input side a named backbone resizes images to, >= 8; None (default): its own size.
        batchnorm: "eval" (default: the pretrained statistics stay fixed) or "train".
    """
    backbone: str | None = None
    freeze_all_but: int | None = Field(None, ge=0)
    unfreeze_every: int | None = Field(None, ge=1)
    body_lr_factor: float = Field(0.1, gt=0, le=1)
    image_size: int | None = Field(None, ge=8)
    batchnorm: Literal["eval", "train"] = "eval"


class Sections(_Spec):
    """The sections of a spec, each checked on its own (``early_stopping: false`` means off): what a whole
    :class:`TrainConfig` and a partial :class:`fitguard.recipe.Recipe` both are. Each section defaults to its
    model's defaults.

    Args:
        data: the :class:`DataSpec` section.
        model: the :class:`ModelSpec` section.
        train: the :class:`TrainSpec` section.
        early_stopping: the :class:`EarlyStoppingSpec` section; None (or ``false`` in a spec): no early stopping.
        checkpoint: the :class:`CheckpointSpec` section.
        remedies: the :class:`RemediesSpec` section.
        transfer: the :class:`TransferSpec` section.
        tensorboard: write TensorBoard event logs into the run folder (default True).
    """

    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    early_stopping: EarlyStoppingSpec | None = Field(default_factory=EarlyStoppingSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    remedies: RemediesSpec = Field(default_factory=RemediesSpec)
    transfer: TransferSpec = Field(default_factory=TransferSpec)
    tensorboard: bool = True

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _false_means_off(cls, value: Any) -> Any:
        return None if value is False else value


class TrainConfig(Sections):
    """A whole spec: its sections (as :class:`Sections`), then the checks across them.

    Raises ``ValidationError`` when ``remedies.weight_averaging`` meets ``early_stopping.restore_best`` (both would
    decide the final weights).

    Args:
        data: the :class:`DataSpec` section.
        model: the :class:`ModelSpec` section.
        train: the :class:`TrainSpec` section.
        early_stopping: the :class:`EarlyStoppingSpec` section; None (or ``false`` in a spec): no early stopping.
        checkpoint: the :class:`CheckpointSpec` section.
        remedies: the :class:`RemediesSpec` section.
        transfer: the :class:`TransferSpec` section.
        tensorboard: write TensorBoard event logs into the run folder (default True).
    """

    @model_validator(mode="after")
    def _one_final_model(self) -> TrainConfig:
        if self.remedies.weight_averaging is not None and self.early_stopping and self.early_stopping.restore_best:
            raise ValueError("`remedies.weight_averaging` decides the final weights, and so would "
                             "`early_stopping.restore_best`: set early_stopping.restore_best: false (early stopping "
                             "may still end the run) or early_stopping: false")
        return self


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            text = str(part)  # a key with a line break or other unprintable text is shown quoted, on one line
            parts.append(text if text.isprintable() and text.strip() else repr(text))
    return ".".join(parts)


def explain(error: ValidationError, source: str) -> str:
    """The first validation problem as one line: where, what is wrong, what was given.

    Args:
        error: pydantic's error from validating a spec.
        source: what the line starts with (the file's name, "config", "recipe"...).
    """
    first = error.errors()[0]
    where = _location(tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see `fitguard train --help` for the sections and keys)"
        return f"{source}: {where}: {message}"
    if first["type"] == "value_error":  # a validator's own message already names what was given
        return f"{source}: {where}: {first['ctx']['error']}" if where else f"{source}: {first['ctx']['error']}"
    message = message.replace("Input should be", "must be")
    given = first.get("input")
    shown = "" if first["type"] == "missing" else f", got {given!r}"
    return f"{source}: {where}: {message}{shown}"


def parse_config(data: Any, source: str = "config") -> TrainConfig:
    """Validate a mapping as a :class:`TrainConfig`.

    Args:
        data: the spec's sections as a mapping; None is an empty spec (all defaults).
        source: names the spec in the message (default "config").

    Raises:
        FitguardError: one line on the first problem, or when ``data`` is not a mapping.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FitguardError(f"{source}: the top level must be a mapping of sections (data, model, train, ...), "
                            f"got {type(data).__name__}")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        raise FitguardError(explain(error, source)) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read YAML (``.yaml``/``.yml``) or TOML (``.toml``) into a mapping, with syntax errors on one line.

    Args:
        path: the spec file.

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        FitguardError: another suffix, a syntax error, a top level that is not a mapping, or a spec that expands
            to more than ``MAX_SPEC_VALUES`` values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".toml":
        try:
            return _bounded(tomllib.loads(text), path)
        except tomllib.TOMLDecodeError as error:
            raise FitguardError(f"{path}: TOML syntax error: {error}") from None
        except RecursionError:
            raise FitguardError(f"{path}: nested too deeply to be a fitguard spec") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise FitguardError(f"config file {str(path)!r} must end in .yaml, .yml or .toml")
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise FitguardError(f"{path}: nested too deeply to be a fitguard spec") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise FitguardError(f"{path}: YAML syntax error{where}: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise FitguardError(f"{path}: the top level must be a mapping of sections (data, model, train, ...), "
                            f"got {type(data).__name__}")
    return _bounded(data or {}, path)


def _bounded(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Refuse a spec that expands to a huge tree: YAML aliases of aliases (a "billion laughs" file) or a cycle."""
    stack: list[Any] = [data]
    for _ in range(MAX_SPEC_VALUES):
        if not stack:
            return data
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise FitguardError(f"{path}: expands to more than {MAX_SPEC_VALUES} values (YAML aliases of aliases?); "
                        "a fitguard spec is far smaller")


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a spec file: :func:`read_config_file`, then :func:`parse_config`.

    Args:
        path: the YAML or TOML spec file; it names the spec in error messages.
    """
    return parse_config(read_config_file(path), str(path))
