"""Layer blocks and freezing: frozen weights and batch-norm statistics do not move while training, others do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.data.tensors import TensorData
from fitguard.models import cnn, mlp
from fitguard.train import Trainer
from fitguard.transfer.blocks import freeze, hold_batchnorm, layer_blocks, trainable_block_count


def images(n: int = 48, seed: int = 0) -> TensorData:
    generator = torch.Generator().manual_seed(seed)
    return TensorData(torch.randn(n, 1, 8, 8, generator=generator), torch.randint(0, 3, (n,), generator=generator))


def test_blocks_group_a_weighted_layer_with_its_norm_activation_and_pooling():
    blocks = layer_blocks(cnn(1, 3, widths=[4, 8]))
    assert [b.name for b in blocks] == ["conv1", "conv2", "output"]
    assert [type(m).__name__ for m in blocks[0].modules] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [b.name for b in layer_blocks(mlp(4, 2, hidden=[8], batchnorm=True))] == ["linear1", "output"]


def test_blocks_of_a_custom_module_open_containers_and_keep_custom_units_whole():
    class Unit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.b(self.a(x))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.units = nn.ModuleList([Unit(), Unit()])
            self.norm = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 2)

    assert [b.name for b in layer_blocks(Net())] == ["units.0", "units.1", "fc"]


def test_freeze_sets_requires_grad_by_block_and_validates():
    model = freeze(mlp(4, 2, hidden=[8, 8]), trainable_last=1)
    assert [b.trainable for b in layer_blocks(model)] == [False, False, True]
    assert trainable_block_count(model) == 1
    freeze(model, trainable_last=5)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError) as error:
        freeze(model, trainable_last=-1)
    assert str(error.value) == "`trainable_last` must be an integer >= 0, got -1"
    with pytest.raises(ValueError) as error:
        layer_blocks(nn.Sequential(nn.ReLU()))
    assert str(error.value) == "the model (Sequential) has no parameters, so it has no layer blocks to freeze"


def test_training_leaves_frozen_blocks_bit_identical_and_out_of_the_optimizer():
    torch.manual_seed(0)
    model = freeze(cnn(1, 3, widths=[4, 8], batchnorm=True), trainable_last=1)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    trainer = Trainer(model, lr=0.05, batch_size=8, max_epochs=3, device="cpu")
    trainer.fit(images())
    in_optimizer = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_optimizer for p in model.parameters() if not p.requires_grad)
    assert set(frozen) == {"conv1.weight", "norm1.weight", "norm1.bias", "conv2.weight", "norm2.weight", "norm2.bias"}
    for name, before in frozen.items():
        assert torch.equal(model.get_parameter(name), before), name
    for name, before in trainable.items():
        assert not torch.equal(model.get_parameter(name), before), name
    # Trainer calls model.train() every epoch; the frozen batch norms still kept their running statistics
    for name, before in buffers.items():
        assert torch.equal(model.get_buffer(name), before), name


def test_batchnorm_of_trainable_blocks_still_updates_and_unfreezing_restores_training_mode():
    model = freeze(mlp(4, 2, hidden=[8, 8], batchnorm=True), trainable_last=2)
    x = torch.randn(16, 4)
    model.train()
    model(x)
    assert torch.equal(model.norm1.running_mean, torch.zeros(8))
    assert not torch.equal(model.norm2.running_mean, torch.zeros(8))
    freeze(model, trainable_last=3)
    model.train()
    model(x)
    assert model.norm1.training and not torch.equal(model.norm1.running_mean, torch.zeros(8))


def test_held_batchnorm_normalizes_with_running_statistics_in_train_mode_while_its_affine_weights_learn():
    torch.manual_seed(0)
    model = hold_batchnorm(cnn(1, 3, widths=[4, 8], batchnorm=True))
    model.norm2.running_mean.fill_(0.5)  # pretrained statistics, not the defaults
    model.norm2.running_var.fill_(2.0)
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    affine = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("norm")}
    x = images(8).X
    reference = cnn(1, 3, widths=[4, 8], batchnorm=True)  # the same weights and statistics, never held
    reference.load_state_dict(model.state_dict())
    model.train()
    assert torch.equal(model(x), reference.eval()(x))  # same as inference, although the model is in train mode
    trainer = Trainer(model, lr=0.05, batch_size=8, max_epochs=3, device="cpu")
    trainer.fit(images())
    for name, before in buffers.items():
        assert torch.equal(model.get_buffer(name), before), name
    for name, before in affine.items():
        assert not torch.equal(model.get_parameter(name), before), name


def test_held_batchnorm_survives_gradual_unfreezing_and_releasing_it_restores_train_mode():
    model = freeze(hold_batchnorm(mlp(4, 2, hidden=[8, 8], batchnorm=True)), trainable_last=1)
    freeze(model, trainable_last=3)  # what UnfreezeSchedule does: every block trainable now, still held
    x = torch.randn(16, 4)
    model.train()
    model(x)
    assert torch.equal(model.norm1.running_mean, torch.zeros(8)) and not model.norm1.training
    freeze(model, trainable_last=1)
    hold_batchnorm(model, hold=False)  # released, but the frozen blocks still keep their statistics
    model.train()
    model(x)
    assert torch.equal(model.norm1.running_mean, torch.zeros(8))
    freeze(model, trainable_last=3)
    model.train()
    model(x)
    assert model.norm1.training and not torch.equal(model.norm1.running_mean, torch.zeros(8))
