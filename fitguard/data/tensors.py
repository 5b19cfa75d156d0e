"""In-memory datasets that live as tensors on the training device and are sliced per batch.

For the small data fitguard is built for, a ``DataLoader`` costs more than the model: a sample-by-sample
collate per step. ``TensorData`` keeps ``X`` and ``y`` as whole tensors (moved to the device once) and yields
batches by indexing with a permutation drawn from an explicit ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorData:
    """Features ``X`` (N, ...) and targets ``y`` (N,) or (N, k), kept together.

    Args:
        X: Features, a tensor with one row per sample (N, ...).
        y: Targets with the same number of rows: class indices (N,) (int64), values (N,) or (N, k).

    Raises:
        ValueError: ``X`` and ``y`` of different row counts.

    Example:
        >>> d = TensorData(torch.randn(10, 3), torch.arange(10) % 2)
        >>> [xb.shape[0] for xb, _ in d.batches(4)]
        [4, 4, 2]
    """

    X: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.X.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"`X` and `y` must have the same number of rows, got X: {self.X.shape[0]} and y: {self.y.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def device(self) -> torch.device:
        return self.X.device

    def to(self, device: torch.device | str) -> TensorData:
        """The same rows on ``device`` (``self`` when both tensors are there already).

        Args:
            device: the target device, e.g. ``"cuda"``.
        """
        device = torch.device(device)
        if self.X.device == device and self.y.device == device:
            return self
        return TensorData(self.X.to(device), self.y.to(device))

    def subset(self, indices: torch.Tensor | list[int]) -> TensorData:
        """The rows at ``indices``, in that order.

        Args:
            indices: row positions.
        """
        index = torch.as_tensor(indices, dtype=torch.long, device=self.X.device)
        return TensorData(self.X[index], self.y[index.to(self.y.device)])

    def batches(
        self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None, repeat: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(X_batch, y_batch)``; a last batch of one row joins the batch before it (see :func:`batch_bounds`).

        Args:
            batch_size: rows per batch, at least 1.
            shuffle: draw a fresh permutation of the rows for each pass (default False: row order).
            generator: the CPU generator the permutations come from; None (default): torch's global one.
            repeat: passes over the rows (default 1), which make one stream of batches (each its own permutation
                when shuffled).

        Raises:
            ValueError: when ``batch_size`` or ``repeat`` is below 1.
        """
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if repeat < 1:
            raise ValueError(f"`repeat` must be >= 1, got {repeat}")
        n = len(self)
        if shuffle:
            order = torch.cat([torch.randperm(n, generator=generator) for _ in range(repeat)]).to(self.X.device)
            for start, stop in batch_bounds(n * repeat, batch_size):
                index = order[start:stop]
                yield self.X[index], self.y[index]
        else:
            bounds = batch_bounds(n, batch_size)
            for _ in range(repeat):
                for start, stop in bounds:
                    yield self.X[start:stop], self.y[start:stop]


def batch_bounds(rows: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive batches of ``batch_size`` over ``rows`` rows; a last batch of a single
    row joins the one before it (so that batch holds ``batch_size + 1`` rows).

    Why fold rather than drop: batch norm in training mode cannot normalize a single row (torch raises
    "Expected more than 1 value per channel when training"), and a one-row step is a full-size update from one
    sample. Dropping the row (``drop_last``) would leave it out of the epoch; folding keeps every row, once.
    With ``batch_size=1`` every batch is one row, so nothing is folded.

    Args:
        rows: the rows to cover.
        batch_size: rows per batch.

    Example:
        >>> batch_bounds(33, 32), batch_bounds(34, 32), batch_bounds(3, 1)
        ([(0, 33)], [(0, 32), (32, 34)], [(0, 1), (1, 2), (2, 3)])
    """
    bounds = [(start, min(start + batch_size, rows)) for start in range(0, rows, batch_size)]
    if batch_size > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], rows)]
    return bounds
