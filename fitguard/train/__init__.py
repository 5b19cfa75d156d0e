"""The training loop, its history and its callbacks."""

from fitguard.train.callbacks import (
    Callback,
    Checkpoint,
    CosineAnnealing,
    EarlyStopping,
    Lookahead,
    MetricsLog,
    Monitor,
    OneCycle,
    ProgressBar,
    ReduceLROnPlateau,
    SnapshotEnsemble,
    TensorBoard,
    WeightAveraging,
)
from fitguard.train.history import History
from fitguard.train.trainer import Trainer

__all__ = [
    "Callback",
    "Checkpoint",
    "CosineAnnealing",
    "EarlyStopping",
    "History",
    "Lookahead",
    "MetricsLog",
    "Monitor",
    "OneCycle",
    "ProgressBar",
    "ReduceLROnPlateau",
    "SnapshotEnsemble",
    "TensorBoard",
    "Trainer",
    "WeightAveraging",
]
