"""Lookahead against its closed form on a quadratic, and against a hand-written loop around Adam."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.config import parse_config
from fitguard.data.tensors import TensorData
from fitguard.models import mlp
from fitguard.recipe import build_run
from fitguard.train import Callback, Checkpoint, Lookahead, Trainer


class Point(nn.Module):
    """A model whose output is one learned vector ``w`` for every row: with the loss below its gradient is
    ``w - c`` exactly, so plain gradient descent is ``w <- c + (1 - lr) (w - c)``."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(start.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(len(x), -1)


def half_squared(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((output - target) ** 2).sum(dim=1).mean()


@pytest.mark.parametrize(("k", "alpha", "steps"), [(3, 0.5, 9), (3, 0.5, 10), (5, 0.8, 12), (1, 1.0, 7)])
def test_sgd_with_lookahead_matches_its_closed_form_on_a_quadratic(k, alpha, steps):
    # k fast steps shrink the distance to c by (1 - lr)^k; the slow step keeps 1 - alpha + alpha (1 - lr)^k of it
    lr, start, c = 0.1, torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.5, 0.5, -0.5])
    data = TensorData(torch.zeros(8, 1), c.expand(8, -1).clone())
    model = Point(start)
    Trainer(model, loss=half_squared, optimizer="sgd", momentum=0.0, lr=lr, batch_size=8, max_epochs=steps,
            callbacks=[Lookahead(k=k, alpha=alpha)]).fit(data)
    syncs, rest = divmod(steps, k)
    factor = (1 - alpha + alpha * (1 - lr) ** k) ** syncs * (1 - lr) ** rest
    torch.testing.assert_close(model.w.detach(), c + factor * (start - c), rtol=1e-6, atol=1e-6)


def test_adam_with_lookahead_equals_a_hand_written_loop_that_keeps_adams_state():
    X = torch.randn(48, 4, generator=torch.Generator().manual_seed(1))
    y = (X[:, 0] - X[:, 2] > 0).long()
    torch.manual_seed(0)
    model = mlp(4, 2, hidden=[6])
    torch.manual_seed(0)
    by_hand = mlp(4, 2, hidden=[6])
    Trainer(model, lr=1e-2, batch_size=48, max_epochs=11, callbacks=[Lookahead(k=4, alpha=0.6)]).fit(
        TensorData(X, y))
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2)
    slow = [p.detach().clone() for p in by_hand.parameters()]
    for step in range(1, 12):
        optimizer.zero_grad()
        nn.functional.cross_entropy(by_hand(X), y).backward()
        optimizer.step()
        if step % 4 == 0:
            with torch.no_grad():
                for s, p in zip(slow, by_hand.parameters()):
                    s += 0.6 * (p - s)
                    p.copy_(s)
    for a, b in zip(model.parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


class Crash(Callback):
    def __init__(self, at: int | None) -> None:
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise RuntimeError("killed")


def test_a_run_resumed_after_a_crash_continues_the_same_cycle(tmp_path):
    X = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    data = TensorData(X, (X[:, 0] > 0).long())

    def run(folder, crash_at=None, resume=False):
        torch.manual_seed(0)
        model = mlp(5, 2, hidden=[8])
        checkpoint = Checkpoint(folder, every_epochs=1, monitor="loss", save_best=False)
        # 3 steps an epoch, k = 4: the crash after epoch 3 falls between two synchronizations
        Trainer(model, max_epochs=6, batch_size=14, lr=1e-2, seed=0,
                callbacks=[Lookahead(k=4, alpha=0.5), checkpoint, Crash(crash_at)]).fit(
            data, resume=folder if resume else None)
        return model

    straight = run(tmp_path / "a")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "b", crash_at=3)
    resumed = run(tmp_path / "b", resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_spec_section_builds_the_callback():
    config = parse_config({"data": {"source": "digits", "train_fraction": 0.2}, "model": {"name": "mlp"},
                           "remedies": {"lookahead": {"k": 6, "alpha": 0.8}}, "tensorboard": False})
    run = build_run(config)
    [lookahead] = [c for c in run.trainer.callbacks if isinstance(c, Lookahead)]
    assert lookahead.get_config() == {"k": 6, "alpha": 0.8}


@pytest.mark.parametrize(("options", "message"), [
    ({"k": 0}, "`k` must be an integer >= 1, got 0"),
    ({"alpha": 0.0}, "`alpha` must be a number in (0, 1], got 0.0"),
    ({"alpha": 1.5}, "`alpha` must be a number in (0, 1], got 1.5"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as error:
        Lookahead(**options)
    assert str(error.value) == message
