"""Compose chains augmentations with one generator; config round-trips; the Trainer uses it on training batches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.augment import Compose, images, mixup
from fitguard.data.tensors import TensorData
from fitguard.train.trainer import Trainer


def test_chain_equals_steps_applied_by_hand() -> None:
    x, y = torch.rand(8, 1, 6, 6), torch.arange(8) % 3
    first, second = images(flip=True, rotate=10), mixup(0.4, num_classes=3)
    by_hand_gen = torch.Generator().manual_seed(0)
    expected = second(*first(x, y, by_hand_gen), by_hand_gen)
    out = Compose([first, second])(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(out[0], expected[0]) and torch.equal(out[1], expected[1])


def test_config_round_trips_through_dicts() -> None:
    chain = Compose([images(rotate=5, shift=0.1), mixup(0.2, num_classes=4)])
    config = chain.get_config()
    assert config["steps"][1] == {"type": "mixup", "config": {"alpha": 0.2, "num_classes": 4, "seed": None}}
    assert Compose(**config).get_config() == config


def test_num_classes_reaches_the_mixing_steps() -> None:
    chain = Compose([images(flip=True), mixup(0.2)])
    chain.num_classes = 3
    assert chain.steps[1].num_classes == 3 and chain.num_classes == 3


def test_errors_are_named() -> None:
    with pytest.raises(ValueError) as error:
        Compose([])
    assert str(error.value) == "`steps` must be a non-empty list of augmentations, got []"
    with pytest.raises(ValueError) as error:
        Compose([images(), 3])
    assert str(error.value) == "steps[1] must be callable as (x, y, generator) -> (x, y), got 3"
    with pytest.raises(ValueError) as error:
        Compose([{"type": "rotate"}])
    assert str(error.value) == (
        "steps[0] must have 'type' in ['cutmix', 'images', 'mixup'] and a 'config' dict, got {'type': 'rotate'}"
    )
    with pytest.raises(ValueError) as error:
        Compose([lambda x, y, g: (x, y)]).get_config()
    assert str(error.value) == (
        "steps[0] is a function, which has no config; only images, mixup, cutmix steps can be saved"
    )


class Counting:
    """Wraps an augmentation and counts the images it saw."""

    def __init__(self, inner) -> None:
        self.inner, self.seen = inner, 0

    def __call__(self, x, y, generator):
        self.seen += x.shape[0]
        return self.inner(x, y, generator)


def test_trainer_augments_training_batches_only_and_learns_with_soft_targets() -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(48, 1, 8, 8, generator=g)
    y = (X.mean(dim=(1, 2, 3)) > X.mean()).long()
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2))
    augment = Counting(Compose([images(flip=True, rotate=10), mixup(0.2, num_classes=2)]))
    trainer = Trainer(model, batch_size=16, max_epochs=2, augment=augment, device="cpu", seed=0)
    history = trainer.fit(TensorData(X[:32], y[:32]), TensorData(X[32:], y[32:]))
    assert augment.seen == 2 * 32  # validation images never went through it
    assert all(torch.isfinite(torch.tensor(history["loss"])))
