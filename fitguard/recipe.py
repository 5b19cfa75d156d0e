"""Turn a validated :class:`~fitguard.config.TrainConfig` into data, a model and a configured Trainer.

The CLI, ``fitguard doctor`` and the search all build runs through here, so a spec means the same thing
everywhere.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from fitguard.architecture import ArchitectureSpec
from fitguard.config import PenaltySpec, RemediesSpec, Sections, TrainConfig, explain, parse_config
from fitguard.data import Dataset, load
from fitguard.errors import FitguardError
from fitguard.models import build_network
from fitguard.models.imported import is_import_path
from fitguard.regularize import FGSM, L1, L2, ElasticNet, InputNoise, WeightNoise
from fitguard.runs import backbone_module, saved_model
from fitguard.train import (
    Callback,
    Checkpoint,
    CosineAnnealing,
    EarlyStopping,
    Lookahead,
    MetricsLog,
    OneCycle,
    SnapshotEnsemble,
    TensorBoard,
    Trainer,
    WeightAveraging,
)
from fitguard.transfer import apply_backbone

#: model family by kind of data when the spec says ``name: auto``
AUTO_MODEL = {"table": "mlp", "signal": "cnn1d", "image": "cnn"}


class Recipe(Sections):
    """A partial :class:`~fitguard.config.TrainConfig`: the sections a candidate sets on top of a base spec.

    :meth:`apply` puts it on a base: ``model`` replaces the base's network (a different network, not a patch of
    one); every other section changes only the keys it gives (``remedies: {penalties: [...]}`` keeps the base's
    other remedies); ``early_stopping: null`` (or ``false``) turns early stopping off.

    Args:
        data: the :class:`~fitguard.config.DataSpec` keys to change.
        model: the network that replaces the base's (:class:`~fitguard.config.ModelSpec`).
        train: the :class:`~fitguard.config.TrainSpec` keys to change.
        early_stopping: the :class:`~fitguard.config.EarlyStoppingSpec` keys to change; None: early stopping off.
        checkpoint: the :class:`~fitguard.config.CheckpointSpec` keys to change.
        remedies: the :class:`~fitguard.config.RemediesSpec` keys to change.
        transfer: the :class:`~fitguard.config.TransferSpec` keys to change.
        tensorboard: whether the run writes TensorBoard event logs.

    Only the sections and keys given are applied; the others keep the base's values.

    Example:
        >>> base = TrainConfig(train={"lr": 0.01, "max_epochs": 50})
        >>> recipe = Recipe.parse({"model": {"name": "mlp", "hidden": [64]}, "train": {"lr": 0.001},
        ...                        "early_stopping": None})
        >>> config = recipe.apply(base, max_epochs=8)
        >>> config.model.name, config.train.lr, config.train.max_epochs, config.early_stopping
        ('mlp', 0.001, 8, None)
        >>> Recipe.parse({"train": {"lr": -1}}, "doctor recipe")
        Traceback (most recent call last):
        ...
        fitguard.errors.FitguardError: doctor recipe: train.lr: must be greater than 0, got -1
    """

    @classmethod
    def parse(cls, raw: dict[str, Any], source: str = "recipe") -> Recipe:
        """Validate a mapping of sections as a recipe.

        Args:
            raw: the sections the recipe sets, as a spec writes them.
            source: names the recipe in the message (default "recipe").

        Raises:
            FitguardError: the first problem in one line, as :func:`fitguard.config.parse_config` words it.
        """
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise FitguardError(explain(error, source)) from None

    def apply(self, base: TrainConfig, source: str = "recipe", **train: Any) -> TrainConfig:
        """``base`` with this recipe's sections on top, then ``train`` (options of the ``train`` section, which win
        over the recipe's); the result is validated as a whole (``remedies.weight_averaging`` with
        ``early_stopping.restore_best``, say, is refused there).

        Args:
            base: the whole spec the recipe changes (left as it is).
            source: names the recipe in error messages (default "recipe").
            **train: ``train`` section keys (``max_epochs=8``...) put on top of the recipe's.

        Raises:
            FitguardError: the first problem of the recipe or of the result, in one line.
        """
        if train:
            extra = Recipe.parse({"train": train}, source).train
            given = self.train.model_copy(update={k: getattr(extra, k) for k in extra.model_fields_set})
            return self.model_copy(update={"train": given}).apply(base, source)
        update: dict[str, Any] = {}
        for name in self.model_fields_set:
            part, current = getattr(self, name), getattr(base, name)
            if name == "model" or not isinstance(part, BaseModel) or current is None:
                update[name] = part
            else:
                update[name] = current.model_copy(update={k: getattr(part, k) for k in part.model_fields_set})
        # model_copy does not validate: the merged spec is checked once, whole
        return parse_config(base.model_copy(update=update).model_dump(), source)


@dataclass
class Run:
    """What a spec builds: the data, the model (and how to rebuild it), and its trainer.

    Args:
        config: the spec the run was built from.
        data: the loaded dataset.
        model: the network the trainer trains.
        model_name: the builder's name (``auto`` resolved).
        model_options: the builder's options, from the spec's ``model`` section.
        trainer: the configured :class:`~fitguard.train.Trainer`.
        architecture: how ``fitguard.load`` rebuilds a transferred model; None (default): the model is built from
            ``model_name`` and ``model_options``.
        member_models: for a :class:`~fitguard.models.ensemble.MeanEnsemble` of networks that are not all what
            ``model_name`` and ``model_options`` build, each network's ``(name, options)`` in the ensemble's order;
            None (default): every network is that one.
    """

    config: TrainConfig
    data: Dataset
    model: nn.Module
    model_name: str
    model_options: dict[str, Any]
    trainer: Trainer
    architecture: ArchitectureSpec | None = None  # how fitguard.load rebuilds a transferred model
    member_models: tuple[tuple[str, dict[str, Any]], ...] | None = None  # an ensemble of different networks

    def final_model(self) -> nn.Module:
        """The model the run ends with: with ``remedies.snapshots``, the mean of its snapshots (a
        :class:`~fitguard.models.ensemble.MeanEnsemble`), else the trained model."""
        snapshots = next((c for c in self.trainer.callbacks if isinstance(c, SnapshotEnsemble)), None)
        if snapshots is None or not snapshots.snapshots:
            return self.model
        return snapshots.ensemble(self.data.task)


def load_data(config: TrainConfig) -> Dataset:
    """The dataset the spec's ``data`` section names, split and preprocessed, cut to ``train_fraction`` when below 1.

    Args:
        config: the validated spec.
    """
    spec = config.data
    data = load(
        spec.source, target=spec.target, val=spec.val, test=spec.test, seed=spec.seed,
        standardize=spec.standardize, missing=spec.missing, max_categories=spec.max_categories, embed=spec.embed,
        ordinal=spec.ordinal or None, **spec.options,
    )
    if spec.train_fraction < 1:
        data = data.with_train_fraction(spec.train_fraction, seed=spec.seed)
    return data


def model_choice(config: TrainConfig, data: Dataset) -> tuple[str, dict[str, Any]]:
    """The builder's name (``auto``: the usual family for the data's kind) and its options, from the ``model`` section.

    Args:
        config: the validated spec.
        data: the loaded dataset, whose kind resolves ``auto``.
    """
    options = dict(config.model.model_extra or {})
    name = AUTO_MODEL[data.kind] if config.model.name == "auto" else config.model.name
    return name, options


def build_model(name: str, options: dict[str, Any], data: Dataset, seed: int) -> nn.Module:
    """The network ``name`` builds for ``data``'s input shape and outputs (with embeddings for code features).

    Args:
        name: the builder's name.
        options: the builder's options.
        data: the dataset the network is for.
        seed: seeds the initial weights (the same seed gives the same weights).
    """
    torch.manual_seed(seed)  # the same seed gives the same initial weights
    return build_network(name, data.input_shape, data.out_features, options, data.preprocessor.embeddings)


def make_penalty(spec: PenaltySpec) -> L1 | L2 | ElasticNet:
    """The penalty a ``remedies.penalties`` entry describes.

    Args:
        spec: one entry.

    Raises:
        ValueError: ``proximal`` with kind 'l2'.
    """
    if spec.kind == "l2":
        if spec.proximal:
            raise ValueError("`proximal` applies to kind 'l1' only, got kind 'l2'")
        return L2(spec.lam, layers=spec.layers, decoupled=spec.decoupled)
    if spec.kind == "l1":
        return L1(spec.lam, layers=spec.layers, proximal=spec.proximal)
    return ElasticNet(spec.lam, spec.l1_ratio, layers=spec.layers)


def make_augment(remedies: RemediesSpec, data: Dataset) -> Any:
    """The Trainer's ``augment`` for the spec's remedies: image augmentation, input noise, mixup and cutmix, in that
    order (one step alone, several in a :class:`~fitguard.augment.Compose`); None when none is asked for.

    Args:
        remedies: the spec's ``remedies`` section.
        data: the dataset, whose kind and task decide what applies.

    Raises:
        ValueError: ``augment`` or ``cutmix`` on non-image data, an unknown ``augment`` option, or mixup or cutmix
            for regression.
    """
    from fitguard import augment  # kornia is imported only when augmentation is asked for

    steps: list[Any] = []
    if remedies.augment:
        if data.kind != "image":
            raise ValueError(f"`remedies.augment` applies to image data, but {data.name!r} is {data.kind} data")
        allowed = sorted(p for p in inspect.signature(augment.images).parameters if p != "seed")
        unknown = sorted(set(remedies.augment) - set(allowed))
        if unknown:
            raise ValueError(f"`remedies.augment` has unknown option {unknown[0]!r}; allowed: {', '.join(allowed)}")
        steps.append(augment.images(**remedies.augment))
    if remedies.input_noise:
        steps.append(InputNoise(remedies.input_noise).augment)
    if remedies.cutmix and data.kind != "image":
        raise ValueError(f"`remedies.cutmix` pastes a box of one image into another, so it applies to image data, but "
                         f"{data.name!r} is {data.kind} data (mixup blends any rows)")
    for alpha, make in ((remedies.mixup, augment.mixup), (remedies.cutmix, augment.cutmix)):
        if alpha:
            if data.task != "classification":
                raise ValueError("mixup and cutmix apply to classification data only")
            steps.append(make(alpha, num_classes=data.num_classes))
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else augment.Compose(steps)


def make_callbacks(config: TrainConfig, out: Path | None, has_val: bool) -> list[Callback]:
    """The callbacks the spec asks for: weight averaging, cosine, one-cycle, snapshots, lookahead and early stopping,
    then, with a run folder, the metrics log, TensorBoard and the checkpoint (whose "best" follows early stopping's).

    Args:
        config: the validated spec.
        out: the run folder; None: no files are written, so no logging or checkpoint callbacks.
        has_val: whether the data has a validation split; without one, ``val_*`` monitors watch the training
            metric instead.
    """
    callbacks: list[Callback] = []
    remedies = config.remedies
    if remedies.weight_averaging is not None:
        spec = remedies.weight_averaging
        callbacks.append(WeightAveraging(spec.kind, start=spec.start, decay=spec.decay, lr=spec.lr))
    if remedies.cosine is not None:
        callbacks.append(CosineAnnealing(**remedies.cosine.model_dump()))
    if remedies.one_cycle is not None:
        callbacks.append(OneCycle(**remedies.one_cycle.model_dump()))
    if remedies.snapshots is not None:
        callbacks.append(SnapshotEnsemble(**remedies.snapshots.model_dump()))
    if remedies.lookahead is not None:
        callbacks.append(Lookahead(**remedies.lookahead.model_dump()))
    if config.early_stopping is not None:
        spec = config.early_stopping.model_dump()
        if not has_val and spec["monitor"].startswith("val_"):
            spec["monitor"] = spec["monitor"][4:]
        callbacks.append(EarlyStopping(**spec))
    if out is not None:
        callbacks.append(MetricsLog(out / "metrics.jsonl"))
        if config.tensorboard:
            callbacks.append(TensorBoard(out / "tensorboard"))
        stopper = next((c for c in callbacks if isinstance(c, EarlyStopping)), None)
        # one notion of "best": best.safetensors holds the epoch early stopping restores (Checkpoint follows it)
        monitor = stopper.monitor if stopper is not None else ("val_loss" if has_val else "loss")
        mode = stopper.mode if stopper is not None else "auto"
        callbacks.append(Checkpoint(out / "checkpoints", monitor=monitor, mode=mode, **config.checkpoint.model_dump()))
    return callbacks


def transferred_architecture(backbone: str, name: str | None = None, options: dict[str, Any] | None = None,
                             image_size: int | None = None) -> ArchitectureSpec:
    """What ``fitguard.load`` needs to rebuild a model made from ``backbone`` before loading its weights, all of it
    copied in: the model reloads after ``backbone``'s run folder is gone.

    Args:
        backbone: a fitguard run folder (``fitguard train``'s or ``fitguard doctor``'s) or saved model's
            ``.safetensors``, another weights file, or a backbone's name.
        name: the network the spec's ``model`` section builds, which a bare weights file is loaded into (needed
            for a weights file only).
        options: that network's options.
        image_size: the side images are resized to for a named backbone.
    """
    saved = _saved_description(backbone)
    if saved is not None:
        spec = ArchitectureSpec.pretrained_by_run(saved)
    elif Path(backbone).suffix:
        spec = ArchitectureSpec(kind="weights", model=name and {"name": name, "options": options or {}})
    else:
        spec = ArchitectureSpec(kind="named", name=backbone)
    return spec.model_copy(update={"image_size": image_size})


def _saved_description(backbone: str) -> dict[str, Any] | None:
    """The description of the saved fitguard model ``backbone`` names, as :func:`fitguard.runs.backbone_module`
    reads it: a run folder's ``model.json`` (``best.json`` in a doctor run), or the ``.json`` beside a
    ``.safetensors``; None for anything else."""
    path = Path(backbone).expanduser()
    if path.is_dir():
        try:
            found: Path | None = path / f"{saved_model(path)}.json"
        except FileNotFoundError:  # a folder of something else: a name load_backbone may know
            found = None
    else:
        found = path.with_suffix(".json") if path.suffix == ".safetensors" else None
    return json.loads(found.read_text()) if found is not None and found.is_file() else None


def _layout(channels_last: bool | str, name: str, backbone: str | None) -> bool | str:
    """The Trainer's ``channels_last`` for the spec's ``train.channels_last``: "auto" stays "auto" for a built-in
    network and is off for a user's (``--model package.module:function``) or a transferred backbone, whose code may
    ``view`` a channels-last activation (a reshape it cannot do without a copy); true or false as asked.

    Example:
        >>> _layout("auto", "cnn", None), _layout("auto", "mine.nets:small", None), _layout(True, "cnn", "runs/a")
        ('auto', False, True)
    """
    if channels_last != "auto":
        return channels_last
    return "auto" if backbone is None and not is_import_path(name) else False


def build_run(config: TrainConfig, out: Path | None = None, data: Dataset | None = None, quiet: bool = True) -> Run:
    """Load the data (unless given), build the model and a Trainer with the spec's remedies and callbacks.

    Args:
        config: the validated spec.
        out: the run folder for logs and checkpoints; None (default): nothing is written.
        data: the dataset to use instead of loading the spec's; None (default): load it.
        quiet: no progress bar (default True).

    Raises:
        ValueError: ``freeze_all_but`` or ``unfreeze_every`` without a ``backbone``, or a remedy that does not fit
            the data.
    """
    data = data if data is not None else load_data(config)
    name, options = model_choice(config, data)
    model = build_model(name, options, data, config.train.seed)
    transfer = config.transfer
    setup = None
    if transfer.backbone is not None:
        setup = apply_backbone(
            backbone_module(transfer.backbone), data, transfer.freeze_all_but, transfer.unfreeze_every,
            architecture=model, body_lr_factor=transfer.body_lr_factor, image_size=transfer.image_size,
            batchnorm=transfer.batchnorm,
        )
        model = setup.model
    elif transfer.freeze_all_but is not None or transfer.unfreeze_every is not None:
        raise ValueError("`freeze_all_but` and `unfreeze_every` need a `backbone` (--backbone NAME|PATH)")
    train = config.train
    loss = train.loss
    if loss == "auto":
        loss = "cross_entropy" if data.task == "classification" else "mse"
    remedies = config.remedies
    noise = remedies.weight_noise
    trainer = Trainer(
        model,
        loss=loss,
        optimizer=train.optimizer,
        lr=train.lr,
        batch_size=train.batch_size,
        max_epochs=train.max_epochs,
        repeat=train.repeat,
        weight_decay=train.weight_decay,
        nesterov=train.nesterov,
        label_smoothing=train.label_smoothing,
        penalties=[make_penalty(p) for p in remedies.penalties],
        weight_noise=WeightNoise(noise.sigma, noise.relative, noise.layers) if noise else None,
        augment=make_augment(remedies, data),
        callbacks=make_callbacks(config, out, has_val=data.val is not None) + (setup.callbacks if setup else []),
        clip_grad_norm=train.clip_grad_norm,
        device=train.device,
        precision=train.precision,
        compile=train.compile,
        channels_last=_layout(train.channels_last, name, transfer.backbone),
        seed=train.seed,
        quiet=quiet,
        class_weight=remedies.class_weight,
        adversarial=FGSM(**remedies.adversarial.model_dump()) if remedies.adversarial else None,
    )
    architecture = None
    if setup is not None:
        setup.configure(trainer)  # the body learns at body_lr_factor × lr
        architecture = transferred_architecture(transfer.backbone, name, options, transfer.image_size)
    return Run(config, data, model, name, options, trainer, architecture)
