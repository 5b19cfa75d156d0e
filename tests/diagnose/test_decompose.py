"""Decompositions on hand-made prediction tensors, against brute-force formulas and mlxtend's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fitguard.diagnose.decompose import decompose_01, decompose_mse, main_prediction, split_variance


def test_mse_identity_and_hand_values() -> None:
    preds = torch.tensor([[1.0, 2.0], [3.0, 2.0]])
    d = decompose_mse(preds, torch.tensor([2.0, 0.0]))
    assert (d.expected_loss, d.bias2, d.variance, d.noise) == (2.5, 2.0, 0.5, None)


def test_mse_multi_output_sums_dimensions() -> None:
    g = torch.Generator().manual_seed(0)
    preds, y = torch.randn(7, 5, 3, generator=g), torch.randn(5, 3, generator=g)
    d = decompose_mse(preds, y)
    assert d.expected_loss == pytest.approx(float(((preds - y) ** 2).sum(-1).mean()))
    assert d.expected_loss == pytest.approx(d.bias2 + d.variance)


def test_mse_with_true_function_measures_bias_against_it() -> None:
    preds = torch.tensor([[1.0, 1.0], [3.0, 1.0]])
    d = decompose_mse(preds, y=torch.tensor([2.5, 0.0]), f_true=torch.tensor([2.0, 1.0]))
    assert d.bias2 == 0.0
    assert d.noise == pytest.approx((0.25 + 1.0) / 2)


def test_main_prediction_breaks_ties_to_the_smallest_label_like_bincount_argmax() -> None:
    labels = torch.tensor([[2, 1, 0], [1, 1, 3], [0, 2, 3], [2, 2, 0]])
    expected = [int(np.argmax(np.bincount(column))) for column in labels.numpy().T]
    assert main_prediction(labels).tolist() == expected == [2, 1, 0]


def test_01_binary_net_variance_is_unbiased_minus_biased() -> None:
    g = torch.Generator().manual_seed(1)
    preds, y = torch.randint(0, 2, (9, 40), generator=g), torch.randint(0, 2, (40,), generator=g)
    d = decompose_01(preds, y)
    assert d.net_variance == pytest.approx(d.unbiased_variance - d.biased_variance)
    assert d.expected_loss == pytest.approx(d.bias + d.net_variance)


def test_01_multiclass_loss_equals_bias_plus_net_variance() -> None:
    g = torch.Generator().manual_seed(2)
    preds, y = torch.randint(0, 5, (11, 60), generator=g), torch.randint(0, 5, (60,), generator=g)
    d = decompose_01(preds, y)
    assert d.expected_loss == pytest.approx(d.bias + d.net_variance)
    assert d.variance == pytest.approx(d.unbiased_variance + d.biased_variance)


def test_01_accepts_scores_and_argmaxes_them() -> None:
    scores = torch.tensor([[[0.9, 0.1], [0.2, 0.8]], [[0.7, 0.3], [0.6, 0.4]]])
    assert (decompose_01(scores, torch.tensor([0, 1]))
            == decompose_01(torch.tensor([[0, 1], [0, 0]]), torch.tensor([0, 1])))


def test_split_variance_brute_force() -> None:
    g = torch.Generator().manual_seed(3)
    grid = torch.randn(4, 3, 6, generator=g)
    s = split_variance(grid)
    flat = grid.reshape(12, 6)
    assert s.total == pytest.approx(float(flat.var(0, unbiased=False).mean()))
    assert s.sampling == pytest.approx(float(grid.mean(1).var(0, unbiased=False).mean()))
    assert s.optimization == pytest.approx(float(grid.var(1, unbiased=False).mean()))
    assert s.total == pytest.approx(s.sampling + s.optimization)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decompose_mse(torch.zeros(3), torch.zeros(3)),
         "`preds` must have shape (R, n_test) or (R, n_test, k), got (3,)"),
        (lambda: decompose_mse(torch.zeros(2, 3), torch.zeros(4)),
         "`y` must have shape (3,) to match `preds` (2, 3), got (4,)"),
        (lambda: decompose_mse(torch.zeros(2, 3), torch.zeros(3), torch.zeros(2)),
         "`f_true` must have the shape of `y` (3,), got (2,)"),
        (lambda: decompose_01(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long)),
         "`preds` and `y` must be integer class labels for the 0-1 loss, got torch.float32 and torch.int64"),
        (lambda: split_variance(torch.zeros(2, 3)),
         "`grid` must have shape (D, S, n_test) or (D, S, n_test, k), got (2, 3)"),
    ],
)
def test_bad_input_messages(call, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message
