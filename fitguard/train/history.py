"""What one training run measured, epoch by epoch: the object every diagnosis reads.

Each epoch is a flat dict of floats with Keras-style names: ``loss``/``val_loss``, the metrics
(``accuracy``/``val_accuracy`` for classes, ``mae``/``rmse``/``r2`` and their ``val_`` twins for regression),
``penalty`` (the λ-weighted penalty term, logged apart from the data loss), ``lr`` and ``time`` (seconds the
epoch took). ``epoch`` counts from 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class History:
    """Per-epoch records plus how the run ended.

    Args:
        epochs: One dict per finished epoch, in order: ``"epoch"`` (from 1) and each logged metric (``loss``,
            ``val_loss``, ``lr``, ``time`` ...). Default empty.
        stop_reason: Why the run ended, e.g. ``"reached max_epochs=100"`` or ``"early stopping: ..."``; None
            until ``Trainer.fit`` sets it.
        best_epoch: The epoch whose weights an ``EarlyStopping(restore_best=True)`` loaded back at the end of
            the run; None when no weights were restored.
        monitor: The metric that decided "best" (the first :class:`EarlyStopping`'s ``monitor``); None when
            no callback watched one.

    Example:
        >>> h = History(epochs=[{"epoch": 1, "loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "loss": 0.5, "val_loss": 1.1}])
        >>> h["val_loss"]
        [1.2, 1.1]
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str | None = None
    best_epoch: int | None = None
    monitor: str | None = None

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.keys():
            raise KeyError(f"no metric {key!r} in this history; available: {', '.join(self.keys()) or 'none'}")
        return [float(record.get(key, math.nan)) for record in self.epochs]

    def keys(self) -> list[str]:
        """Every metric name recorded in any epoch, in first-seen order (``"epoch"`` included)."""
        names: list[str] = []
        for record in self.epochs:
            for name in record:
                if name not in names:
                    names.append(name)
        return names

    def append(self, record: dict[str, float]) -> None:
        """Add one finished epoch's record (a copy, so later changes to ``record`` do not reach the history).

        Args:
            record: the epoch's ``"epoch"`` and metrics by name.
        """
        self.epochs.append(dict(record))

    def to_dict(self) -> dict[str, Any]:
        """The history as plain JSON-ready data, which :meth:`from_dict` reads back."""
        return {
            "epochs": self.epochs,
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict`'s data; missing keys take their defaults.

        Args:
            data: a dict with ``epochs``, ``stop_reason``, ``best_epoch`` and ``monitor`` (each optional).
        """
        return cls(
            epochs=[dict(record) for record in data.get("epochs", [])],
            stop_reason=data.get("stop_reason"),
            best_epoch=data.get("best_epoch"),
            monitor=data.get("monitor"),
        )

    def save(self, path: str | Path) -> None:
        """Write JSON atomically (temp file + rename), so a kill never leaves half a file.

        Args:
            path: the file to write (replaced if it exists).
        """
        from fitguard.train.state_io import atomic_write_bytes

        atomic_write_bytes(Path(path), json.dumps(self.to_dict(), indent=1, allow_nan=True).encode())

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history that :meth:`save` wrote.

        Args:
            path: the JSON file.

        Raises:
            FileNotFoundError: when ``path`` is not a file.
            ValueError: when it is not valid JSON.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"history file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"history file {str(path)!r} is not valid JSON: {error}") from None
        return cls.from_dict(data)
