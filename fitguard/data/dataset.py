"""``Dataset``: train/val/test tensors plus the fitted preprocessing and the raw rows they came from.

``build_dataset`` turns what a loader read (a ``RawSource``) into a ``Dataset``: check the values, encode the
classes, split (stratified), fit the preprocessing on the training split only (a table's fills for missing cells
too), transform every split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fitguard._validation import check_int
from fitguard.data.encoding import (
    DEFAULT_MAX_CATEGORIES,
    check_max_categories,
    check_table,
    encoded_names,
    ordered_columns,
)
from fitguard.data.missing import check_missing, missing_mask
from fitguard.data.preprocess import Preprocessor
from fitguard.data.source import RawData, RawSource, Truth, class_names_of
from fitguard.data.splits import holdout_indices, subsample_indices
from fitguard.data.tensors import TensorData
from fitguard.errors import FitguardError


@dataclass(frozen=True)
class Dataset:
    """Splits as tensors (float32 X; int64 y for classes, float32 y for regression) and how they were made.

    A regression ``y`` is standardized with the training rows' target mean and std (unless ``standardize`` was
    off): ``preprocessor.decode_target(test.y)`` is ``raw_test.labels`` again, up to float32 rounding.

    ``raw_train``/``raw_val``/``raw_test`` keep the rows in the user's own units:
    ``preprocessor.transform(raw_test.inputs)`` equals ``test.X``.

    Args:
        name: The dataset's name (a built-in's name, a file's stem).
        task: ``"classification"`` or ``"regression"``.
        kind: ``"table"``, ``"signal"`` or ``"image"``.
        train: The training split, preprocessed.
        val: The validation split, or None.
        test: The test split, or None.
        preprocessor: The :class:`Preprocessor` fitted on the training rows.
        class_names: Class names in the order of the class indices (empty for regression).
        feature_names: A table's encoded column names; None for signals and images.
        raw_train: The training rows in the user's units.
        raw_val: The validation rows in the user's units, or None (default).
        raw_test: The test rows in the user's units, or None (default).
        truth: The noiseless function of a synthetic dataset; None (default) for real data.

    Example:
        >>> data = load("digits")                       # doctest: +SKIP
        >>> data.input_shape, data.num_classes            # doctest: +SKIP
        ((1, 8, 8), 10)
    """

    name: str
    task: str
    kind: str
    train: TensorData
    val: TensorData | None
    test: TensorData | None
    preprocessor: Preprocessor
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] | None
    raw_train: RawData
    raw_val: RawData | None = None
    raw_test: RawData | None = None
    truth: Truth | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.preprocessor.input_shape

    @property
    def in_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.task == "classification" else None

    @property
    def out_features(self) -> int:
        if self.task == "classification":
            return len(self.class_names)
        return 1 if self.train.y.ndim == 1 else int(self.train.y.shape[1])

    def with_train_fraction(self, fraction: float, seed: int = 0) -> Dataset:
        """Keep a (stratified) random ``fraction`` of the training split; preprocessing is refitted on it.

        Validation and test splits are unchanged rows (re-transformed with the refitted statistics).

        Args:
            fraction: the share of training rows to keep, stratified by class for classification.
            seed: seeds the draw of the rows kept (default 0).
        """
        labels = self.preprocessor.encode_target(self.raw_train.labels).numpy()
        stratify = labels if self.task == "classification" else None
        raw_train = self.raw_train.take(
            subsample_indices(stratify, len(self.raw_train), fraction, seed, class_names=self.class_names)
        )
        preprocessor = self.preprocessor.refit(raw_train.inputs, raw_train.labels)
        train, val, test = _tensors(preprocessor, raw_train, self.raw_val, self.raw_test)
        return replace(self, train=train, val=val, test=test, preprocessor=preprocessor, raw_train=raw_train)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(s) if s is not None else 0}" for n, s in
                          (("train", self.train), ("val", self.val), ("test", self.test)))
        return f"Dataset({self.name!r}, {self.task}, {self.kind}, input_shape={self.input_shape}, {sizes})"


def build_dataset(
    source: RawSource,
    *,
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    standardize: bool = True,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
    embed: bool = True,
    ordinal: Mapping[str, Sequence[str]] | None = None,
) -> Dataset:
    """Split ``source`` (its own val/test splits are kept; ``val``/``test`` fractions cut the rest), fit, transform.

    Args:
        source: what a loader read.
        val: share of all rows for validation (unless the source has its own validation split).
        test: share of all rows for testing (unless the source has its own test split).
        seed: seed of the split.
        stratify: keep the class proportions in every split (classification).
        standardize: standardize the inputs with training statistics.
        missing: tables: ``"impute"`` (default) fills missing cells from the training rows (median, most frequent
            category, plus a missing indicator); ``"error"`` refuses them with their column and row.
        max_categories: tables: categories a column one-hot encodes; ``None``: all of them.
        embed: tables: a column with more categories becomes the code of a learned embedding (default); ``False``:
            its rarer categories share an ``<other>`` column.
        ordinal: tables: column name -> its categories, lowest first; such a column becomes one number, the
            category's position (see ``encoding.py``).

    Raises:
        FitguardError: values no preprocessing can take, named with their row.
    """
    check_int("seed", seed)
    check_missing(missing)
    check_max_categories(max_categories)
    if ordinal:
        if source.kind != "table":
            raise ValueError(f"`ordinal` applies to tables only, got {source.kind} data")
        source = replace(source, columns=ordered_columns(source.columns, ordinal))
    _check_values(source, missing)
    classification = source.task == "classification"
    every = [part.labels for part in (source.pool, source.val, source.test) if part is not None]
    class_names = source.class_names or (class_names_of(np.concatenate(every)) if classification else ())
    spec = Preprocessor(source.kind, source.task, (), source.columns, class_names)
    codes = spec.encode_target(source.pool.labels).numpy() if classification else None
    for name, part in (("val", source.val), ("test", source.test)):
        if part is not None and classification:
            unseen = sorted(set(spec.encode_target(part.labels).tolist()) - set(codes.tolist()))
            if unseen:
                shown = ", ".join(repr(class_names[c]) for c in unseen)
                raise FitguardError(f"classes {shown} appear in the {name} split but have no training samples")
    train_index, val_index, test_index = holdout_indices(
        len(source.pool),
        codes if stratify else None,
        val=0.0 if source.val is not None else val,
        test=0.0 if source.test is not None else test,
        seed=seed,
        class_names=class_names,
    )
    raw_train = source.pool.take(train_index)
    raw_val = source.val if source.val is not None else (source.pool.take(val_index) if len(val_index) else None)
    raw_test = source.test if source.test is not None else (source.pool.take(test_index) if len(test_index) else None)
    preprocessor = Preprocessor.fit(
        raw_train.inputs, targets=raw_train.labels, kind=source.kind, task=source.task, columns=source.columns,
        class_names=class_names,
        target=source.target, pixel_scale=source.pixel_scale, image_size=source.image_size, standardize=standardize,
        missing=missing, max_categories=max_categories, embed=embed,
    )
    train, val_data, test_data = _tensors(preprocessor, raw_train, raw_val, raw_test)
    return Dataset(
        name=source.name, task=source.task, kind=source.kind, train=train, val=val_data, test=test_data,
        preprocessor=preprocessor, class_names=class_names,
        feature_names=encoded_names(preprocessor.columns) if source.kind == "table" else None,
        raw_train=raw_train, raw_val=raw_val, raw_test=raw_test, truth=source.truth,
    )


def _tensors(preprocessor: Preprocessor, *parts: RawData | None) -> tuple[TensorData | None, ...]:
    return tuple(
        None if part is None
        else TensorData(preprocessor.transform(part.inputs), preprocessor.encode_target(part.labels))
        for part in parts
    )


def _check_values(source: RawSource, missing: str) -> None:
    """Refuse bad values (and, with ``missing="error"``, missing cells) before shuffling, while row numbers still
    mean something to the user. A row needs its target whatever ``missing`` says: no label, nothing to learn."""
    for split, part in (("", source.pool), ("val ", source.val), ("test ", source.test)):
        if part is None:
            continue
        names = source.row_name if (source.row_name is not None and not split) else (lambda i, s=split: f"{s}row {i}")
        if source.task == "classification":
            gaps = missing_mask(np.asarray(part.labels).reshape(-1))
            if gaps.any():
                raise FitguardError(f"target has no value at {names(int(np.flatnonzero(gaps)[0]))}; every row needs "
                                    "one: fill it in or remove the row")
        if source.kind == "table":
            check_table(part.inputs, source.columns, missing=missing, row_name=names)
        elif np.issubdtype(part.inputs.dtype, np.floating):
            _check_finite(part.inputs.reshape(len(part), -1), "inputs", names)
        if source.task == "regression":
            _check_finite(np.asarray(part.labels, dtype=np.float64).reshape(len(part), -1), "target", names)


def _check_finite(values: np.ndarray, what: str, row_name) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        where = row_name(i) + (f", position {j}" if values.shape[1] > 1 else "")
        raise FitguardError(f"{what} has {values[i, j]} at {where}; every value must be a finite number")
