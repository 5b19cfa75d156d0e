"""fitguard: find out whether a PyTorch model overfits, why, and which remedy fixes it - measured, not guessed.

Example:
    >>> import fitguard as fg
    >>> data = fg.data.load("digits", val=0.2, test=0.2, seed=0)
    >>> model = fg.models.mlp(data.in_features, data.num_classes, hidden=[64])
    >>> history = fg.Trainer(model, max_epochs=2, device="cpu").fit(data.train, data.val)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    if name in _SUBMODULES:
        return import_module(f"fitguard.{name}")
    raise AttributeError(f"module 'fitguard' has no attribute {name!r}")


__all__ = [*_NAMES, *_SUBMODULES]
