"""Turn a validated :class:`~fitguard.config.TrainConfig` into data, a model and a configured Trainer.

The CLI, ``fitguard doctor`` and the search all build runs through here, so a spec means the same thing
everywhere.
"""

from __future__ import annotations

import inspect

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fitguard.config import PenaltySpec, RemediesSpec, TrainConfig
from fitguard.data import Dataset, load
from fitguard.models import build_network
from fitguard.regularize import L1, L2, ElasticNet, InputNoise, WeightNoise
from fitguard.runs import backbone_module, saved_model
from fitguard.train import (Callback, Checkpoint, CosineAnnealing, EarlyStopping, MetricsLog, SnapshotEnsemble,
                            TensorBoard, Trainer, WeightAveraging)
from fitguard.transfer import apply_backbone

#: model family by kind of data when the spec says ``name: auto``
AUTO_MODEL = {"table": "mlp", "signal": "cnn1d", "image": "cnn"}


@dataclass
class Run:
    """What a spec builds: the data, the model (and how to rebuild it), and its trainer."""

    config: TrainConfig
    data: Dataset
    model: nn.Module
    model_name: str
    model_options: dict[str, Any]
    trainer: Trainer
    architecture: dict[str, Any] | None = None  # how fitguard.load rebuilds a transferred model (see runs.py)

    def final_model(self) -> nn.Module:
        """The model the run ends with: with ``remedies.snapshots``, the mean of its snapshots (a
        :class:`~fitguard.models.ensemble.MeanEnsemble`), else the trained model."""
        snapshots = next((c for c in self.trainer.callbacks if isinstance(c, SnapshotEnsemble)), None)
        if snapshots is None or not snapshots.snapshots:
            return self.model
        return snapshots.ensemble(self.data.task)


def load_data(config: TrainConfig) -> Dataset:
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
    options = dict(config.model.model_extra or {})
    name = AUTO_MODEL[data.kind] if config.model.name == "auto" else config.model.name
    return name, options


def build_model(name: str, options: dict[str, Any], data: Dataset, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the same seed gives the same initial weights
    return build_network(name, data.input_shape, data.out_features, options, data.preprocessor.embeddings)


def make_penalty(spec: PenaltySpec) -> L1 | L2 | ElasticNet:
    if spec.kind == "l2":
        if spec.proximal:
            raise ValueError("`proximal` applies to kind 'l1' only, got kind 'l2'")
        return L2(spec.lam, layers=spec.layers, decoupled=spec.decoupled)
    if spec.kind == "l1":
        return L1(spec.lam, layers=spec.layers, proximal=spec.proximal)
    return ElasticNet(spec.lam, spec.l1_ratio, layers=spec.layers)


def make_augment(remedies: RemediesSpec, data: Dataset) -> Any:
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
    callbacks: list[Callback] = []
    remedies = config.remedies
    if remedies.weight_averaging is not None:
        spec = remedies.weight_averaging
        callbacks.append(WeightAveraging(spec.kind, start=spec.start, decay=spec.decay, lr=spec.lr))
    if remedies.cosine is not None:
        callbacks.append(CosineAnnealing(**remedies.cosine.model_dump()))
    if remedies.snapshots is not None:
        callbacks.append(SnapshotEnsemble(**remedies.snapshots.model_dump()))
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


def transferred_architecture(backbone: str) -> dict[str, Any]:
    """What ``fitguard.load`` needs to rebuild a model made from ``backbone`` before loading its weights."""
    path = Path(backbone).expanduser()
    try:
        stem = saved_model(path) if path.is_dir() else None
    except FileNotFoundError:  # a folder of something else: a name load_backbone may know
        stem = None
    if stem is not None:
        import json

        source = json.loads((path / f"{stem}.json").read_text())
        return {"kind": "run", "model": source["model"], "input_shape": source["input_shape"],
                "out_features": source["out_features"], "architecture": source.get("architecture")}
    return {"kind": "named", "name": backbone}


def build_run(config: TrainConfig, out: Path | None = None, data: Dataset | None = None, quiet: bool = True) -> Run:
    """Load the data (unless given), build the model and a Trainer with the spec's remedies and callbacks."""
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
        label_smoothing=train.label_smoothing,
        penalties=[make_penalty(p) for p in remedies.penalties],
        weight_noise=WeightNoise(noise.sigma, noise.relative, noise.layers) if noise else None,
        augment=make_augment(remedies, data),
        callbacks=make_callbacks(config, out, has_val=data.val is not None) + (setup.callbacks if setup else []),
        clip_grad_norm=train.clip_grad_norm,
        device=train.device,
        precision=train.precision,
        compile=train.compile,
        seed=train.seed,
        quiet=quiet,
        class_weight=remedies.class_weight,
    )
    architecture = None
    if setup is not None:
        setup.configure(trainer)  # the body learns at body_lr_factor × lr
        backbone = transfer.backbone
        architecture = (transferred_architecture(backbone) if not Path(backbone).suffix
                        else {"kind": "weights", "model": {"name": name, "options": options}})
        architecture["image_size"] = transfer.image_size
    return Run(config, data, model, name, options, trainer, architecture)
