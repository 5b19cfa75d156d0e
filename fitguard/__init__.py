"""fitguard: find out whether a PyTorch model overfits, why, and which remedy fixes it - measured, not guessed.

Example:
    >>> import fitguard as fg
    >>> data = fg.data.load("digits", val=0.2, test=0.2, seed=0)
    >>> model = fg.models.mlp(data.in_features, data.num_classes, hidden=[64])
    >>> history = fg.Trainer(model, max_epochs=2, device="cpu").fit(data.train, data.val)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Type checkers see every exported name as the real thing (`fg.Trainer` is a class, not Any); at runtime
# nothing below is imported until first use, through __getattr__.
if TYPE_CHECKING:
    from fitguard import augment, config, data, diagnose, linear, models, regularize, report, search, train, transfer
    from fitguard.regularize import L1, L2, ElasticNet, InputNoise, WeightNoise
    from fitguard.runs import Predictor, load
    from fitguard.train import (
        Callback,
        Checkpoint,
        EarlyStopping,
        History,
        MetricsLog,
        Monitor,
        ReduceLROnPlateau,
        TensorBoard,
        Trainer,
    )

__version__ = "0.1.0"

# Submodules and names load on first use: `import fitguard` stays fast, and the CLI pays only for what it runs.
_NAMES = {
    "Trainer": "fitguard.train",
    "History": "fitguard.train",
    "EarlyStopping": "fitguard.train",
    "Checkpoint": "fitguard.train",
    "TensorBoard": "fitguard.train",
    "MetricsLog": "fitguard.train",
    "ReduceLROnPlateau": "fitguard.train",
    "Monitor": "fitguard.train",
    "Callback": "fitguard.train",
    "L1": "fitguard.regularize",
    "L2": "fitguard.regularize",
    "ElasticNet": "fitguard.regularize",
    "WeightNoise": "fitguard.regularize",
    "InputNoise": "fitguard.regularize",
    "load": "fitguard.runs",
    "Predictor": "fitguard.runs",
}
_SUBMODULES = (
    "data", "models", "train", "regularize", "augment", "transfer", "diagnose", "linear", "search", "report", "config",
)

# Spelled out, not built from _NAMES and _SUBMODULES, so that type checkers and linters can read it;
# tests/test_public_api.py checks that it and the two tables above agree.
__all__ = [
    "L1",
    "L2",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "ElasticNet",
    "History",
    "InputNoise",
    "MetricsLog",
    "Monitor",
    "Predictor",
    "ReduceLROnPlateau",
    "TensorBoard",
    "Trainer",
    "WeightNoise",
    "augment",
    "config",
    "data",
    "diagnose",
    "linear",
    "load",
    "models",
    "regularize",
    "report",
    "search",
    "train",
    "transfer",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    if name in _SUBMODULES:
        return import_module(f"fitguard.{name}")
    raise AttributeError(f"module 'fitguard' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, so that tab completion and ``dir(fitguard)`` offer every one of them."""
    return sorted([*__all__, "__version__"])
