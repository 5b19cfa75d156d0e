"""The training loop, its history and its callbacks."""

from fitguard.train.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    MetricsLog,
    Monitor,
    ProgressBar,
    ReduceLROnPlateau,
    TensorBoard,
    WeightAveraging,
)
from fitguard.train.history import History
from fitguard.train.trainer import Trainer

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "History",
    "MetricsLog",
    "Monitor",
    "ProgressBar",
    "ReduceLROnPlateau",
    "TensorBoard",
    "Trainer",
    "WeightAveraging",
]
