"""Sparsity and storage sizes against torch's own CSR conversion."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.regularize import soft_threshold, sparsity_report


def _torch_csr_bytes(tensor: torch.Tensor) -> int:
    matrix = tensor.reshape(tensor.shape[0], -1) if tensor.ndim >= 2 else tensor.reshape(1, -1)
    csr = matrix.to_sparse_csr()
    crow, col = csr.crow_indices().to(torch.int32), csr.col_indices().to(torch.int32)
    values = csr.values().to(torch.float32)
    return sum(t.numel() * t.element_size() for t in (crow, col, values))


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state")
def test_counts_and_sizes_match_torch_csr() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(16, 5))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(soft_threshold(parameter, 0.15))
    report = sparsity_report(model)
    for row, (name, parameter) in zip(report.parameters, model.named_parameters()):
        assert row.name == name
        assert row.zeros == int((parameter == 0).sum())
        assert row.dense_bytes == parameter.numel() * 4
        assert row.sparse_bytes == _torch_csr_bytes(parameter.detach())
    total = sum(p.numel() for p in model.parameters())
    assert report.numel == total
    assert report.sparsity == report.zeros / total
    assert report.stored_bytes == sum(min(r.dense_bytes, r.sparse_bytes) for r in report.parameters)
    assert report.to_dict()["stored_bytes"] == report.stored_bytes


def test_dense_model_and_all_zero_model() -> None:
    layer = nn.Linear(10, 10, bias=False)
    nn.init.ones_(layer.weight)
    dense = sparsity_report(layer)
    assert dense.sparsity == 0.0 and dense.sparse_bytes > dense.dense_bytes == 400
    nn.init.zeros_(layer.weight)
    empty = sparsity_report(layer)
    assert empty.sparsity == 1.0 and empty.sparse_bytes == 11 * 4
    assert "total" in str(empty) and "100.0%" in str(empty)
