"""Batched k-fold training against the Trainer on each fold: equal without dropout, equal in distribution with it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from fitguard.data.tensors import TensorData
from fitguard.models.builders import cnn, cnn1d, mlp
from fitguard.regularize import L1, L2, ElasticNet
from fitguard.train import EarlyStopping, Trainer
from fitguard.train.batched import fit_folds


def _classes(n: int, shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=g, dtype=dtype)
    flat = X.flatten(1)
    return TensorData(X, (flat[:, 0] + flat[:, 1] > 0).long() + (flat[:, 2] > 0.5).long())


def _folds(shape: tuple[int, ...], sizes: tuple[int, ...] = (64, 65, 66),
           dtype: torch.dtype = torch.float32) -> list[tuple[TensorData, TensorData]]:
    # 64, 65 and 66 rows in batches of 16 are 4, 4 (the last of 17) and 5 steps: uneven batches, a member absent
    return [(_classes(n, shape, 10 + i, dtype), _classes(20 + i, shape, 20 + i, dtype)) for i, n in enumerate(sizes)]


def _sequential(factory: Callable[[], nn.Module], folds: list[tuple[TensorData, TensorData]], seeds: list[int],
                stopper: Callable[[], EarlyStopping] | None, **options: object) -> list[tuple[Trainer, object]]:
    """The oracle: fitguard's Trainer on each fold, the model built under the member's seed (as build_run does)."""
    runs = []
    for (train, val), seed in zip(folds, seeds):
        torch.manual_seed(seed)
        trainer = Trainer(factory(), device="cpu", seed=seed, callbacks=[stopper()] if stopper else [], **options)
        runs.append((trainer, trainer.fit(train, val)))
    return runs


# The CNNs run in float64: max pooling routes a gradient to the larger of two near-equal values, and a near tie
# that float32 rounding (grouped vs plain convolution kernels) breaks differently sends a row's gradient elsewhere
# -- seen here once in a few hundred steps, with both sides' gradients exact for their own forward pass.
CASES = {
    "mlp + batch norm, adam": (lambda: mlp(6, 3, hidden=[16, 16], batchnorm=True), (6,), torch.float32, {}),
    "cnn + batch norm, sgd + L2": (lambda: cnn(1, 3, widths=[4, 8], input_size=(8, 8), pool_to=2).double(), (1, 8, 8),
                                   torch.float64,
                                   {"optimizer": "sgd", "lr": 0.05, "penalties": [L2(1e-3, layers="*.weight")]}),
    # smoothing in the training loss, the plain loss in the validation scores (as the Trainer's)
    "mlp, adam, label smoothing": (lambda: mlp(6, 3, hidden=[16]), (6,), torch.float32, {"label_smoothing": 0.1}),
    "cnn1d + batch norm, adamw": (lambda: cnn1d(2, 3, widths=[4, 8], input_size=16, kernel_size=3).double(), (2, 16),
                                  torch.float64, {"optimizer": "adamw", "weight_decay": 0.01}),
}


@pytest.mark.parametrize("case", CASES)
def test_each_member_equals_the_trainer_on_its_fold(case: str) -> None:
    factory, shape, dtype, extra = CASES[case]
    folds = _folds(shape, dtype=dtype)
    seeds = [3, 4, 5]
    options = {"lr": 0.03, "batch_size": 16, "max_epochs": 12, "repeat": 2, **extra}
    stopper = lambda: EarlyStopping(patience=2, restore_best=True)  # noqa: E731
    results = fit_folds(factory, folds, seeds=seeds, early_stopping=stopper, **options)
    for result, (trainer, history), (train, val) in zip(results, _sequential(factory, folds, seeds, stopper, **options),
                                                        folds):
        assert len(result.history) == len(history)
        assert result.history.best_epoch == history.best_epoch
        assert result.history.stop_reason.split(" (")[0] == history.stop_reason.split(" (")[0]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(result.history[key], history[key], rtol=1e-4, atol=1e-5)
        for key, value in trainer.model.state_dict().items():
            if not key.endswith("num_batches_tracked"):  # one shared count in the grouped network
                torch.testing.assert_close(result.state[key], value, rtol=1e-4, atol=1e-5)
        for mine, theirs in ((result.train_scores, trainer.evaluate(train)),
                             (result.val_scores, trainer.evaluate(val, prefix="val_"))):
            assert mine.keys() == theirs.keys()
            for key in mine:
                assert mine[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5)
    # members stopped at different epochs: the grouped network shrank mid-run and the rest went on unchanged
    assert len({len(r.history) for r in results}) > 1


def test_a_members_weights_make_an_ordinary_model_with_its_scores() -> None:
    factory = lambda: mlp(6, 3, hidden=[16], batchnorm=True, dropout=0.2)  # noqa: E731
    folds = _folds((6,), (40, 41))
    results = fit_folds(factory, folds, seeds=[0, 1], max_epochs=3, batch_size=8)
    for result, (_, val) in zip(results, folds):
        model = factory()
        model.load_state_dict(result.state)
        evaluator = Trainer(model, device="cpu", batch_size=8)
        for key, value in evaluator.evaluate(val, prefix="val_").items():
            assert result.val_scores[key] == pytest.approx(value, rel=1e-5)
        assert result.history.stop_reason == "reached max_epochs=3"
        assert result.history.monitor is None


def test_regression_members_equal_the_trainer() -> None:
    g = torch.Generator().manual_seed(0)
    parts = []
    for n in (50, 51, 30, 31):
        X = torch.randn(n, 5, generator=g)
        parts.append(TensorData(X, X[:, 0] * 2 - X[:, 1] + 0.1 * torch.randn(n, generator=g)))
    folds = [(parts[0], parts[2]), (parts[1], parts[3])]
    factory = lambda: mlp(5, 1, hidden=[8], batchnorm=True)  # noqa: E731
    options = {"lr": 0.01, "batch_size": 16, "max_epochs": 5}
    results = fit_folds(factory, folds, seeds=[1, 2], loss="mse", **options)
    for result, (_, history) in zip(results, _sequential(factory, folds, [1, 2], None, loss="mse", **options)):
        np.testing.assert_allclose(result.history["val_loss"], history["val_loss"], rtol=1e-4)
        np.testing.assert_allclose(result.history["loss"], history["loss"], rtol=1e-4)


def test_with_dropout_the_fold_scores_agree_in_distribution() -> None:
    """Dropout masks differ draw by draw; over seeds the mean fold accuracy and loss must match the Trainer's."""
    factory = lambda: mlp(6, 3, hidden=[32], dropout=0.5)  # noqa: E731
    folds = _folds((6,), (60, 60, 61))
    options = {"lr": 0.01, "batch_size": 16, "max_epochs": 8}
    batched, sequential = [], []
    for seed in range(8):
        seeds = [seed] * 3  # as the doctor: every fold with the run's seed
        batched += [r.val_scores["val_accuracy"] for r in fit_folds(factory, folds, seeds=seeds, **options)]
        sequential += [t.evaluate(v, prefix="val_")["val_accuracy"]
                       for (t, _), (_, v) in zip(_sequential(factory, folds, seeds, None, **options), folds)]
    difference = np.mean(batched) - np.mean(sequential)
    spread = math.sqrt(np.var(batched, ddof=1) / len(batched) + np.var(sequential, ddof=1) / len(sequential))
    assert abs(difference) < 4 * spread + 1e-9, (np.mean(batched), np.mean(sequential), spread)
    # and the masks really are random: without dropout the same seeds give other scores
    plain = fit_folds(lambda: mlp(6, 3, hidden=[32]), folds, seeds=[7] * 3, **options)
    assert [r.val_scores["val_accuracy"] for r in plain] != batched[-3:]


def test_sibling_members_each_take_their_own_penalty_strength() -> None:
    """An L2 grid of two strengths over two folds as one grouped network of four members: each member equals the
    Trainer on its fold with its own strength (a shared penalty on top of them is every member's too)."""
    factory, shape, dtype, _ = CASES["cnn + batch norm, sgd + L2"]
    folds = _folds(shape, (48, 49), dtype=dtype)
    lams = [0.0, 0.0, 0.05, 0.05]
    options = {"optimizer": "sgd", "lr": 0.05, "batch_size": 16, "max_epochs": 6}
    shared = [L1(1e-3, layers="*.bias")]
    stopper = lambda: EarlyStopping(patience=1, restore_best=True)  # noqa: E731
    results = fit_folds(factory, folds * 2, seeds=[3, 4, 3, 4], early_stopping=stopper, penalties=shared,
                        member_penalties=[[L2(lam, layers="*.weight")] for lam in lams], **options)
    for index, lam in enumerate(lams):
        (trainer, history), = _sequential(factory, [folds[index % 2]], [3 + index % 2], stopper,
                                          penalties=[*shared, L2(lam, layers="*.weight")], **options)
        result = results[index]
        assert len(result.history) == len(history)
        np.testing.assert_allclose(result.history["loss"], history["loss"], rtol=1e-6)
        for key, value in trainer.model.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                torch.testing.assert_close(result.state[key], value, rtol=1e-6, atol=1e-8)
    # the strengths made a difference: the penalized members' weights are smaller than their unpenalized twins'
    norm = lambda state: sum(v.square().sum() for k, v in state.items() if k.endswith("weight"))  # noqa: E731
    assert norm(results[2].state) < norm(results[0].state) and norm(results[3].state) < norm(results[1].state)


@pytest.mark.parametrize("penalty", [L2(0.3), L1(0.2), ElasticNet(0.1, l1_ratio=0.25)], ids=repr)
def test_member_values_are_each_members_own_value(penalty: object) -> None:
    from fitguard.models.grouped import GroupedNet

    torch.manual_seed(0)
    members = [mlp(5, 2, hidden=[7], batchnorm=True) for _ in range(3)]
    net = GroupedNet.from_members(members)
    grouped = penalty.member_values(penalty.select(net), 3)  # type: ignore[attr-defined]
    alone = [penalty.value(penalty.select(m)) for m in members]  # type: ignore[attr-defined]
    torch.testing.assert_close(grouped, torch.stack(alone))


def test_a_passed_deadline_stops_every_member_after_one_epoch() -> None:
    results = fit_folds(lambda: mlp(6, 3, hidden=[8]), _folds((6,)), seeds=[0, 0, 0], max_epochs=5,
                        deadline=lambda: time.perf_counter() - 1)
    assert [len(r.history) for r in results] == [1, 1, 1]
    assert results[0].history.stop_reason == "stopped at the deadline after epoch 1"


def test_bad_arguments_are_named() -> None:
    folds = _folds((6,), (10, 10))
    factory = lambda: mlp(6, 3, hidden=[4])  # noqa: E731
    cases = [
        (dict(folds=[], seeds=[]), "`folds` must hold at least one (train, val) pair, got none"),
        (dict(folds=folds, seeds=[0]), "`seeds` must hold one seed per fold (2), got 1"),
        (dict(folds=folds, seeds=[0, 0], loss="bce"), "`loss` must be one of cross_entropy, mse, got 'bce'"),
        (dict(folds=folds, seeds=[0, 0], repeat=0), "`repeat` must be an integer >= 1, got 0"),
        (dict(folds=[(folds[0][0].subset([0]), folds[0][1])], seeds=[0]),
         "`folds[0]` has 1 training and 20 validation rows; need at least 2 and 1"),
        (dict(folds=folds, seeds=[0, 0], penalties=[L2(0.1, decoupled=True)]),
         "`penalties[0]` is decoupled or proximal; batched folds take coupled penalties only (train such folds "
         "with the Trainer)"),
        (dict(folds=folds, seeds=[0, 0], member_penalties=[[L2(0.1)]]),
         "`member_penalties` must hold one list per fold (2), got 1"),
        (dict(folds=folds, seeds=[0, 0], member_penalties=[[L2(0.1)], [L1(0.1)]]),
         "`member_penalties[1]` is not [L2(lam=0.1, layers=None, decoupled=False)] but for `lam`, got "
         "[L1(lam=0.1, layers=None, proximal=False, decoupled=False)]; grouped members take the same penalties, "
         "each with its own strength"),
        (dict(folds=folds, seeds=[0, 0], member_penalties=[[L1(0.1, proximal=True)], [L1(0.2, proximal=True)]]),
         "`member_penalties[0][0]` is decoupled or proximal; batched folds take coupled penalties only (train "
         "such folds with the Trainer)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as error:
            fit_folds(factory, **kwargs)  # type: ignore[arg-type]
        assert str(error.value) == message
