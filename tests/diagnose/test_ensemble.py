"""The vmapped ensemble against R separate fits with the same seeds and batches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.diagnose.ensemble import train_ensemble


def _data(n: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 6, generator=g)
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).long() + (X[:, 3] > 1).long()


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_batched_equals_sequential(optimizer: str) -> None:
    X, y = _data()
    indices = torch.randint(0, len(X), (3, len(X)), generator=torch.Generator().manual_seed(1))
    kwargs = dict(epochs=2, batch_size=16, lr=0.01, optimizer=optimizer, weight_decay=1e-3)
    together = train_ensemble(_mlp, X, y, indices, [0, 1, 2], [5, 6, 7], **kwargs)
    apart = train_ensemble(_mlp, X, y, indices, [0, 1, 2], [5, 6, 7], batched=False, **kwargs)
    torch.testing.assert_close(together.predict(X), apart.predict(X), rtol=1e-4, atol=1e-5)
    # members really differ: own data, own init
    assert not torch.allclose(together.predict(X)[0], together.predict(X)[1])


def test_each_member_equals_a_hand_written_loop() -> None:
    X, y = _data()
    indices = torch.randint(0, len(X), (3, 50), generator=torch.Generator().manual_seed(2))
    ensemble = train_ensemble(_mlp, X, y, indices, [10, 11, 12], [20, 21, 22], epochs=3, batch_size=8, lr=0.01)
    for r in range(3):
        torch.manual_seed(10 + r)
        model = _mlp()
        adam = torch.optim.Adam(model.parameters(), lr=0.01)
        shuffle = torch.Generator().manual_seed(20 + r)
        for _ in range(3):
            order = indices[r][torch.randperm(50, generator=shuffle)]
            for start in range(0, 50, 8):
                batch = order[start : start + 8]
                adam.zero_grad()
                nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
                adam.step()
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(ensemble.predict(X)[r], model(X), rtol=1e-4, atol=1e-5)
        rebuilt = ensemble.member(r, _mlp()).eval()
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(X), model(X), rtol=1e-4, atol=1e-5)


def test_regression_with_one_dimensional_targets() -> None:
    X, _ = _data()
    y = X[:, 0] * 2.0
    indices = torch.arange(len(X)).repeat(2, 1)
    ens = train_ensemble(lambda: nn.Linear(6, 1), X, y, indices, [0, 1], [0, 0], loss="mse", epochs=30, lr=0.05)
    assert float(((ens.predict(X).squeeze(-1) - y) ** 2).mean()) < 0.05


def test_factory_seeding_leaves_the_global_rng_alone() -> None:
    X, y = _data()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    train_ensemble(_mlp, X, y, torch.arange(10).repeat(2, 1), [0, 1], [0, 1], epochs=1)
    assert torch.equal(torch.rand(1), expected)


def test_batchnorm_needs_the_sequential_path() -> None:
    X, y = _data()
    factory = lambda: nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))  # noqa: E731
    with pytest.raises(ValueError) as error:
        train_ensemble(factory, X, y, torch.arange(10).repeat(2, 1), [0, 1], [0, 1], epochs=1)
    assert str(error.value) == ("batched training cannot update BatchNorm running statistics under vmap; "
                                "pass `batched=False`")
    ens = train_ensemble(factory, X, y, torch.arange(10).repeat(2, 1), [0, 1], [0, 1], epochs=1, batched=False)
    assert ens.predict(X).shape == (2, 120, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"init_seeds": [0]}, "`init_seeds` must hold one seed per member (2), got 1"),
        ({"loss": "hinge"}, "`loss` must be one of ('cross_entropy', 'mse'), got 'hinge'"),
        ({"optimizer": "lbfgs"}, "`optimizer` must be one of ('adam', 'adamw', 'sgd'), got 'lbfgs'"),
        ({"epochs": 0}, "`epochs` must be an integer >= 1, got 0"),
        ({"lr": 0.0}, "`lr` must be > 0, got 0.0"),
    ],
)
def test_bad_input_messages(kwargs: dict, message: str) -> None:
    X, y = _data()
    arguments = dict(indices=torch.arange(10).repeat(2, 1), init_seeds=[0, 1], shuffle_seeds=[0, 1]) | kwargs
    with pytest.raises(ValueError) as error:
        train_ensemble(_mlp, X, y, **arguments)
    assert str(error.value) == message
