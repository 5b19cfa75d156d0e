"""The fitted preprocessing from raw data to model input, saved as JSON next to a trained model.

It holds everything fitted on the training split only — column order, one-hot categories, fills for missing cells
and indicators, pixel scale, standardization mean/std — so ``transform`` maps new raw data (arrays, rows with
blanks, a pandas DataFrame, a CSV or Parquet path, image arrays or files) to exactly the tensors the model was
trained on, and refuses data whose columns or image shape differ.

Format 2 added missing values and ``max_categories`` (see ``encoding.py``); a format 1 file (written before) still
loads and transforms as it did: it learned no fills, so it refuses gaps. Format 3 added a regression target's
training mean and std (``target_mean``/``target_std``); format 1 and 2 files hold none, and their models, which
learned the raw targets, keep them raw. Format 4 added embedded and ordered columns (``embed``, and a column's
``embedding``/``ordered``); an earlier file's columns are one-hot, and a refit keeps them so (``embed=False``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fitguard.data.csv_files import read_table
from fitguard.data.encoding import (
    DEFAULT_MAX_CATEGORIES,
    Column,
    RowName,
    check_max_categories,
    embedded_features,
    encode_table,
    expand_codes,
    fit_columns,
    row_label,
    standardized_features,
)
from fitguard.data.images import decode_image
from fitguard.data.missing import check_missing
from fitguard.data.source import KINDS, label_key
from fitguard.data.standardize import apply_standardization, fit_standardization
from fitguard.errors import FitguardError

FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Preprocessor:
    """Raw data -> model input; statistics (``mean``/``std``, flattened) come from the training split.

    Regression targets are standardized too (format 3): ``target_mean``/``target_std`` (one per target column,
    fitted on the training rows' targets) make ``encode_target`` return ``(y - mean) / std``, the units the
    network trains in, and ``decode_target`` maps its outputs back to the target's own units. Why: a target in
    the hundreds (diabetes' disease progression, prices) starts a freshly initialized network hundreds of units
    off, and the learning rate, weight decay and early stopping's ``min_delta`` that suit one target suit none of
    the others. Empty (classification, ``standardize=False``, or a format 1 file): targets as they are.

    Build one with :meth:`fit` (or :meth:`from_dict` for a saved one); the constructor takes the fitted state.

    Args:
        kind: ``"table"``, ``"signal"`` or ``"image"``.
        task: ``"classification"`` or ``"regression"``.
        raw_shape: One raw sample's shape: ``(columns,)`` for a table, ``(C, L)`` or ``(C, H, W)`` otherwise.
        columns: A table's fitted columns (categories, fills, indicators), in input order. Default none.
        class_names: The classes, in the order of the model's outputs. Default none.
        target: The target column's name (a CSV's), dropped from new rows that still hold it. Default None.
        pixel_scale: What image pixels are divided by (255 for 8-bit). Default 1.
        image_size: The (height, width) images are resized to; None (default): none.
        standardize: Whether inputs (and regression targets) are standardized. Default True.
        mean: Fitted feature means, flattened (per channel for images). Default none.
        std: Fitted feature standard deviations, same layout. Default none.
        target_mean: Regression targets' training mean per column; empty (default): targets as they are.
        target_std: Their standard deviation per column. Default none.
        missing: Tables: ``"impute"`` (default) or ``"error"`` for missing cells.
        max_categories: Tables: categories a column one-hot encodes (default 20); None: all.
        embed: Tables: many-category columns are embedding codes (default True) rather than ``<other>``-pooled.

    Example:
        >>> p = Preprocessor.fit(np.array([[1.0], [3.0]]), kind="table", task="regression",
        ...                      columns=(Column("x"),))
        >>> p.transform(np.array([[2.0], [5.0]])).tolist()
        [[0.0], [3.0]]
    """

    kind: str
    task: str
    raw_shape: tuple[int, ...]
    columns: tuple[Column, ...] = ()
    class_names: tuple[str, ...] = ()
    target: str | None = None
    pixel_scale: float = 1.0
    image_size: tuple[int, int] | None = None
    standardize: bool = True
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    target_mean: tuple[float, ...] = ()
    target_std: tuple[float, ...] = ()
    missing: str = "impute"
    max_categories: int | None = DEFAULT_MAX_CATEGORIES
    embed: bool = True

    @classmethod
    def fit(
        cls,
        raw_inputs: np.ndarray,
        *,
        kind: str,
        task: str,
        columns: Sequence[Column] = (),
        class_names: Sequence[str] = (),
        target: str | None = None,
        pixel_scale: float = 1.0,
        image_size: tuple[int, int] | None = None,
        standardize: bool = True,
        missing: str = "impute",
        max_categories: int | None = DEFAULT_MAX_CATEGORIES,
        embed: bool = True,
        row_name: RowName = row_label,
        targets: Any = None,
    ) -> Preprocessor:
        """Learn columns (categories, fills, indicators) and standardization from ``raw_inputs``, the training rows.

        Args:
            raw_inputs: the training rows, raw.
            kind: ``"table"``, ``"signal"`` or ``"image"``.
            task: ``"classification"`` or ``"regression"``.
            columns: a table's columns, in the order of ``raw_inputs``' cells.
            class_names: the classes, in the order of the model's outputs.
            target: the target column's name (a CSV's; ignored when new rows still hold it).
            pixel_scale: images are divided by it (255 for 8-bit pixels).
            image_size: the (height, width) images were resized to, if any.
            standardize: fit a mean and standard deviation (per feature; per channel for images).
            missing: tables: ``"impute"`` (default) fills gaps from these rows; ``"error"`` refuses them.
            max_categories: tables: categories a column one-hot encodes (default 20); ``None``: every category.
            embed: tables: a column with more categories becomes a code for a learned embedding (default);
                ``False``: its rarer categories share an ``<other>`` column (see ``encoding.py``).
            row_name: names a row in error messages.
            targets: regression: the training rows' targets, whose mean and standard deviation (per column)
                ``encode_target`` standardizes with when ``standardize``; None (default): targets as they are.
        """
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of 'table', 'signal', 'image', got {kind!r}")
        check_missing(missing)
        check_max_categories(max_categories)
        if kind == "table":
            columns = fit_columns(columns, raw_inputs, missing=missing, max_categories=max_categories,
                                  embed=embed, row_name=row_name)
            if columns and all(c.dropped for c in columns):
                raise FitguardError("every feature column is empty in the training rows; "
                                    "there is nothing to learn from")
        raw_shape = (len(columns),) if kind == "table" else tuple(int(s) for s in raw_inputs.shape[1:])
        spec = cls(kind, task, raw_shape, tuple(columns), tuple(class_names), target, float(pixel_scale),
                   image_size, standardize, missing=missing, max_categories=max_categories, embed=embed)
        if standardize and task == "regression" and targets is not None:
            spec = replace(spec, **_target_statistics(targets))
        if not standardize:
            return spec
        features = spec._features(raw_inputs, row_name)
        mean, std = fit_standardization(features, per_channel=kind == "image")
        if kind == "table":
            scaled = standardized_features(columns)
            mean, std = np.where(scaled, mean, 0.0), np.where(scaled, std, 1.0)
        return replace(spec, mean=tuple(mean.ravel().tolist()), std=tuple(std.ravel().tolist()))

    def refit(self, raw_inputs: np.ndarray, targets: Any = None) -> Preprocessor:
        """The same preprocessing learned anew from ``raw_inputs`` and, for a standardized regression target, from
        ``targets``.

        Args:
            raw_inputs: the raw input rows to learn columns and statistics from.
            targets: the same rows' targets; None (default) keeps the target statistics fitted before.
        """
        fitted = self._refit_inputs(raw_inputs)
        if self.target_mean and targets is not None:
            return replace(fitted, **_target_statistics(targets))
        return replace(fitted, target_mean=self.target_mean, target_std=self.target_std)

    def _refit_inputs(self, raw_inputs: np.ndarray) -> Preprocessor:
        """The same preprocessing, with columns and statistics learned anew from ``raw_inputs``."""
        return Preprocessor.fit(raw_inputs, kind=self.kind, task=self.task, columns=self.columns,
                                class_names=self.class_names, target=self.target, pixel_scale=self.pixel_scale,
                                image_size=self.image_size, standardize=self.standardize, missing=self.missing,
                                max_categories=self.max_categories, embed=self.embed)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "table":
            return (sum(c.width for c in self.columns),)
        return self.raw_shape

    @property
    def embeddings(self) -> tuple[tuple[int, int, int], ...]:
        """``(feature index, codes, width)`` per embedded column: what
        :func:`fitguard.models.embedding.with_embeddings` puts in front of a table network (empty: none)."""
        return embedded_features(self.columns) if self.kind == "table" else ()

    def expand(self, features: Any) -> tuple[np.ndarray, tuple[str, ...]]:
        """Transformed features (N, *input_shape) as a float64 matrix for a model without a lookup layer
        (scikit-learn's, the linear tools): embedded columns' codes become one-hot columns. Returns it with its
        feature names (None for images and signals).

        Args:
            features: what :meth:`transform` returned (a tensor or an array).
        """
        array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        array = array.reshape(len(array), -1).astype(np.float64)
        if self.kind != "table":
            return array, None
        return expand_codes(array, self.columns)

    def transform(self, raw: Any) -> torch.Tensor:
        """Raw inputs -> float32 model input (N, *input_shape).

        Args:
            raw: tables take an array/list of rows in column order, a list of dicts keyed by column name, a pandas
                DataFrame (columns matched by name), or a CSV or Parquet path; missing cells (blank, NA, NaN, None)
                are filled as learned. Signals take an array (N, *raw_shape); images an array (N, C, H, W) of raw
                pixels ((N, H, W) for one channel) or a list of image files.
        """
        row_name: RowName = row_label
        if self.kind == "table":
            raw, row_name = self._table_cells(raw)
        elif self.kind == "image" and _is_paths(raw):
            raw = self._read_images([Path(p) for p in ([raw] if isinstance(raw, (str, Path)) else raw)])
        else:
            raw = self._check_array(np.asarray(raw))
        features = self._features(raw, row_name)
        if self.standardize:
            features = apply_standardization(features, *self._statistics())
        return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))

    def encode_target(self, labels: Any) -> torch.Tensor:
        """Raw labels -> int64 class indices (classification) or float32 values (regression, standardized when the
        target was).

        Args:
            labels: the raw labels or target values, one per row (or one row of values each, for several targets).
        """
        labels = np.asarray(labels)
        if self.task == "regression":
            if not self.target_mean:
                return torch.from_numpy(labels.astype(np.float32))
            columns = self._target_columns(labels.astype(np.float64))
            scaled = apply_standardization(columns, np.asarray(self.target_mean), np.asarray(self.target_std))
            return torch.from_numpy(scaled.reshape(labels.shape))
        index = {name: i for i, name in enumerate(self.class_names)}
        # Map each distinct label once: 60,000 labels hold only a handful of distinct values.
        values, inverse = np.unique(labels.reshape(-1), return_inverse=True)
        codes = np.empty(len(values), dtype=np.int64)
        for k, value in enumerate(values.tolist()):
            if label_key(value) not in index:
                known = ", ".join(repr(n) for n in self.class_names)
                raise FitguardError(f"label {label_key(value)!r} is not one of the classes {known}")
            codes[k] = index[label_key(value)]
        return torch.from_numpy(codes[inverse.reshape(-1)])

    def decode_target(self, values: Any) -> np.ndarray:
        """Regression outputs in training units -> the target's own units: ``values * target_std + target_mean``
        per target column, as float64 (unchanged values when the target was not standardized).

        Args:
            values: (N,) or (N, columns) model outputs or encoded targets (a tensor or an array).

        Example:
            >>> p = Preprocessor.fit(np.array([[0.0], [1.0]]), kind="table", task="regression", columns=(Column("x"),),
            ...                      targets=np.array([100.0, 300.0]))
            >>> p.encode_target([300.0, 200.0]).tolist(), p.decode_target([1.0, 0.0]).tolist()
            ([1.0, 0.0], [300.0, 200.0])
        """
        array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        array = array.astype(np.float64)
        if not self.target_mean:
            return array
        columns = self._target_columns(array)
        return (columns * np.asarray(self.target_std) + np.asarray(self.target_mean)).reshape(array.shape)

    def _target_columns(self, values: np.ndarray) -> np.ndarray:
        width = len(self.target_mean)
        if values.size != len(values) * width:
            shape = values.shape[1:] or (1,)
            raise FitguardError(f"regression targets of shape (N, {', '.join(map(str, shape))}) do not fit the "
                                f"{width} target column(s) the model was fitted on")
        return values.reshape(len(values), width)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description; ``Preprocessor.from_dict(p.to_dict())`` transforms identically."""
        data = asdict(self)
        data["columns"] = [asdict(c) for c in self.columns]
        return {"format_version": FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessor:
        """The preprocessor a :meth:`to_dict` wrote (format 1 to 4).

        Args:
            data: the decoded JSON.

        Raises:
            FitguardError: an unknown ``format_version``.
        """
        data = dict(data)
        version = data.pop("format_version", None)
        if version not in READABLE_VERSIONS:
            raise FitguardError(f"preprocessor format_version must be one of {', '.join(map(str, READABLE_VERSIONS))}, "
                                f"got {version!r}")
        if version == 1:  # written before imputation: no fills (gaps refused), every category kept
            data.update(missing="error", max_categories=None)
        if version in (1, 2, 3):  # written before embeddings: columns past max_categories pooled into <other>
            data["embed"] = False
        columns = tuple(Column(**{**c, "categorical": bool(c["categorical"]), "categories": tuple(c["categories"])})
                        for c in data.pop("columns"))
        image_size = data.pop("image_size")
        return cls(
            columns=columns,
            image_size=None if image_size is None else (int(image_size[0]), int(image_size[1])),
            raw_shape=tuple(data.pop("raw_shape")),
            class_names=tuple(data.pop("class_names")),
            mean=tuple(data.pop("mean")),
            std=tuple(data.pop("std")),
            target_mean=tuple(data.pop("target_mean", ())),
            target_std=tuple(data.pop("target_std", ())),
            **data,
        )

    def _features(self, raw: np.ndarray, row_name: RowName) -> np.ndarray:
        if self.kind == "table":
            return encode_table(raw, self.columns, row_name)
        if self.kind == "signal":
            features = np.asarray(raw, dtype=np.float64)
            flat = features.reshape(len(features), -1)
            bad = np.argwhere(~np.isfinite(flat))
            if bad.size:
                raise FitguardError(f"signal has {flat[tuple(bad[0])]} at row {bad[0][0]}, position {bad[0][1]}; "
                                    "every value must be a finite number")
            return features
        # Pixels in float32: ample precision for 8-bit values, half the memory traffic of float64 on 60,000 images.
        return np.asarray(raw, dtype=np.float32) / np.float32(self.pixel_scale)

    def _statistics(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (len(self.mean), 1, 1) if self.kind == "image" else self.input_shape
        return np.asarray(self.mean).reshape(shape), np.asarray(self.std).reshape(shape)

    def _table_cells(self, raw: Any) -> tuple[np.ndarray, RowName]:
        names = [c.name for c in self.columns]
        if isinstance(raw, (str, Path)):
            table = read_table(raw)
            self._check_names(list(table.header), f"{table.kind} file {table.path}")
            return table.cells[:, [table.header.index(n) for n in names]], table.row_name
        if hasattr(raw, "columns") and hasattr(raw, "to_numpy"):  # a pandas DataFrame, without importing pandas
            header = [str(c) for c in raw.columns]
            self._check_names(header, "the DataFrame")
            return raw.to_numpy(dtype=object)[:, [header.index(n) for n in names]], row_label
        if isinstance(raw, Sequence) and raw and all(isinstance(r, Mapping) for r in raw):
            for i, row in enumerate(raw):
                self._check_names(list(row), f"row {i}")
            return np.asarray([[row[n] for n in names] for row in raw], dtype=object), row_label
        cells = np.asarray(raw, dtype=object if any(c.categorical for c in self.columns) else None)
        return (cells[None, :] if cells.ndim == 1 else cells), row_label

    def _check_names(self, given: list[str], where: str) -> None:
        expected = [c.name for c in self.columns]
        missing = [n for n in expected if n not in given]
        extra = [n for n in given if n not in expected and n != self.target]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing columns {', '.join(repr(n) for n in missing)}")
            if extra:
                parts.append(f"unexpected columns {', '.join(repr(n) for n in extra)}")
            raise FitguardError(f"{where} does not match the fitted columns: {'; '.join(parts)}")

    def _check_array(self, raw: np.ndarray) -> np.ndarray:
        if self.kind == "signal" and raw.ndim == 2 and raw.shape[1:] == (int(np.prod(self.raw_shape)),):
            raw = raw.reshape(len(raw), *self.raw_shape)
        if self.kind == "image" and self.raw_shape[0] == 1 and raw.ndim == 3 and raw.shape[1:] == self.raw_shape[1:]:
            raw = raw[:, None]  # (N, H, W) grayscale for a one-channel model
        if raw.ndim == 0 or raw.shape[1:] != self.raw_shape:
            raise FitguardError(
                f"expected raw {self.kind} data of shape (N, {', '.join(map(str, self.raw_shape))}), "
                f"got shape {raw.shape}"
            )
        return raw

    def _read_images(self, paths: list[Path]) -> np.ndarray:
        channels, height, width = self.raw_shape
        arrays = []
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"image file {path} does not exist")
            image = decode_image(path.read_bytes(), str(path), self.image_size)
            if image.shape[2] == 1 and channels == 3:
                image = np.repeat(image, 3, axis=2)
            if image.shape != (height, width, channels):
                raise FitguardError(
                    f"image {path} is {image.shape[0]}x{image.shape[1]} with {image.shape[2]} channel(s), but the "
                    f"model was fitted on {height}x{width} images with {channels} channel(s)"
                )
            arrays.append(image)
        return np.stack(arrays).transpose(0, 3, 1, 2) if arrays else np.zeros((0, *self.raw_shape), np.uint8)


def _target_statistics(targets: Any) -> dict[str, tuple[float, ...]]:
    """Mean and population std of each target column (std 0 -> 1, as for inputs)."""
    values = np.asarray(targets, dtype=np.float64)
    mean, std = fit_standardization(values.reshape(len(values), -1))
    return {"target_mean": tuple(mean.ravel().tolist()), "target_std": tuple(std.ravel().tolist())}


def _is_paths(raw: Any) -> bool:
    if isinstance(raw, (str, Path)):
        return True
    return isinstance(raw, (list, tuple)) and bool(raw) and all(isinstance(r, (str, Path)) for r in raw)
