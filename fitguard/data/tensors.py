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
        device = torch.device(device)
        if self.X.device == device and self.y.device == device:
            return self
        return TensorData(self.X.to(device), self.y.to(device))

    def subset(self, indices: torch.Tensor | list[int]) -> TensorData:
        index = torch.as_tensor(indices, dtype=torch.long, device=self.X.device)
        return TensorData(self.X[index], self.y[index.to(self.y.device)])

    def batches(
        self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None, repeat: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(X_batch, y_batch)``; with ``shuffle`` the order comes from ``generator`` (CPU), and ``repeat``
        passes over the rows (each its own permutation) make one stream of batches."""
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if repeat < 1:
            raise ValueError(f"`repeat` must be >= 1, got {repeat}")
        n = len(self)
        if shuffle:
            order = torch.cat([torch.randperm(n, generator=generator) for _ in range(repeat)]).to(self.X.device)
            for start in range(0, n * repeat, batch_size):
                index = order[start : start + batch_size]
                yield self.X[index], self.y[index]
        else:
            for _ in range(repeat):
                for start in range(0, n, batch_size):
                    yield self.X[start : start + batch_size], self.y[start : start + batch_size]
