"""How sparse a model is (fraction of exact zeros per parameter) and what that saves on disk.

Sizes assume float32 values and int32 indices. A tensor stored sparsely uses CSR on its 2-D view
``(shape[0], numel / shape[0])`` (a vector is one row): ``nnz`` values + ``nnz`` column indices + ``rows + 1``
row pointers. Dense storage is ``numel`` float32 values. CSR wins once fewer than about half the weights remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

VALUE_BYTES = 4  # float32
INDEX_BYTES = 4  # int32


def csr_bytes(rows: int, nonzeros: int) -> int:
    """Bytes of a CSR matrix with ``rows`` rows and ``nonzeros`` stored entries (float32 values, int32 indices).

    Args:
        rows: the matrix's rows.
        nonzeros: its stored entries.

    Example:
        >>> csr_bytes(rows=2, nonzeros=3)
        36
    """
    return nonzeros * (VALUE_BYTES + INDEX_BYTES) + (rows + 1) * INDEX_BYTES


@dataclass(frozen=True)
class ParameterSparsity:
    """One parameter tensor: its size, exact zeros and storage cost both ways.

    Args:
        name: The parameter's name in ``model.named_parameters()``.
        shape: The tensor's shape.
        numel: Number of entries.
        zeros: Entries exactly equal to 0.
        dense_bytes: Bytes stored densely as float32 (``4 * numel``).
        sparse_bytes: Bytes stored as CSR (:func:`csr_bytes`; a tensor of fewer than two dimensions counts as
            one row).
    """

    name: str
    shape: tuple[int, ...]
    numel: int
    zeros: int
    dense_bytes: int
    sparse_bytes: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.numel if self.numel else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """Per-parameter sparsity and totals; ``stored_bytes`` keeps each tensor in whichever format is smaller.

    Args:
        parameters: One :class:`ParameterSparsity` per parameter tensor, in the model's order.
    """

    parameters: list[ParameterSparsity]

    @property
    def numel(self) -> int:
        return sum(p.numel for p in self.parameters)

    @property
    def zeros(self) -> int:
        return sum(p.zeros for p in self.parameters)

    @property
    def sparsity(self) -> float:
        return self.zeros / self.numel if self.numel else 0.0

    @property
    def dense_bytes(self) -> int:
        return sum(p.dense_bytes for p in self.parameters)

    @property
    def sparse_bytes(self) -> int:
        return sum(p.sparse_bytes for p in self.parameters)

    @property
    def stored_bytes(self) -> int:
        return sum(min(p.dense_bytes, p.sparse_bytes) for p in self.parameters)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data: each parameter's counts and sizes, then the totals (stored bytes included)."""
        return {
            "parameters": [
                {
                    "name": p.name,
                    "shape": list(p.shape),
                    "numel": p.numel,
                    "zeros": p.zeros,
                    "sparsity": p.sparsity,
                    "dense_bytes": p.dense_bytes,
                    "sparse_bytes": p.sparse_bytes,
                }
                for p in self.parameters
            ],
            "numel": self.numel,
            "zeros": self.zeros,
            "sparsity": self.sparsity,
            "dense_bytes": self.dense_bytes,
            "sparse_bytes": self.sparse_bytes,
            "stored_bytes": self.stored_bytes,
        }

    def __str__(self) -> str:
        width = max([len("parameter")] + [len(p.name) for p in self.parameters])
        lines = [f"{'parameter':<{width}}  {'zeros':>10}  {'sparsity':>8}  {'dense B':>10}  {'CSR B':>10}"]
        for p in self.parameters:
            lines.append(
                f"{p.name:<{width}}  {p.zeros:>10,}  {p.sparsity:>8.1%}  {p.dense_bytes:>10,}  {p.sparse_bytes:>10,}"
            )
        lines.append(
            f"{'total':<{width}}  {self.zeros:>10,}  {self.sparsity:>8.1%}  {self.dense_bytes:>10,}  "
            f"{self.sparse_bytes:>10,}  (stored: {self.stored_bytes:,} B)"
        )
        return "\n".join(lines)


@torch.no_grad()
def sparsity_report(model: nn.Module) -> SparsityReport:
    """Exact zeros and dense vs CSR bytes for every parameter of ``model``.

    Args:
        model: Any module; every parameter, trainable or frozen, is counted.

    Example:
        >>> layer = nn.Linear(4, 2, bias=False)
        >>> _ = layer.weight.data.copy_(torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))
        >>> report = sparsity_report(layer)
        >>> report.sparsity, report.dense_bytes, report.sparse_bytes
        (0.75, 32, 28)
    """
    rows: list[ParameterSparsity] = []
    for name, parameter in model.named_parameters():
        numel = parameter.numel()
        nonzeros = int(torch.count_nonzero(parameter).item())
        matrix_rows = parameter.shape[0] if parameter.ndim >= 2 else 1
        rows.append(
            ParameterSparsity(
                name=name,
                shape=tuple(parameter.shape),
                numel=numel,
                zeros=numel - nonzeros,
                dense_bytes=numel * VALUE_BYTES,
                sparse_bytes=csr_bytes(matrix_rows, nonzeros),
            )
        )
    return SparsityReport(rows)
