"""Skip connections in the MLP and CNN builders: the forward pass computed by hand, and why they are there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.models import build, cnn, cnn1d, mlp
from fitguard.models.builders import Residual


def test_a_residual_mlp_adds_each_blocks_input_projected_where_the_width_changes():
    torch.manual_seed(0)
    model = mlp(6, 3, hidden=[8, 8], residual=True, batchnorm=True).eval()
    x = torch.randn(5, 6)
    first, second = model.block1, model.block2
    assert isinstance(first.shortcut, nn.Linear) and first.shortcut.bias is None  # 6 -> 8: a projection
    assert isinstance(second.shortcut, nn.Identity)                               # 8 -> 8: the identity
    with torch.no_grad():
        h1 = torch.relu(first.block.norm1(first.block.linear1(x))) + x @ first.shortcut.weight.T
        h2 = torch.relu(second.block.norm2(second.block.linear2(h1))) + h1
        torch.testing.assert_close(model(x), model.output(h2))


def test_a_residual_cnn_adds_the_skip_before_pooling():
    torch.manual_seed(0)
    model = cnn(2, 4, widths=[3, 3], residual=True, input_size=(8, 8)).eval()
    x = torch.randn(2, 2, 8, 8)
    with torch.no_grad():
        block = model.block1
        expected = nn.functional.max_pool2d(block.block(x) + block.shortcut(x), 2)
        torch.testing.assert_close(model.pool1(model.block1(x)), expected)
        assert isinstance(model.block2.shortcut, nn.Identity)
    assert cnn1d(1, 3, widths=[4, 8], residual=True, input_size=16)(torch.zeros(2, 1, 16)).shape == (2, 3)


def test_skip_connections_carry_the_gradient_through_a_deep_stack():
    # 20 hidden layers at initialization: without skips the gradient reaching the first layer is a small fraction
    # of what it is with them (the reason deep plain stacks train slowly or not at all)
    x, y = torch.randn(64, 10, generator=torch.Generator().manual_seed(0)), torch.randint(0, 2, (64,))
    norms = {}
    for residual in (False, True):
        torch.manual_seed(0)
        model = mlp(10, 2, hidden=[32] * 20, residual=residual)
        nn.functional.cross_entropy(model(x), y).backward()
        first = model.block1.block.linear1 if residual else model.linear1
        norms[residual] = float(first.weight.grad.norm())
    assert norms[True] > 10 * norms[False]


def test_residual_is_a_builder_option_and_must_be_a_bool():
    assert isinstance(build("mlp", (4,), 2, hidden=[4], residual=True).block1, Residual)
    with pytest.raises(ValueError) as error:
        mlp(4, 2, residual="yes")
    assert str(error.value) == "`residual` must be True or False, got 'yes'"
