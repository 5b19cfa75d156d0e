"""Fine-tuning a backbone with the Trainer: a lower learning rate for the body, and gradual unfreezing.

How unfrozen parameters reach the optimizer: the Trainer builds its optimizer from trainable parameters only, so
frozen ones are never in it (and cannot drift through weight decay or momentum). :class:`UnfreezeSchedule` adds
the parameters of each block it unfreezes as a new optimizer group, with the body's learning rate scaled like
the current head rate (so plateau reductions carry over) and the weight decay the Trainer's own grouping gives
them. Limitation: resuming a run from a checkpoint written after a block was unfrozen needs the Trainer to
restore this callback before the optimizer (the saved optimizer has more groups than a fresh one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fitguard._validation import check_int, check_number
from fitguard.train.callbacks.base import Callback
from fitguard.transfer.backbones import load_backbone
from fitguard.transfer.blocks import freeze, layer_blocks, trainable_block_count

if TYPE_CHECKING:
    from fitguard.data import Dataset
    from fitguard.train.trainer import Trainer


def _check_factor(value: object) -> float:
    check_number("body_lr_factor", value, low=0, high=1, closed="right")
    return float(value)


def discriminative_lr(optimizer: torch.optim.Optimizer, model: nn.Module, body_lr_factor: float = 0.1) -> None:
    """Split every optimizer group into head (the last layer block, full lr) and body (lr × ``body_lr_factor``).

    Call it on a fresh optimizer (before its first step); head groups come first, so a logged ``lr`` is the
    head's.

    Args:
        optimizer: The optimizer built for ``model``, changed in place; it must not have stepped yet.
        model: The model; its last layer block (:func:`~fitguard.transfer.layer_blocks`) is the head.
        body_lr_factor: The body's learning rate as a fraction of its group's, in (0, 1]. Default 0.1.

    Raises:
        ValueError: a factor outside (0, 1], or an optimizer that has already stepped.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> discriminative_lr(optimizer, model, 0.1)
        >>> [round(g["lr"], 3) for g in optimizer.param_groups]
        [0.1, 0.01]
    """
    factor = _check_factor(body_lr_factor)
    if optimizer.state:
        raise ValueError("discriminative_lr must be applied before the optimizer's first step")
    head = {id(p) for p in layer_blocks(model)[-1].parameters()}
    groups = []
    for group in optimizer.param_groups:
        options = {key: value for key, value in group.items() if key != "params"}
        head_params = [p for p in group["params"] if id(p) in head]
        body_params = [p for p in group["params"] if id(p) not in head]
        if head_params:
            groups.append({**options, "params": head_params})
        if body_params:
            groups.append({**options, "params": body_params, "lr": group["lr"] * factor})
    optimizer.param_groups.clear()
    for group in groups:
        optimizer.add_param_group(group)


class UnfreezeSchedule(Callback):
    """Gradual unfreezing: one more layer block becomes trainable every ``every`` epochs.

    At the start of epoch ``e`` the last ``k0 + (e - 1) // every`` blocks are trainable, where ``k0`` is what
    the model had when fitting began; their parameters join the optimizer with lr × ``body_lr_factor``.

    Args:
        every: Epochs between two unfreezings, an int >= 1.
        body_lr_factor: Learning rate of each newly unfrozen block as a fraction of the Trainer's (after any
            plateau reductions), in (0, 1]. Default 0.1.

    Example:
        >>> schedule = UnfreezeSchedule(every=2, body_lr_factor=0.1)
        >>> UnfreezeSchedule(**schedule.get_config()).every
        2
    """

    def __init__(self, every: int, body_lr_factor: float = 0.1) -> None:
        check_int("every", every, low=1)
        self.every = every
        self.body_lr_factor = _check_factor(body_lr_factor)
        self.initial_trainable: int | None = None
        self.unfrozen: list[tuple[int, str]] = []  # (epoch, block name)

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.initial_trainable is None:
            self.initial_trainable = trainable_block_count(trainer.model)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self.initial_trainable is None:  # driven by hand, without on_fit_start
            self.initial_trainable = trainable_block_count(trainer.model)
        blocks = layer_blocks(trainer.model)
        target = min(self.initial_trainable + (epoch - 1) // self.every, len(blocks))
        current = trainable_block_count(trainer.model)
        if target <= current:
            return
        freeze(trainer.model, trainable_last=target)
        for block in blocks[len(blocks) - target : len(blocks) - current]:
            self.unfrozen.append((epoch, block.name))
        self._add_to_optimizer(trainer)

    def _add_to_optimizer(self, trainer: Trainer) -> None:
        from fitguard.regularize import param_groups

        present = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
        # plateau reductions scale every group alike; new groups follow the same scale
        scale = trainer.optimizer.param_groups[0]["lr"] / trainer.lr
        template = {k: v for k, v in trainer.optimizer.param_groups[0].items()
                    if k not in ("params", "lr", "weight_decay")}
        for group in param_groups(trainer.model, trainer.penalties, trainer.weight_decay):
            fresh = [p for p in group["params"] if p.requires_grad and id(p) not in present]
            if fresh:
                trainer.optimizer.add_param_group({**template, "params": fresh, "weight_decay": group["weight_decay"],
                                                   "lr": trainer.lr * scale * self.body_lr_factor})

    def on_resume(self, trainer: Trainer) -> None:
        # unfreeze what the interrupted run had unfrozen by its last epoch, so its optimizer groups exist again
        # epoch by epoch, so each unfreeze adds its own optimizer group, as it did the first time
        unfrozen = list(self.unfrozen)
        for epoch in range(1, trainer.epoch + 1):
            self.on_epoch_start(trainer, epoch)
        self.unfrozen = unfrozen

    def state_dict(self) -> dict[str, Any]:
        return {"initial_trainable": self.initial_trainable, "unfrozen": [list(u) for u in self.unfrozen]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.initial_trainable = state["initial_trainable"]
        self.unfrozen = [(int(e), str(n)) for e, n in state["unfrozen"]]

    def get_config(self) -> dict[str, Any]:
        return {"every": self.every, "body_lr_factor": self.body_lr_factor}


@dataclass
class BackboneSetup:
    """What :func:`apply_backbone` made: the model to train, callbacks to add, and the optimizer step to run.

    Args:
        model: The backbone with its new head, frozen as asked.
        callbacks: Callbacks to give the Trainer (an :class:`UnfreezeSchedule` when gradual unfreezing was
            asked). Default none.
        body_lr_factor: The body's learning rate as a fraction of the head's, used by :meth:`configure`.
            Default 0.1.
    """

    model: nn.Module
    callbacks: list[Callback] = field(default_factory=list)
    body_lr_factor: float = 0.1

    def configure(self, trainer: Trainer) -> None:
        """Give the body its lower learning rate; call right after building the Trainer, before ``fit``.

        Args:
            trainer: the Trainer built with this setup's ``model`` and ``callbacks``; its optimizer's groups change.
        """
        discriminative_lr(trainer.optimizer, trainer.model, self.body_lr_factor)


def apply_backbone(
    source: str | Path | nn.Module,
    data: Dataset,
    freeze_all_but: int | None = None,
    unfreeze_every: int | None = None,
    *,
    architecture: nn.Module | None = None,
    body_lr_factor: float = 0.1,
    image_size: int | None = None,
    batchnorm: str = "eval",
) -> BackboneSetup:
    """The model for ``--backbone SOURCE --freeze-all-but K [--unfreeze-every N]`` on ``data``.

    ``source`` is what :func:`~fitguard.transfer.backbones.load_backbone` takes (a module, a named backbone or a
    weights file); the CLI turns a run folder into its module first (``fitguard.runs.backbone_module``). The
    backbone gets a new head with ``data.out_features`` outputs; ``freeze_all_but=K`` leaves the last K layer
    blocks trainable (None: all); ``unfreeze_every=N`` unfreezes one more block every N epochs; ``batchnorm``
    as in :func:`~fitguard.transfer.backbones.load_backbone` (default 'eval': pretrained statistics stay fixed).

    Args:
        source: A module, a named backbone or a weights file (see above).
        data: The target dataset; its ``out_features`` sizes the new head.
        freeze_all_but: Layer blocks (>= 0) left trainable at the end; None (default): all trainable.
        unfreeze_every: Unfreeze one more block every this many epochs (>= 1); needs ``freeze_all_but``. None
            (default): no schedule.
        architecture: The module a weights file is loaded into; None (default) for other sources.
        body_lr_factor: The body's learning rate as a fraction of the head's, in (0, 1]. Default 0.1.
        image_size: Input side a named backbone resizes images to; None (default): its own size.
        batchnorm: ``"eval"`` (default) or ``"train"``.

    Raises:
        ValueError: ``unfreeze_every`` without ``freeze_all_but``, or an argument out of range.

    Example:
        >>> pretrained = fitguard.load("runs/pretrained").model                                # doctest: +SKIP
        >>> setup = apply_backbone(pretrained, data, freeze_all_but=1, unfreeze_every=5)       # doctest: +SKIP
        >>> trainer = Trainer(setup.model, callbacks=setup.callbacks); setup.configure(trainer)  # doctest: +SKIP
    """
    factor = _check_factor(body_lr_factor)
    if unfreeze_every is not None and freeze_all_but is None:
        raise ValueError("`unfreeze_every` needs `freeze_all_but`: with nothing frozen there is nothing to unfreeze")
    model = load_backbone(source, architecture=architecture, num_classes=data.out_features, image_size=image_size,
                          trainable_last=freeze_all_but, batchnorm=batchnorm)
    callbacks: list[Callback] = [] if unfreeze_every is None else [UnfreezeSchedule(unfreeze_every, factor)]
    return BackboneSetup(model, callbacks, factor)
