"""Discriminative learning rates and gradual unfreezing with the Trainer, and the CLI's apply_backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fitguard.data import from_arrays
from fitguard.data.tensors import TensorData
from fitguard.models import cnn, mlp
from fitguard.runs import backbone_module, save_model
from fitguard.train import Trainer
from fitguard.transfer.blocks import freeze, layer_blocks, trainable_block_count
from fitguard.transfer.training import UnfreezeSchedule, apply_backbone, discriminative_lr


def table(n: int = 32) -> TensorData:
    generator = torch.Generator().manual_seed(0)
    return TensorData(torch.randn(n, 4, generator=generator), torch.randint(0, 2, (n,), generator=generator))


def optimizer_ids(trainer: Trainer) -> list[set[int]]:
    return [{id(p) for p in g["params"]} for g in trainer.optimizer.param_groups]


def test_discriminative_lr_gives_the_body_a_lower_rate_and_keeps_group_options():
    torch.manual_seed(0)
    model = mlp(4, 2, hidden=[8])
    trainer = Trainer(model, optimizer="adamw", lr=0.01, weight_decay=0.1, device="cpu")
    discriminative_lr(trainer.optimizer, model, body_lr_factor=0.25)
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.0025]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.1]
    assert optimizer_ids(trainer) == [{id(model.output.weight), id(model.output.bias)},
                                      {id(model.linear1.weight), id(model.linear1.bias)}]
    with pytest.raises(ValueError) as error:
        discriminative_lr(trainer.optimizer, model, body_lr_factor=2)
    assert str(error.value) == "`body_lr_factor` must be a number in (0, 1], got 2"


def test_unfreeze_schedule_adds_one_block_every_n_epochs_to_the_optimizer():
    torch.manual_seed(0)
    model = freeze(mlp(4, 2, hidden=[8, 8, 8]), trainable_last=1)
    seen: list[tuple[int, int, int]] = []

    class Record(UnfreezeSchedule):
        def on_epoch_end(self, trainer, epoch, logs):
            in_optimizer = set().union(*optimizer_ids(trainer))
            trainable = {id(p) for p in trainer.model.parameters() if p.requires_grad}
            assert in_optimizer == trainable  # nothing frozen in the optimizer, nothing trainable left out
            seen.append((epoch, trainable_block_count(trainer.model), len(trainer.optimizer.param_groups)))

    schedule = Record(every=2, body_lr_factor=0.1)
    frozen_first = model.linear1.weight.detach().clone()
    trainer = Trainer(model, lr=0.01, batch_size=8, max_epochs=5, device="cpu", callbacks=[schedule])
    trainer.fit(table())
    assert seen == [(1, 1, 1), (2, 1, 1), (3, 2, 2), (4, 2, 2), (5, 3, 3)]
    assert [round(g["lr"], 6) for g in trainer.optimizer.param_groups] == [0.01, 0.001, 0.001]
    assert schedule.unfrozen == [(3, "linear3"), (5, "linear2")]
    assert torch.equal(model.linear1.weight, frozen_first)  # never unfrozen within 5 epochs
    assert schedule.state_dict() == {"initial_trainable": 1, "unfrozen": [[3, "linear3"], [5, "linear2"]]}
    assert UnfreezeSchedule(**schedule.get_config()).get_config() == {"every": 2, "body_lr_factor": 0.1}
    with pytest.raises(ValueError) as error:
        UnfreezeSchedule(every=0)
    assert str(error.value) == "`every` must be an integer >= 1, got 0"


def test_apply_backbone_reuses_a_pretrained_run_with_a_new_head(tmp_path: Path):
    rng = np.random.default_rng(0)
    source = from_arrays(rng.normal(size=(40, 1, 8, 8)).astype(np.float32), np.arange(40) % 5)
    torch.manual_seed(0)
    save_model(tmp_path, cnn(1, 5, widths=[4, 8]), "cnn", {"widths": [4, 8]}, source)
    target = from_arrays(rng.normal(size=(30, 1, 8, 8)).astype(np.float32), np.arange(30) % 3)
    setup = apply_backbone(backbone_module(tmp_path), target, freeze_all_but=1, unfreeze_every=2, body_lr_factor=0.5)
    assert setup.model.output.out_features == 3
    assert [b.trainable for b in layer_blocks(setup.model)] == [False, False, True]
    trainer = Trainer(setup.model, lr=0.01, max_epochs=3, device="cpu", callbacks=setup.callbacks)
    setup.configure(trainer)
    trainer.fit(target.train, target.val)
    assert [b.trainable for b in layer_blocks(setup.model)] == [False, True, True]
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.01, 0.005]
    with pytest.raises(ValueError) as error:
        apply_backbone(backbone_module(tmp_path), target, unfreeze_every=2)
    assert str(error.value) == ("`unfreeze_every` needs `freeze_all_but`: "
                                "with nothing frozen there is nothing to unfreeze")
