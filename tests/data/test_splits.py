from __future__ import annotations

import numpy as np
import pytest
import torch

from fitguard.data import TensorData, fold_indices, holdout_indices, kfold, load, standardize_fold
from fitguard.data.splits import subsample_indices


def test_holdout_is_a_partition_with_stratified_proportions_and_deterministic():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, val, test = holdout_indices(100, labels, val=0.2, test=0.3, seed=3)
    assert (len(train), len(val), len(test)) == (50, 20, 30)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert np.bincount(labels[test]).tolist() == [15, 9, 6]
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    again = holdout_indices(100, labels, val=0.2, test=0.3, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    other = holdout_indices(100, labels, val=0.2, test=0.3, seed=4)
    assert not np.array_equal(other[2], test)


def test_zero_fractions_give_empty_parts():
    train, val, test = holdout_indices(10, val=0.0, test=0.0)
    assert len(train) == 10 and len(val) == 0 and len(test) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val": 1.0}, "`val` must be a number in [0, 1), got 1.0"),
        ({"test": -0.1}, "`test` must be a number in [0, 1), got -0.1"),
        ({"val": 0.5, "test": 0.5}, "10 rows are too few to split: `val`=0.5 and `test`=0.5 take 5 and 5 of them (at "
                                    "least one each where > 0) and leave no training row; add rows, or lower "
                                    "`val`/`test`"),
        ({"labels": np.array([0] * 9 + [1])},
         "a stratified split needs at least 2 samples of every class, but class 'b' has 1; "
         "add samples or pass stratify=False"),
        ({"labels": np.arange(10) % 5, "test": 0.1},
         "`test`=0.1 of 10 samples gives 1 test and 9 other samples, fewer than the 5 classes a stratified "
         "split must place in each; change `test` or pass stratify=False"),
    ],
)
def test_holdout_errors(kwargs, message):
    kwargs = {"val": 0.2, "test": 0.2, **kwargs}
    with pytest.raises(ValueError) as error:
        holdout_indices(10, class_names=("a", "b", "c", "d", "e"), **kwargs)
    assert str(error.value) == message


def test_fold_indices_partition_and_stratify():
    labels = np.repeat([0, 1], [12, 8])
    folds = fold_indices(20, 4, labels, seed=0)
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(20))
    for train, val in folds:
        assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == 20
        assert np.bincount(labels[val]).tolist() == [3, 2]


def test_fold_errors():
    with pytest.raises(ValueError) as error:
        fold_indices(10, 1)
    assert str(error.value) == "`k` must be an integer >= 2, got 1"
    with pytest.raises(ValueError) as error:
        fold_indices(3, 4)
    assert str(error.value) == "`k`=4 folds need at least 4 samples, got 3"
    with pytest.raises(ValueError) as error:
        fold_indices(5, 3, np.array([0, 0, 1, 1, 2]), class_names=("a", "b", "c"))
    assert str(error.value) == (
        "stratified 3-fold needs at least 3 samples of some class, but the largest class 'a' has 2; "
        "lower `k` or pass stratified=False"
    )


@pytest.mark.parametrize(
    ("small", "message"),
    [
        (2, "class 'yes' has 2 samples, fewer than the 3 folds: it is missing from 1 of the 3 validation parts"),
        (1, "class 'yes' has 1 sample, fewer than the 3 folds: it is missing from 2 of the 3 validation parts, and "
            "from the training part of the fold that validates it"),
    ],
)
def test_fold_indices_deal_a_class_smaller_than_k_one_row_per_fold_and_say_so(small, message):
    labels = np.array([0] * 9 + [1] * small)
    with pytest.warns(UserWarning) as record:
        folds = fold_indices(len(labels), 3, labels, seed=0, class_names=("no", "yes"))
    assert [str(w.message) for w in record] == [message]
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(labels)))  # no row lost
    assert sorted(int((labels[v] == 1).sum()) for _, v in folds) == [0] * (3 - small) + [1] * small
    assert sorted(int((labels[t] == 1).sum()) for t, _ in folds) == [small - 1] * small + [small] * (3 - small)
    assert [np.bincount(labels[v])[0] for _, v in folds] == [3, 3, 3]  # the large class stays stratified


def test_holdout_keeps_a_class_left_with_one_row_after_the_test_split_in_train():
    labels = np.repeat([0, 1, 2], [30, 28, 2])
    with pytest.warns(UserWarning) as record:
        train, val, test = holdout_indices(60, labels, val=0.2, test=0.3, seed=0, class_names=("a", "b", "c"))
    assert [str(w.message) for w in record] == [
        "class 'c' has 1 sample left when the val split is cut; it stays in training"
    ]
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(60))
    assert (len(train), len(val), len(test)) == (30, 12, 18)
    assert [int((labels[part] == 2).sum()) for part in (train, val, test)] == [1, 0, 1]
    for seed in range(10):  # whichever row the test split takes, the class keeps one to train on
        with pytest.warns(UserWarning):
            train, _, _ = holdout_indices(60, labels, val=0.2, test=0.3, seed=seed)
        assert (labels[train] == 2).sum() == 1


def test_subsample_keeps_a_class_with_one_training_row():
    labels = np.repeat([0, 1, 2], [20, 19, 1])
    with pytest.warns(UserWarning) as record:
        kept = subsample_indices(labels, 40, 0.5, seed=0, class_names=("a", "b", "c"))
    assert [str(w.message) for w in record] == [
        "class 'c' has 1 sample left when the training split is subsampled; it stays in training"
    ]
    assert np.bincount(labels[kept]).tolist() == [10, 10, 1] and kept.tolist() == sorted(set(kept.tolist()))


def test_kfold_on_tensors_refits_standardization_on_each_training_part():
    X = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)) * 3 + 5
    y = torch.arange(30) % 3
    folds = list(kfold(TensorData(X, y), k=3, seed=1))
    indices = fold_indices(30, 3, y.numpy(), seed=1)
    for (train, val), (train_index, val_index) in zip(folds, indices):
        assert len(train) == 20 and len(val) == 10
        # oracle: statistics of this fold's raw training rows, in float64
        mean = X[train_index].double().mean(0)
        std = X[train_index].double().std(0, unbiased=False)
        np.testing.assert_allclose(val.X.numpy(), ((X[val_index].double() - mean) / std).numpy(), atol=1e-5)
        assert torch.equal(val.y, y[val_index])


def test_standardize_fold_uses_train_statistics_only():
    train = TensorData(torch.tensor([[0.0], [2.0]]), torch.tensor([0, 1]))
    val = TensorData(torch.tensor([[4.0]]), torch.tensor([0]))
    new_train, new_val = standardize_fold(train, val)
    assert new_train.X.tolist() == [[-1.0], [1.0]]
    assert new_val.X.tolist() == [[3.0]]


def test_kfold_on_a_dataset_covers_train_and_val_and_refits_from_raw_rows():
    data = load("wine", val=0.2, test=0.2, seed=0)
    folds = list(kfold(data, k=4, seed=0))
    pool = len(data.train) + len(data.val)
    assert sum(len(v) for _, v in folds) == pool
    train, val = folds[0]
    assert len(train) + len(val) == pool
    np.testing.assert_allclose(train.X.mean(0).numpy(), 0.0, atol=1e-5)
    assert train.y.dtype == torch.int64


def test_subsample_is_stratified_and_validated():
    labels = np.repeat([0, 1], [80, 20])
    kept = subsample_indices(labels, 100, 0.1, seed=0)
    assert np.bincount(labels[kept]).tolist() == [8, 2]
    with pytest.raises(ValueError) as error:
        subsample_indices(labels, 100, 0.0, seed=0)
    assert str(error.value) == "`fraction` must be a number in (0, 1], got 0.0"
    with pytest.raises(ValueError) as error:
        subsample_indices(np.arange(100) % 10, 100, 0.05, seed=0)
    assert str(error.value) == "`fraction`=0.05 keeps 5 of 100 training samples, fewer than the 10 classes"
