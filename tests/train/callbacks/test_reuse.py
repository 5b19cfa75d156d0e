"""A callback object reused for a second, fresh training behaves as a new one (Keras resets its callbacks in
``on_train_begin``): a user who keeps one callbacks list for every fold must not carry one fold's best score,
schedule, average or snapshots into the next."""

from __future__ import annotations

import pytest
import torch

from fitguard.data.tensors import TensorData
from fitguard.models import mlp
from fitguard.train import (
    CosineAnnealing,
    EarlyStopping,
    Lookahead,
    ReduceLROnPlateau,
    SnapshotEnsemble,
    Trainer,
    WeightAveraging,
)

FACTORIES = {
    "EarlyStopping": lambda: EarlyStopping(monitor="val_loss", patience=2, restore_best=True),
    "ReduceLROnPlateau": lambda: ReduceLROnPlateau(patience=1, factor=0.5),
    "WeightAveraging swa": lambda: WeightAveraging("swa", start=3),
    "WeightAveraging ema": lambda: WeightAveraging("ema", decay=0.9),
    "CosineAnnealing": lambda: CosineAnnealing(cycle=3),
    "SnapshotEnsemble": lambda: SnapshotEnsemble(cycles=2),
    "Lookahead": lambda: Lookahead(k=3, alpha=0.5),
}


def _data(seed: int) -> TensorData:
    X = torch.randn(48, 5, generator=torch.Generator().manual_seed(seed))
    return TensorData(X, (X[:, 0] - X[:, 1] > 0).long())


def _fit(callback, seed: int):
    torch.manual_seed(seed)
    model = mlp(5, 2, hidden=[8])
    trainer = Trainer(model, lr=0.05, batch_size=16, max_epochs=8, device="cpu", callbacks=[callback])
    history = trainer.fit(_data(seed), _data(seed + 100))
    return model, history


@pytest.mark.parametrize("name", list(FACTORIES))
def test_a_reused_callback_trains_the_second_run_as_a_new_one_would(name):
    reused = FACTORIES[name]()
    _fit(reused, seed=1)  # a first training (a first fold) with it
    again, again_history = _fit(reused, seed=2)
    fresh, fresh_history = _fit(FACTORIES[name](), seed=2)
    for a, b in zip(again.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    strip = lambda h: [{k: v for k, v in e.items() if k != "time"} for e in h.epochs]  # noqa: E731
    assert strip(again_history) == strip(fresh_history)
    assert again_history.stop_reason == fresh_history.stop_reason
