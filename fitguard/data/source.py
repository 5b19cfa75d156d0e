"""What every loader hands to the dataset builder: raw inputs and labels, before any split or preprocessing.

A loader (built-in, CSV, NPZ, image folder) only reads; ``RawSource`` carries what it read, in the user's own
units (strings for CSV cells, uint8 pixels, original labels), so the same raw rows can later be fed to
``Preprocessor.transform`` and give exactly the model inputs the dataset was built with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fitguard._validation import check_in
from fitguard.data.encoding import Column
from fitguard.errors import FitguardError

KINDS = ("table", "signal", "image")
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class RawData:
    """Raw inputs (N, ...) and raw labels (N,) or (N, k) of one split, in the units the user had them.

    Args:
        inputs: The split's raw inputs, one row per sample (table cells, signals or uint8/float images).
        labels: Its raw labels (class names or numbers) or regression targets.

    Example:
        >>> RawData(np.zeros((2, 3)), np.array(["a", "b"])).inputs.shape
        (2, 3)
    """

    inputs: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, index: np.ndarray) -> RawData:
        """The rows at ``index``, inputs and labels together.

        Args:
            index: row positions or a boolean mask, as NumPy indexing takes them.
        """
        return RawData(self.inputs[index], self.labels[index])


@dataclass(frozen=True)
class Truth:
    """The noiseless function behind a synthetic dataset and its noise level, for bias–variance.

    ``function`` maps raw inputs (N, d) to noiseless targets (N,); ``sample(n, seed)`` draws a fresh training
    set from the same distribution (the textbook way to measure variance across training sets).

    Args:
        function: Raw inputs (N, d) -> noiseless targets (N,).
        noise_sigma: Standard deviation of the Gaussian noise added to the targets, in the targets' units.
        sample: ``sample(n, seed) -> (X, y)``: a fresh noisy training set of ``n`` rows.
    """

    function: Callable[[np.ndarray], np.ndarray]
    noise_sigma: float
    sample: Callable[[int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RawSource:
    """Everything a loader read; ``test``/``val`` are set when the source has its own official split.

    Args:
        name: the dataset's name.
        kind: "table", "signal" or "image".
        pool: the rows to split (all of them when the source has no official split).
        task: "classification" or "regression".
        class_names: the classes in label order (default none: regression).
        columns: a table's columns (default none).
        pixel_scale: what raw pixel values are divided by (default 1.0).
        image_size: the (height, width) images were resized to; None (default): not resized.
        val: the source's own validation split; None (default): split from ``pool``.
        test: the source's own test split; None (default): split from ``pool``.
        truth: a synthetic source's noiseless function and noise; None (default): unknown.
        target: a table's label column; None (default): none named.
        row_name: names a row (by index) in messages; None (default): its number.
    """

    name: str
    kind: str
    pool: RawData
    task: str
    class_names: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    pixel_scale: float = 1.0
    image_size: tuple[int, int] | None = None
    val: RawData | None = None
    test: RawData | None = None
    truth: Truth | None = None
    target: str | None = None
    row_name: Callable[[int], str] | None = None


def check_task(task: str | None) -> None:
    """``task`` is None or one of the known tasks.

    Args:
        task: the task asked for, or None (infer it).

    Raises:
        ValueError: a task other than "classification" or "regression".
    """
    if task is not None:
        check_in("task", task, TASKS)


def infer_task(labels: np.ndarray, task: str | None) -> str:
    """Floats mean regression; integers, booleans and strings mean classification; ``task`` overrides.

    Args:
        labels: the labels.
        task: the task asked for; None: inferred from the labels' dtype.
    """
    check_task(task)
    if task is not None:
        return task
    return "regression" if np.issubdtype(labels.dtype, np.floating) else "classification"


def label_key(value: object) -> str:
    """Labels are matched by their text, so 3, np.int64(3) and "3" are the same class.

    Args:
        value: a label.
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def class_names_of(labels: np.ndarray, target: str = "target") -> tuple[str, ...]:
    """Sorted class names (numerically when every name is a number); at least two classes are required.

    Args:
        labels: the labels.
        target: names the labels in the message (default "target").

    Raises:
        FitguardError: fewer than two classes.
    """
    names = sorted({label_key(v) for v in labels.tolist()}, key=_numeric_first)
    if len(names) < 2:
        shown = f" ({names[0]!r})" if names else ""
        raise FitguardError(f"{target} has a single class{shown}; classification needs at least 2 classes")
    return tuple(names)


def _numeric_first(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
