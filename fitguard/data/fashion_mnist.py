"""Fashion-MNIST from its IDX files (Debian's ``dataset-fashion-mnist``, or any folder holding them).

The official 60,000/10,000 train/test split is kept as the test split. ``limit_per_class`` keeps the first N
training images of every class in file order, for small-data experiments.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from fitguard._validation import check_int
from fitguard.data.source import RawData, RawSource
from fitguard.errors import FitguardError

DEFAULT_FOLDER = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (uint8 data only, as MNIST-style files are), gzipped or not.

    Args:
        path: the file (``.gz``: gzipped).

    Raises:
        FitguardError: the file is not an IDX file of unsigned bytes.
    """
    data = (gzip.decompress if path.suffix == ".gz" else bytes)(path.read_bytes())
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise FitguardError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise FitguardError(f"{path} holds {body.size} values, but its header declares shape {shape}")
    return body.reshape(shape)


def fashion_mnist(
    path: str | Path | None = None, limit_per_class: int | None = None, test_limit_per_class: int | None = None
) -> RawSource:
    """Images uint8 (N, 1, 28, 28) with the official test split.

    Args:
        path: the folder holding the four IDX files; None (default): ``/usr/share/datasets/fashion-mnist``.
        limit_per_class: keep at most this many training images per class, >= 1; None (default): all.
        test_limit_per_class: the same for the test split; None (default): all.

    Example:
        >>> fashion_mnist(limit_per_class=100).pool.inputs.shape  # doctest: +SKIP
        (1000, 1, 28, 28)
    """
    for name, value in (("limit_per_class", limit_per_class), ("test_limit_per_class", test_limit_per_class)):
        check_int(name, value, low=1, none_ok=True)
    folder = DEFAULT_FOLDER if path is None else Path(path).expanduser()
    parts = {}
    for split, (images, labels) in FILES.items():
        found = [_find(folder, images), _find(folder, labels)]
        if None in found:
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {folder}: install it with `apt-get install dataset-fashion-mnist` or "
                "pass path= a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"
            )
        X, y = read_idx(found[0]), read_idx(found[1])
        if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
            raise FitguardError(f"{found[0]} and {found[1]} do not hold matching images (N, H, W) and labels (N,)")
        limit = limit_per_class if split == "train" else test_limit_per_class
        parts[split] = _first_per_class(RawData(X[:, None], np.asarray(CLASS_NAMES)[y]), limit)
    return RawSource("fashion_mnist", "image", parts["train"], "classification", CLASS_NAMES,
                     pixel_scale=255.0, test=parts["test"])


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _first_per_class(raw: RawData, limit: int | None) -> RawData:
    if limit is None:
        return raw
    index = np.concatenate([np.flatnonzero(raw.labels == c)[:limit] for c in np.unique(raw.labels)])
    return raw.take(np.sort(index))
