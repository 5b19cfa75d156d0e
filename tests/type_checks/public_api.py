"""Checked by mypy, never run: the package root's names are their real types to a type checker, not ``Any``.

``assert_type`` fails the type check when the name is ``Any`` (a lazy ``__getattr__`` without the
``TYPE_CHECKING`` imports in ``fitguard/__init__.py`` makes every name ``Any``).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import fitguard as fg
from fitguard.regularize.noise import InputNoise, WeightNoise
from fitguard.regularize.penalties import L1, L2, ElasticNet
from fitguard.runs import Predictor
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.checkpoint import Checkpoint
from fitguard.train.callbacks.early_stopping import EarlyStopping
from fitguard.train.callbacks.event_logs import MetricsLog, TensorBoard
from fitguard.train.callbacks.lr_schedule import ReduceLROnPlateau
from fitguard.train.callbacks.monitor import Monitor
from fitguard.train.history import History
from fitguard.train.trainer import Trainer

assert_type(fg.Trainer, type[Trainer])
assert_type(fg.History, type[History])
assert_type(fg.EarlyStopping, type[EarlyStopping])
assert_type(fg.Checkpoint, type[Checkpoint])
assert_type(fg.TensorBoard, type[TensorBoard])
assert_type(fg.MetricsLog, type[MetricsLog])
assert_type(fg.ReduceLROnPlateau, type[ReduceLROnPlateau])
assert_type(fg.Monitor, type[Monitor])
assert_type(fg.Callback, type[Callback])
assert_type(fg.L1, type[L1])
assert_type(fg.L2, type[L2])
assert_type(fg.ElasticNet, type[ElasticNet])
assert_type(fg.WeightNoise, type[WeightNoise])
assert_type(fg.InputNoise, type[InputNoise])
assert_type(fg.Predictor, type[Predictor])
assert_type(fg.__version__, str)


def _uses(model: Any) -> None:
    assert_type(fg.load("runs/demo"), Predictor)
    assert_type(fg.Trainer(model, max_epochs=1).fit(fg.data.load("digits").train), History)
