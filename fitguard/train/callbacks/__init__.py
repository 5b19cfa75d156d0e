"""Callbacks: hooks into the Trainer's loop, each with its config and resumable state."""

from fitguard.train.callbacks.averaging import WeightAveraging
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.checkpoint import Checkpoint, latest_valid_checkpoint, list_checkpoints
from fitguard.train.callbacks.early_stopping import EarlyStopping
from fitguard.train.callbacks.event_logs import MetricsLog, TensorBoard, read_metrics_log
from fitguard.train.callbacks.lookahead import Lookahead
from fitguard.train.callbacks.lr_schedule import CosineAnnealing, OneCycle, ReduceLROnPlateau
from fitguard.train.callbacks.monitor import Monitor
from fitguard.train.callbacks.progress import ProgressBar
from fitguard.train.callbacks.snapshots import SnapshotEnsemble

__all__ = [
    "Callback",
    "Checkpoint",
    "CosineAnnealing",
    "EarlyStopping",
    "Lookahead",
    "MetricsLog",
    "Monitor",
    "OneCycle",
    "ProgressBar",
    "ReduceLROnPlateau",
    "SnapshotEnsemble",
    "TensorBoard",
    "WeightAveraging",
    "latest_valid_checkpoint",
    "list_checkpoints",
    "read_metrics_log",
]
