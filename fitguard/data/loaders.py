"""The entry points: ``load(source)`` for a built-in name or a path, and one ``from_*`` function per format.

All take the same split options — ``val``/``test`` fractions of all rows (a source's own val/test split is kept
instead), ``seed``, ``stratify``, ``standardize`` — and the table options ``missing`` (``"impute"``: fill missing
cells from the training rows, the default; ``"error"``: refuse them) and ``max_categories`` (see
``encoding.py``), and return a ``Dataset``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fitguard.data.archives import DEFAULT_MAX_UNCOMPRESSED_BYTES
from fitguard.data.builtin import BUILTIN, LOADERS
from fitguard.data.csv_files import CsvTable, read_csv, read_parquet
from fitguard.data.dataset import Dataset, build_dataset
from fitguard.data.encoding import DEFAULT_MAX_CATEGORIES, infer_columns, numeric_columns
from fitguard.data.image_folders import normalize_image_size, read_image_folder
from fitguard.data.source import RawData, RawSource, check_task, infer_task
from fitguard.errors import FitguardError

#: CSV targets that are whole numbers with at most this many distinct values are taken as classes.
MAX_INTEGER_CLASSES = 20


def load(
    source: str | Path,
    *,
    target: str | None = None,
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    standardize: bool = True,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
    embed: bool = True,
    ordinal: Mapping[str, Sequence[str]] | None = None,
    **options: Any,
) -> Dataset:
    """Load a built-in dataset by name, or a ``.csv``, ``.parquet`` (with pyarrow), ``.npz``, image folder or
    ``.zip`` of one by path.

    ``options`` go to the matching loader (e.g. ``limit_per_class=100`` for images, ``n_samples=`` for
    ``synthetic_regression``). ``missing``, ``max_categories``, ``embed`` and ``ordinal`` apply to tables (see the
    module docstring and :func:`fitguard.data.build_dataset`).

    Args:
        source: A built-in name (``BUILTIN``) or a path to a .csv, .parquet, .npz, image folder or .zip.
        target: CSV and Parquet files: the label column; None (default) for other sources (any other
            source refuses one).
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Tables: ``"impute"`` (default; training rows' median or most frequent category, plus a
            missing-indicator column) or ``"error"`` (refuse missing cells, naming column and row).
        max_categories: Tables: categories a column one-hot encodes (default 20); ``None``: all of them.
        embed: Tables: a column with more than ``max_categories`` categories becomes the code of a learned
            embedding (default True); False: its rarer categories share an ``<other>`` column.
        ordinal: Tables: column name -> its categories, lowest first; such a column becomes one number, the
            category's position. Default None.
        **options: Extra options of the matching loader (unknown ones raise ``ValueError``).

    Raises:
        ValueError: an option the source does not take.
        FileNotFoundError: a path that does not exist.
        FitguardError: an unknown built-in name, or a file of another type.

    Example:
        >>> data = load("digits", val=0.2, test=0.2, seed=0)
        >>> len(data.train), data.input_shape, data.num_classes
        (1079, (1, 8, 8), 10)
    """
    split = dict(val=val, test=test, seed=seed, stratify=stratify, standardize=standardize, missing=missing,
                 max_categories=max_categories)
    table = dict(embed=embed, ordinal=ordinal)
    if isinstance(source, str) and source in LOADERS:
        if target is not None:
            raise ValueError(f"`target` applies to CSV files only, got target={target!r} for built-in {source!r}")
        loader = LOADERS[source]
        _check_options(options, loader, f"built-in dataset {source!r}", by_path=False)
        return build_dataset(loader(**options), **split, **table)
    path = Path(source).expanduser()
    if not path.exists():
        if isinstance(source, str) and "/" not in source and "\\" not in source and not path.suffix:
            raise FitguardError(
                f"unknown dataset {source!r}; built-in datasets: {', '.join(BUILTIN)} "
                "(or give a path to a .csv, .npz, image folder or .zip)"
            )
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix.lower() == ".csv":
        _check_options(options, from_csv, "CSV files")
        return from_csv(path, target, **split, **table, **options)
    if path.suffix.lower() == ".parquet":
        _check_options(options, from_parquet, "Parquet files")
        return from_parquet(path, target, **split, **table, **options)
    if ordinal:
        raise ValueError(f"`ordinal` applies to tables (CSV and Parquet files) only, got {path}")
    if target is not None:
        raise ValueError(f"`target` applies to CSV files only, got target={target!r} for {path}")
    if path.suffix.lower() == ".npz":
        _check_options(options, from_npz, "NPZ files")
        return from_npz(path, **split, **options)
    if path.is_dir() or path.suffix.lower() == ".zip":
        _check_options(options, from_folder, "image folders")
        return from_folder(path, **split, **options)
    raise FitguardError(f"cannot load {path}: expected a .csv, .parquet or .npz file, an image folder or a .zip of one")


def _check_options(options: dict[str, Any], function: Callable[..., Any], what: str, by_path: bool = True) -> None:
    taken = ({"val", "test", "seed", "stratify", "standardize", "missing", "max_categories", "embed", "ordinal",
              "target"}
             | ({"path"} if by_path else set()))
    allowed = sorted(p for p in inspect.signature(function).parameters if p not in taken)
    for name in options:
        if name not in allowed:
            raise ValueError(f"unknown option {name!r} for {what}; allowed: {', '.join(allowed) or 'none'}")


def from_csv(
    path: str | Path,
    target: str | None,
    *,
    task: str | None = None,
    delimiter: str = ",",
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
    """A CSV table; ``target`` names the label column, every other column is a feature.

    Numeric columns stay numbers, the others become one-hot columns (categories from the training split), or the
    code of a learned embedding past ``max_categories`` categories (``embed``), or one number when ``ordinal``
    gives their order. Blank
    cells (and NA, NaN, ?) are missing: filled from the training split with a missing indicator, or refused with
    ``missing="error"``. The target is a class label unless it is numeric and not a small set of whole numbers
    (then regression); ``task`` overrides.

    Args:
        path: The CSV file (first row: column names).
        target: The label column's name; None raises ``ValueError`` listing the available columns.
        task: ``"classification"`` or ``"regression"``; None (default): inferred from the labels.
        delimiter: The field separator. Default ``","``.
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Tables: ``"impute"`` (default; training rows' median or most frequent category, plus a
            missing-indicator column) or ``"error"`` (refuse missing cells, naming column and row).
        max_categories: Tables: categories a column one-hot encodes (default 20); ``None``: all of them.
        embed: Tables: a column with more than ``max_categories`` categories becomes the code of a learned
            embedding (default True); False: its rarer categories share an ``<other>`` column.
        ordinal: Tables: column name -> its categories, lowest first; such a column becomes one number, the
            category's position. Default None.

    Raises:
        ValueError: an option out of range, or no ``target``.
        FitguardError: cells no preprocessing can take (named with their row), or a class only in val/test.

    Example:
        >>> data = from_csv("patients.csv", target="outcome")  # doctest: +SKIP
    """
    check_task(task)
    return _from_table(read_csv(path, delimiter), target, task, val=val, test=test, seed=seed, stratify=stratify,
                       standardize=standardize, missing=missing, max_categories=max_categories, embed=embed,
                       ordinal=ordinal)


def from_parquet(
    path: str | Path,
    target: str | None,
    *,
    task: str | None = None,
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
    """A Parquet table, read with the optional ``pyarrow`` (``pip install pyarrow``); otherwise as :func:`from_csv`.

    Args:
        path: The Parquet file.
        target: The label column's name; None raises ``ValueError`` listing the available columns.
        task: ``"classification"`` or ``"regression"``; None (default): inferred from the labels.
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Tables: ``"impute"`` (default; training rows' median or most frequent category, plus a
            missing-indicator column) or ``"error"`` (refuse missing cells, naming column and row).
        max_categories: Tables: categories a column one-hot encodes (default 20); ``None``: all of them.
        embed: Tables: a column with more than ``max_categories`` categories becomes the code of a learned
            embedding (default True); False: its rarer categories share an ``<other>`` column.
        ordinal: Tables: column name -> its categories, lowest first; such a column becomes one number, the
            category's position. Default None.

    Raises:
        ValueError: an option out of range, or no ``target``.
        FitguardError: cells no preprocessing can take (named with their row), or a class only in val/test.

    Example:
        >>> data = from_parquet("patients.parquet", target="outcome")  # doctest: +SKIP
    """
    check_task(task)
    return _from_table(read_parquet(path), target, task, val=val, test=test, seed=seed, stratify=stratify,
                       standardize=standardize, missing=missing, max_categories=max_categories, embed=embed,
                       ordinal=ordinal)


def _from_table(table: CsvTable, target: str | None, task: str | None, **split: Any) -> Dataset:
    if target is None:
        available = ", ".join(repr(h) for h in table.header)
        raise ValueError(f"`target` (`--target` on the command line) is required for {table.kind} files; available "
                         f"columns: {available}")
    target_index = table.column(target)
    feature_index = [j for j in range(len(table.header)) if j != target_index]
    if not feature_index:
        raise FitguardError(f"{table.kind} file {table.path} has no feature columns besides the target {target!r}")
    names = [table.header[j] for j in feature_index]
    cells = table.cells[:, feature_index]
    labels = table.cells[:, target_index]
    task = task or _csv_task(labels)
    if task == "regression":
        labels = _csv_numbers(labels, target, table.row_name)
    source = RawSource(table.path.stem, "table", RawData(cells, labels), task, columns=infer_columns(names, cells),
                       target=target, row_name=table.row_name)
    return build_dataset(source, **split)


def _csv_task(labels: np.ndarray) -> str:
    try:
        values = np.asarray(labels, dtype=np.float64)
    except (ValueError, TypeError):  # text, or a Parquet null
        return "classification"
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    return "classification" if whole and len(np.unique(values)) <= MAX_INTEGER_CLASSES else "regression"


def _csv_numbers(labels: np.ndarray, target: str, row_name: Callable[[int], str]) -> np.ndarray:
    for i, value in enumerate(labels.tolist()):
        try:
            float(value)
        except (ValueError, TypeError):
            raise FitguardError(
                f"target column {target!r} has {value!r} at {row_name(i)}; regression needs numbers"
            ) from None
    return np.asarray(labels, dtype=np.float64)


def from_npz(
    path: str | Path,
    *,
    task: str | None = None,
    kind: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    standardize: bool = True,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
) -> Dataset:
    """An ``.npz`` holding arrays ``X`` and ``y`` (never unpickled); see ``from_arrays`` for the options.

    Args:
        path: The ``.npz`` file; it must hold arrays ``X`` and ``y`` (object arrays are refused, never unpickled).
        task: ``"classification"`` or ``"regression"``; None (default): inferred from the labels.
        kind: ``"table"``, ``"signal"`` or ``"image"``; None (default): from ``X``'s rank (2, 3 or 4-D).
            A 2-D signal or 3-D image gains a channel axis.
        feature_names: One name per table column; None (default): a DataFrame's column names, else
            ``x0``, ``x1`` ...
        class_names: Names of the classes, when ``y`` holds integer indices into them; None (default): the
            labels are the class names.
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Tables: ``"impute"`` (default; training rows' median or most frequent category, plus a
            missing-indicator column) or ``"error"`` (refuse missing cells, naming column and row).
        max_categories: Tables: categories a column one-hot encodes (default 20); ``None``: all of them.

    Raises:
        FileNotFoundError: no such file.
        FitguardError: a file without ``X`` and ``y``, with object arrays, or unreadable.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files or "y" not in archive.files:
                found = ", ".join(repr(k) for k in archive.files) or "nothing"
                raise FitguardError(f"NPZ file {path} must hold arrays 'X' and 'y'; found {found}")
            X, y = archive["X"], archive["y"]
    except ValueError as error:
        if isinstance(error, FitguardError):
            raise
        raise FitguardError(f"NPZ file {path} holds object arrays, which fitguard never unpickles") from None
    except OSError:
        raise FitguardError(f"{path} is not a readable NPZ file") from None
    return from_arrays(X, y, task=task, kind=kind, feature_names=feature_names, class_names=class_names,
                       name=path.stem, val=val, test=test, seed=seed, stratify=stratify, standardize=standardize,
                       missing=missing, max_categories=max_categories)


def from_arrays(
    X: Any,
    y: Any,
    *,
    task: str | None = None,
    kind: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    name: str = "arrays",
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    standardize: bool = True,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
) -> Dataset:
    """Arrays ``X`` (N, F) table, (N, C, L) signal or (N, C, H, W) image, and ``y`` (N,) or (N, k).

    Float ``y`` means regression, anything else classification (``task`` overrides). With ``class_names``,
    ``y`` holds class indices into it. Image pixels are scaled by ``pixel_scale`` (255 for uint8, else 1).
    A table may be a pandas DataFrame (its column names become ``feature_names``); NaN and None cells are
    missing values (see ``missing`` in the module docstring).

    Args:
        X: Inputs: (N, F) table (array or pandas DataFrame), (N, C, L) or (N, L) signal, (N, C, H, W) or
            (N, H, W) image.
        y: Labels (N,) or targets (N, k).
        task: ``"classification"`` or ``"regression"``; None (default): inferred from the labels.
        kind: ``"table"``, ``"signal"`` or ``"image"``; None (default): from ``X``'s rank (2, 3 or 4-D).
            A 2-D signal or 3-D image gains a channel axis.
        feature_names: One name per table column; None (default): a DataFrame's column names, else
            ``x0``, ``x1`` ...
        class_names: Names of the classes, when ``y`` holds integer indices into them; None (default): the
            labels are the class names.
        pixel_scale: What image pixels are divided by; None (default): 255 for uint8 images, else 1.
        name: The dataset's name (shown in reports). Default ``"arrays"``.
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Tables: ``"impute"`` (default; training rows' median or most frequent category, plus a
            missing-indicator column) or ``"error"`` (refuse missing cells, naming column and row).
        max_categories: Tables: categories a column one-hot encodes (default 20); ``None``: all of them.

    Raises:
        ValueError: mismatched rows, an unknown kind or a shape it cannot take, ``class_names`` that ``y``
            does not index, or the wrong number of ``feature_names``.

    Example:
        >>> data = from_arrays(np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2)
        >>> data.task, data.in_features, len(data.train)
        ('classification', 3, 24)
    """
    if feature_names is None and hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a DataFrame, pandas not imported
        feature_names = [str(c) for c in X.columns]
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"`X` and `y` must have the same number of rows, got X: {X.shape} and y: {y.shape}")
    kind = kind or {2: "table", 3: "signal", 4: "image"}.get(X.ndim)
    if kind is None:
        raise ValueError(f"`X` must be 2-D (table), 3-D (signal) or 4-D (image), got shape {X.shape}")
    expected = {"table": (2,), "signal": (2, 3), "image": (3, 4)}
    if kind not in expected:
        raise ValueError(f"`kind` must be one of 'table', 'signal', 'image', got {kind!r}")
    if X.ndim not in expected[kind]:
        raise ValueError(f"`X` of shape {X.shape} cannot be a {kind}")
    if X.ndim < {"table": 2, "signal": 3, "image": 4}[kind]:
        X = X[:, None]  # a missing channel axis: (N, L) signals, (N, H, W) images
    if y.ndim > 2:
        raise ValueError(f"`y` must be 1-D (N,) or 2-D (N, k), got shape {y.shape}")
    task = infer_task(y, task)
    names: tuple[str, ...] = ()
    if class_names is not None:
        names = tuple(str(n) for n in class_names)
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(names):
            raise ValueError(f"with `class_names`, `y` must hold integer indices in [0, {len(names)})")
        y = np.asarray(names)[y]
    columns = ()
    if kind == "table":
        feature_names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
        if len(feature_names) != X.shape[1]:
            raise ValueError(f"`feature_names` must name all {X.shape[1]} columns, got {len(feature_names)} names")
        numeric = np.issubdtype(X.dtype, np.number) or X.dtype == bool
        columns = numeric_columns(feature_names) if numeric else infer_columns(feature_names, X.astype(object))
    scale = pixel_scale if pixel_scale is not None else (255.0 if X.dtype == np.uint8 and kind == "image" else 1.0)
    source = RawSource(name, kind, RawData(X, y), task, names, columns=columns, pixel_scale=scale)
    return build_dataset(source, val=val, test=test, seed=seed, stratify=stratify, standardize=standardize,
                         missing=missing, max_categories=max_categories)


def from_folder(
    path: str | Path,
    *,
    limit_per_class: int | None = None,
    test_limit_per_class: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    test_path: str | Path | None = None,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    cache: bool = True,
    val: float = 0.2,
    test: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    standardize: bool = True,
    missing: str = "impute",
    max_categories: int | None = DEFAULT_MAX_CATEGORIES,
) -> Dataset:
    """Images in ``root/<class>/*`` or ``root/<split>/<class>/*`` (split: train/val/test), a folder or a .zip.

    ``limit_per_class`` keeps the first N training images of each class (``test_limit_per_class`` the same
    for a given val/test split); ``test_path`` names a separate folder/zip to use as the test split (e.g.
    ``cifar10-test.zip`` beside ``cifar10-train.zip``). Decoded zips are cached (see ``image_cache``).
    ``missing`` and ``max_categories`` are checked but apply to tables only: images have no columns.

    Args:
        path: The image folder or ``.zip`` of one (layouts above).
        limit_per_class: Keep the first N (>= 1) training images of each class; None (default): all.
        test_limit_per_class: The same for the tree's own val/test splits (and ``test_path``); None
            (default): all.
        image_size: Resize every image to this side (or (height, width)); None (default): keep the
            size (all images must then share it).
        test_path: A separate folder or .zip used as the test split; None (default): none.
        max_uncompressed_bytes: Refuse a tree whose chosen images hold more bytes than this (a zip-bomb
            guard), >= 1. Default 4 GiB.
        cache: Keep decoded zips in fitguard's image cache and read them back from it. Default True.
        val: Share of all rows for validation, in [0, 1) (ignored when the source has its own validation
            split). Default 0.2.
        test: Share of all rows for testing, in [0, 1) (ignored when the source has its own test split).
            Default 0.2.
        seed: Seed of the shuffled split. Default 0.
        stratify: Keep the class proportions in every split (classification). Default True.
        standardize: Standardize the inputs with statistics of the training split. Default True.
        missing: Checked (``"impute"`` or ``"error"``), but images have no cells to fill: it changes
            nothing here.
        max_categories: Checked, but images have no columns: it changes nothing here. Default 20.

    Raises:
        FileNotFoundError: no such folder or zip.
        FitguardError: a tree without a usable layout, too large, or a ``test_path`` beside a tree
            that has its own test split.

    Example:
        >>> data = from_folder("cifar10-train.zip", limit_per_class=100, test_path="cifar10-test.zip")  # doctest: +SKIP
    """
    size = normalize_image_size(image_size)
    options = dict(image_size=size, max_uncompressed_bytes=max_uncompressed_bytes, cache=cache)
    splits = read_image_folder(path, limit_per_class=limit_per_class, test_limit_per_class=test_limit_per_class,
                               **options)
    where = {name: str(path) for name in splits}
    if test_path is not None:
        if "test" in splits:
            raise FitguardError(f"`test_path` was given, but {path} has its own test split")
        splits["test"] = read_image_folder(test_path, limit_per_class=test_limit_per_class, **options)["pool"]
        where["test"] = str(test_path)
    shapes = {name: raw.inputs.shape[1:] for name, raw in splits.items()}
    for name, shape in shapes.items():
        if shape[1:] != shapes["pool"][1:]:
            raise FitguardError(
                f"images in {where[name]} ({name}) are {shape[1]}x{shape[2]}, but training images are "
                f"{shapes['pool'][1]}x{shapes['pool'][2]}; pass image_size=(height, width) to resize all"
            )
    channels = max(shape[0] for shape in shapes.values())
    splits = {name: _with_channels(raw, channels) for name, raw in splits.items()}
    source = RawSource(Path(path).stem, "image", splits["pool"], "classification", pixel_scale=255.0,
                       image_size=size, val=splits.get("val"), test=splits.get("test"))
    return build_dataset(source, val=val, test=test, seed=seed, stratify=stratify, standardize=standardize,
                         missing=missing, max_categories=max_categories)


def _with_channels(raw: RawData, channels: int) -> RawData:
    if raw.inputs.shape[1] == channels:
        return raw
    return RawData(np.repeat(raw.inputs, channels // raw.inputs.shape[1], axis=1), raw.labels)
