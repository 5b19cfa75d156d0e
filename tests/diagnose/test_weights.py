"""Weight statistics on hand-made matrices, against numpy's SVD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from fitguard.diagnose.weights import compare, layer_weights, weight_stats


def test_hand_made_matrix() -> None:
    s = layer_weights("w", torch.tensor([[3.0, 0.0], [0.0, -4.0]]), q=0.5)
    assert (s.l1, s.l2, s.max_abs, s.mean_abs) == (7.0, 5.0, 4.0, 1.75)
    assert (s.spectral_norm, s.stable_rank, s.sparsity) == (4.0, 25.0 / 16.0, 0.5)
    assert s.large_sign_balance == 1.0
    assert s.large_to_init == pytest.approx(3.5 * math.sqrt(2))


def test_spectral_norm_and_stable_rank_match_numpy_svd() -> None:
    w = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    singular = np.linalg.svd(w.numpy().astype(np.float64), compute_uv=False)
    s = layer_weights("w", w)
    assert s.spectral_norm == pytest.approx(singular[0])
    assert s.stable_rank == pytest.approx((singular**2).sum() / singular[0] ** 2)


def test_sign_balance_of_large_weights() -> None:
    same_sign = torch.tensor([[10.0, 9.0, 0.1, -0.1]])
    mixed = torch.tensor([[10.0, -9.0, 0.1, 0.1]])
    assert layer_weights("a", same_sign, q=0.5).large_sign_balance == 0.0
    assert layer_weights("b", mixed, q=0.5).large_sign_balance == 1.0


def test_conv_kernels_are_flattened_per_output_channel() -> None:
    conv = nn.Conv2d(2, 3, 3)
    s = weight_stats(nn.Sequential(conv))[0]
    assert s.shape == (3, 2, 3, 3)
    flat = conv.weight.detach().reshape(3, -1).double()
    assert s.spectral_norm == pytest.approx(float(torch.linalg.matrix_norm(flat, 2)))


def test_compare_pairs_layers_and_reports_ratios() -> None:
    before = [layer_weights("w", torch.eye(2) * 4)]
    after = [layer_weights("w", torch.eye(2))]
    changes = {c.statistic: c for c in compare(before, after)}
    assert changes["l2"].ratio == pytest.approx(0.25)
    assert changes["stable_rank"].ratio == pytest.approx(1.0)


def test_bad_input_messages() -> None:
    with pytest.raises(ValueError) as error:
        layer_weights("bias", torch.zeros(3))
    assert str(error.value) == "`weight` 'bias' must have 2 or more dimensions, got shape (3,)"
    with pytest.raises(ValueError) as error:
        layer_weights("w", torch.zeros(2, 2), q=0.0)
    assert str(error.value) == "`q` must be in (0, 1], got 0.0"
    with pytest.raises(ValueError) as error:
        compare([layer_weights("a", torch.eye(2))], [layer_weights("b", torch.eye(2))])
    assert str(error.value) == "`before` and `after` must describe the same layers, got ['a'] and ['b']"
