"""Datasets for fitguard: built-ins, CSV/NPZ/image folders (and zips), splits, fitted preprocessing.

Example:
    >>> import fitguard.data as fd
    >>> data = fd.load("digits")
    >>> data.kind, data.input_shape, data.num_classes
    ('image', (1, 8, 8), 10)
"""

from importlib import import_module
from typing import Any

# names load on first use: `fitguard.data.tensors` (all the Trainer needs) must not pay for scikit-learn
_NAMES = {
    "BUILTIN": "fitguard.data.builtin",
    "Dataset": "fitguard.data.dataset",
    "Column": "fitguard.data.encoding",
    "read_image_folder": "fitguard.data.image_folders",
    "from_arrays": "fitguard.data.loaders",
    "from_csv": "fitguard.data.loaders",
    "from_folder": "fitguard.data.loaders",
    "from_npz": "fitguard.data.loaders",
    "from_parquet": "fitguard.data.loaders",
    "load": "fitguard.data.loaders",
    "Preprocessor": "fitguard.data.preprocess",
    "RawData": "fitguard.data.source",
    "Truth": "fitguard.data.source",
    "fold_indices": "fitguard.data.splits",
    "holdout_indices": "fitguard.data.splits",
    "kfold": "fitguard.data.splits",
    "standardize_fold": "fitguard.data.splits",
    "TensorData": "fitguard.data.tensors",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'fitguard.data' has no attribute {name!r}")


__all__ = [
    "BUILTIN",
    "Column",
    "Dataset",
    "Preprocessor",
    "RawData",
    "TensorData",
    "Truth",
    "fold_indices",
    "from_arrays",
    "from_csv",
    "from_folder",
    "from_npz",
    "from_parquet",
    "holdout_indices",
    "kfold",
    "load",
    "read_image_folder",
    "standardize_fold",
]
