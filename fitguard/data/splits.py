"""Train/val/test holdout and k-fold splits (scikit-learn's splitters), deterministic from a seed.

Standardization is refitted on every fold's training part: statistics taken from rows a fold validates on
would leak them into training and make cross-validation look better than it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from fitguard._validation import check_int, check_number
from fitguard.data.source import RawData
from fitguard.data.standardize import apply_standardization, fit_standardization
from fitguard.data.tensors import TensorData
from fitguard.errors import FitguardError

if TYPE_CHECKING:
    from fitguard.data.dataset import Dataset


def check_fraction(name: str, value: float, *, allow_zero: bool = True) -> None:
    """``value`` in [0, 1) (or (0, 1) without ``allow_zero``).

    Args:
        name: the option's name, for the message.
        value: its value.
        allow_zero: whether 0 is allowed (default True); 1 never is.

    Raises:
        ValueError: a value outside the interval.
    """
    check_number(name, value, low=0, high=1, closed="left" if allow_zero else "neither")


def holdout_indices(
    n: int,
    labels: np.ndarray | None = None,
    *,
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    class_names: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled row indices (train, val, test); stratified on ``labels`` (class codes) when given.

    ``val`` and ``test`` are fractions of all ``n`` rows, rounded to whole rows (at least one when > 0).
    Every class needs 2 rows, so it can be both trained on and tested. A class left with a single row once
    the test split is cut (2 rows, one of them tested) keeps it in train, with a warning that says so:
    moving its last row to val would train a model that never saw the class.

    Args:
        n: Number of rows.
        labels: Class codes per row to stratify on; None (default): a plain shuffle.
        val: Share of rows for validation, in [0, 1). Default 0.2.
        test: Share of rows for testing, in [0, 1). Default 0.2.
        seed: Seed of the shuffle. Default 0.
        class_names: Names of the class codes, for messages. Default none.

    Raises:
        FitguardError: no training row left, or (stratified) a class with fewer than 2 rows.

    Example:
        >>> train, val, test = holdout_indices(10, val=0.2, test=0.3, seed=0)
        >>> len(train), len(val), len(test)
        (5, 2, 3)
    """
    check_fraction("val", val)
    check_fraction("test", test)
    n_test, n_val = _count(test, n), _count(val, n)
    if n - n_test - n_val < 1:
        raise FitguardError(f"{n} rows are too few to split: `val`={val} and `test`={test} take {n_val} and {n_test} "
                            f"of them (at least one each where > 0) and leave no training row; add rows, or lower "
                            f"`val`/`test`")
    if labels is not None and n_test + n_val > 0:
        codes, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2:
            raise FitguardError(
                f"a stratified split needs at least 2 samples of every class, but class "
                f"{_name(codes[counts.argmin()], class_names)!r} has {counts.min()}; add samples or pass stratify=False"
            )
    rest, test_index = _split(np.arange(n), labels, n_test, "test", test, seed, class_names)
    rest_labels = None if labels is None else labels[rest]
    train_index, val_index = _split(rest, rest_labels, n_val, "val", val, seed, class_names)
    return train_index, val_index, test_index


def _count(fraction: float, n: int) -> int:
    return max(1, round(fraction * n)) if fraction > 0 else 0


def _name(code: int, class_names: Sequence[str]) -> str:
    return class_names[code] if class_names else str(code)


def _hold_single_rows(index, labels, class_names, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Set aside the rows of classes with one row (a stratified split cannot place it on both sides): they
    stay on the training side. Returns (index, labels) of the rest, and the rows set aside."""
    codes, counts = np.unique(labels, return_counts=True)
    single = codes[counts < 2]
    for code in single:
        warnings.warn(f"class {_name(code, class_names)!r} has 1 sample left when {what}; it stays in training",
                      stacklevel=3)
    held = np.isin(labels, single)
    return index[~held], labels[~held], index[held]


def _split(index, labels, n_out, name, fraction, seed, class_names) -> tuple[np.ndarray, np.ndarray]:
    if n_out == 0:
        return index, index[:0]
    held = index[:0]
    if labels is not None:
        index, labels, held = _hold_single_rows(index, labels, class_names, f"the {name} split is cut")
        classes = len(np.unique(labels))
        if min(n_out, len(index) - n_out) < classes:
            raise FitguardError(
                f"`{name}`={fraction} of {len(index)} samples gives {n_out} {name} and {len(index) - n_out} other "
                f"samples, fewer than the {classes} classes a stratified split must place in each; "
                f"change `{name}` or pass stratify=False"
            )
    kept, out = train_test_split(index, test_size=n_out, random_state=seed, stratify=labels)
    return np.concatenate([np.asarray(kept), held]), np.asarray(out)


def subsample_indices(
    labels: np.ndarray | None, n: int, fraction: float, seed: int, class_names: Sequence[str] = ()
) -> np.ndarray:
    """A stratified (when ``labels``) random fraction of ``n`` rows, sorted; at least one row per class.

    A class with a single training row keeps it (with a warning), the rest is sampled.

    Args:
        labels: one label per row, to stratify by; None: a plain random draw.
        n: the rows to draw from.
        fraction: the share kept, in (0, 1] (1: every row).
        seed: seeds the draw.
        class_names: the classes, to name one in the warning (default none).
    """
    check_number("fraction", fraction, low=0, high=1, closed="right")
    if fraction == 1:
        return np.arange(n)
    index, held = np.arange(n), np.arange(0)
    if labels is not None:
        index, labels, held = _hold_single_rows(index, labels, class_names, "the training split is subsampled")
    keep = max(1, round(fraction * len(index)))
    if labels is not None:
        classes = len(np.unique(labels))
        if keep < classes:
            raise FitguardError(
                f"`fraction`={fraction} keeps {keep} of {len(index)} training samples, fewer than the {classes} classes"
            )
        if keep > len(index) - classes:
            # train_test_split needs room for every class on the discarded side too
            return np.arange(n)
    if keep == len(index):
        return np.arange(n)
    kept, _ = train_test_split(index, train_size=keep, random_state=seed, stratify=labels)
    return np.sort(np.concatenate([kept, held]))


def fold_indices(
    n: int, k: int, labels: np.ndarray | None = None, *, seed: int = 0, class_names: Sequence[str] = ()
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, val) index pairs of a shuffled k-fold; stratified on ``labels`` when given.

    A class with fewer than ``k`` rows is dealt one row per fold, so some validation parts miss it; a warning
    names how many. Only a split where no class has ``k`` rows is refused.

    Args:
        n: Number of rows.
        k: Number of folds, >= 2 and at most ``n``.
        labels: Class codes per row to stratify on; None (default): a plain shuffled k-fold.
        seed: Seed of the shuffle. Default 0.
        class_names: Names of the class codes, for messages. Default none.

    Raises:
        FitguardError: more folds than rows, or (stratified) no class with ``k`` rows.
    """
    check_int("k", k, low=2)
    if k > n:
        raise FitguardError(f"`k`={k} folds need at least {k} samples, got {n}")
    if labels is None:
        return list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n)))
    codes, counts = np.unique(labels, return_counts=True)
    if counts.max() < k:
        raise FitguardError(
            f"stratified {k}-fold needs at least {k} samples of some class, but the largest class "
            f"{_name(codes[counts.argmax()], class_names)!r} has {counts.max()}; lower `k` or pass stratified=False"
        )
    for code, count in zip(codes, counts):
        if count < k:
            # StratifiedKFold deals a class's rows one per fold: no row is dropped, some folds validate none
            lacking = "" if count > 1 else ", and from the training part of the fold that validates it"
            warnings.warn(
                f"class {_name(code, class_names)!r} has {count} sample{'s' if count > 1 else ''}, fewer than the {k} "
                f"folds: it is missing from {k - count} of the {k} validation parts{lacking}", stacklevel=2
            )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)  # said above, in our terms
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.arange(n), labels))


def standardize_fold(train: TensorData, val: TensorData) -> tuple[TensorData, TensorData]:
    """Standardize both parts with statistics of ``train`` only (per channel when X is (N, C, H, W)).

    Args:
        train: The fold's training part; its mean and std are used.
        val: The fold's validation part.

    Returns:
        New ``(train, val)`` :class:`TensorData` on the devices the inputs were on.
    """
    X_train = train.X.detach().cpu().numpy()
    mean, std = fit_standardization(X_train, per_channel=X_train.ndim == 4)

    def apply(data: TensorData) -> TensorData:
        X = torch.from_numpy(apply_standardization(data.X.detach().cpu().numpy(), mean, std)).to(data.X.device)
        return TensorData(X, data.y)

    return apply(train), apply(val)


def kfold(
    data: Dataset | TensorData, k: int = 5, *, stratified: bool = True, seed: int = 0, standardize: bool = True
) -> Iterator[tuple[TensorData, TensorData]]:
    """Yield (train, val) pairs of k-fold cross-validation.

    On a ``Dataset`` the folds cover its train and val splits together (test stays untouched) and each fold's
    preprocessing is refitted on its training part from the raw rows (``standardize`` then follows the
    dataset's own setting). On a ``TensorData`` (classification when y is int64) ``standardize`` refits
    mean/std on each training part.

    Args:
        data: A :class:`Dataset` or a :class:`TensorData`.
        k: Number of folds, >= 2. Default 5.
        stratified: Keep class proportions in every fold (classification only). Default True.
        seed: Seed of the shuffle. Default 0.
        standardize: ``TensorData`` only: standardize each fold with its training part's statistics. Default
            True. A ``Dataset`` follows its own preprocessing.

    Example:
        >>> data = TensorData(torch.randn(20, 3), torch.arange(20) % 2)
        >>> [len(v) for _, v in kfold(data, k=4)]
        [5, 5, 5, 5]
    """
    if isinstance(data, TensorData):
        classification = data.y.dtype == torch.int64 and data.y.ndim == 1
        labels = data.y.cpu().numpy() if classification and stratified else None
        for train_index, val_index in fold_indices(len(data), k, labels, seed=seed):
            parts = data.subset(train_index.tolist()), data.subset(val_index.tolist())
            yield standardize_fold(*parts) if standardize else parts
        return
    pool = _concat(data.raw_train, data.raw_val)
    pre = data.preprocessor
    codes = pre.encode_target(pool.labels).numpy() if data.task == "classification" and stratified else None
    for train_index, val_index in fold_indices(len(pool), k, codes, seed=seed, class_names=data.class_names):
        fold = pre.refit(pool.inputs[train_index], pool.labels[train_index])  # a regression target's scale too
        yield tuple(  # type: ignore[misc]
            TensorData(fold.transform(part.inputs), fold.encode_target(part.labels))
            for part in (pool.take(train_index), pool.take(val_index))
        )


def _concat(first: RawData, second: RawData | None) -> RawData:
    if second is None:
        return first
    return RawData(np.concatenate([first.inputs, second.inputs]), np.concatenate([first.labels, second.labels]))
