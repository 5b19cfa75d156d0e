"""Datasets for fitguard: built-ins, CSV/NPZ/image folders (and zips), splits, fitted preprocessing.

Example:
    >>> import fitguard.data as fd
    >>> data = fd.load("digits")
    >>> data.kind, data.input_shape, data.num_classes
    ('image', (1, 8, 8), 10)
"""

from fitguard.data.builtin import BUILTIN
from fitguard.data.dataset import Dataset
from fitguard.data.encoding import Column
from fitguard.data.image_folders import read_image_folder
from fitguard.data.loaders import from_arrays, from_csv, from_folder, from_npz, load
from fitguard.data.preprocess import Preprocessor
from fitguard.data.source import RawData, Truth
from fitguard.data.splits import fold_indices, holdout_indices, kfold, standardize_fold
from fitguard.data.tensors import TensorData

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
    "holdout_indices",
    "kfold",
    "load",
    "read_image_folder",
    "standardize_fold",
]
