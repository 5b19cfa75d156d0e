"""The grouped network against its members run one by one: outputs, batch norm statistics, extraction, masking."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.func import functional_call

from fitguard.models.builders import cnn, cnn1d, mlp
from fitguard.models.embedding import with_embeddings
from fitguard.models.grouped import GroupedNet, groupable, member_slice

ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: mlp(12, 3, hidden=[8, 8], batchnorm=True), (12,)),
    "mlp on images": (lambda: mlp(2 * 4 * 4, 3, hidden=[8]), (2, 4, 4)),
    "mlp on Fourier features": (lambda: mlp(12, 3, hidden=[8], fourier=16, batchnorm=True), (12,)),
    "cnn": (lambda: cnn(2, 5, widths=[4, 8], input_size=(8, 8), pool_to=2, head_hidden=6), (2, 8, 8)),
    "cnn1d": (lambda: cnn1d(2, 5, widths=[4, 8], input_size=16, kernel_size=3), (2, 16)),
}


def _members(make: Callable[[], nn.Module], k: int = 3) -> list[nn.Module]:
    members = []
    for seed in range(k):
        torch.manual_seed(seed)
        members.append(make())
    return members


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("training", [True, False])
def test_each_member_block_is_that_member(name: str, training: bool) -> None:
    make, shape = ARCHITECTURES[name]
    members = _members(make)
    for member in members:  # non-trivial running statistics, so eval mode tests them too
        with torch.no_grad():
            member.train()(torch.randn(10, *shape) * 3 + 1)
    net = GroupedNet.from_members(members).train(training)
    for member in members:
        member.train(training)
    x = torch.randn(7, 3, *shape)
    out = net(x.flatten(1, 2)).view(7, 3, -1)
    for m, member in enumerate(members):
        torch.testing.assert_close(out[:, m], member(x[:, m]), rtol=1e-5, atol=1e-6)
        # batch norm's running statistics moved per member as each member's own did
        for key, value in member.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                torch.testing.assert_close(net.state_dict_of(m)[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_an_extracted_member_is_an_ordinary_module_with_the_same_outputs(name: str) -> None:
    make, shape = ARCHITECTURES[name]
    members = _members(make)
    net = GroupedNet.from_members(members).eval()
    x = torch.randn(5, 3, *shape)
    out = net(x.flatten(1, 2)).view(5, 3, -1)
    for m in range(3):
        extracted = net.member(m).eval()
        assert type(extracted) is nn.Sequential
        assert [n for n, _ in extracted.named_children()] == [n for n, _ in members[m].named_children()]
        torch.testing.assert_close(extracted(x[:, m]), out[:, m], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(extracted(x[:, m]), members[m].eval()(x[:, m]), rtol=1e-5, atol=1e-6)


def test_select_keeps_the_chosen_members_in_order() -> None:
    make, shape = ARCHITECTURES["cnn"]
    members = _members(make, 4)
    net = GroupedNet.from_members(members).eval()
    chosen = net.select([3, 1])
    x = torch.randn(4, 2, *shape)
    out = chosen(x.flatten(1, 2)).view(4, 2, -1)
    torch.testing.assert_close(out[:, 0], members[3].eval()(x[:, 0]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[:, 1], members[1].eval()(x[:, 1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_masked_batch_norm_uses_each_members_real_rows_only(name: str) -> None:
    make, shape = ARCHITECTURES[name]
    members = _members(make)
    net = GroupedNet.from_members(members).train()
    x = torch.randn(6, 3, *shape)
    x[4:, 1] = 1e3  # padding: would wreck member 1's statistics if it counted
    x[:, 2] = -1e3  # member 2 has no rows at all in this step
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[4:, 1] = False
    mask[:, 2] = False
    out = net(x.flatten(1, 2), mask).view(6, 3, -1)
    torch.testing.assert_close(out[:, 0], members[0].train()(x[:, 0]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:4, 1], members[1].train()(x[:4, 1]), rtol=1e-5, atol=1e-5)
    assert torch.isfinite(out).all()
    for m in (0, 1):
        for key, value in members[m].state_dict().items():
            if not key.endswith("num_batches_tracked"):
                torch.testing.assert_close(net.state_dict_of(m)[key], value, rtol=1e-5, atol=1e-6)
    fresh = _members(make)[2].state_dict()  # the absent member's statistics did not move
    for key, value in fresh.items():
        if "running" in key:
            torch.testing.assert_close(net.state_dict_of(2)[key], value)


def test_member_slice_reads_blocks_of_dim_zero() -> None:
    t = torch.arange(12.0).view(6, 2)
    torch.testing.assert_close(member_slice(t, 3, 2), torch.tensor([[8.0, 9.0], [10.0, 11.0]]))
    torch.testing.assert_close(member_slice(t, 3, [2, 0]), t[[4, 5, 0, 1]])
    shared = torch.tensor(7)
    assert member_slice(shared, 3, 1) is shared


def test_unsupported_models_are_named() -> None:
    assert groupable(mlp(4, 2)) and groupable(cnn1d(1, 2, widths=[4]))
    embedded = with_embeddings(lambda shape: mlp(shape[0], 2, hidden=[4]), (3,), [(0, 10, 5)])
    assert not groupable(embedded)
    with pytest.raises(ValueError) as error:
        GroupedNet.from_members([embedded, embedded])
    assert str(error.value) == f"only nn.Sequential networks can be grouped, got {type(embedded).__name__}"
    lstm = nn.Sequential(nn.LSTM(3, 4))
    with pytest.raises(ValueError) as error:
        GroupedNet.from_members([lstm])
    assert str(error.value) == ("layer '0' (LSTM) cannot be grouped; supported: Linear, Conv1d, Conv2d, BatchNorm1d, "
                                "BatchNorm2d, Flatten, activations, dropout and pooling")
    with pytest.raises(ValueError) as error:
        GroupedNet.from_members([mlp(4, 2, hidden=[3]), mlp(4, 2, hidden=[5])])
    assert str(error.value) == ("`members[1]` is not the same architecture as `members[0]`; "
                                "grouping needs k copies of one network")
    with pytest.raises(ValueError) as error:
        GroupedNet.from_members([])
    assert str(error.value) == "`members` must hold at least one network, got none"


def test_batch_norm_without_momentum_is_refused() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None))
    with pytest.raises(ValueError) as error:
        GroupedNet.from_members([model])
    assert str(error.value) == ("layer '1': batch norm with momentum=None (a cumulative average) cannot be grouped; "
                                "use a momentum such as 0.1")




def test_grouped_linear_gradients_match_finite_differences_and_the_members_layers() -> None:
    from fitguard.models.grouped import GroupedLinear

    g = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 4, dtype=torch.float64, generator=g, requires_grad=True)  # 3 members, 4 -> 2
    bias = torch.randn(6, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(5, 12, dtype=torch.float64, generator=g, requires_grad=True)
    # through the layer's forward (its custom autograd function), with the parameters swapped for the inputs
    layer, unbiased = GroupedLinear(3, 4, 2).double(), GroupedLinear(3, 4, 2, bias=False).double()
    assert torch.autograd.gradcheck(lambda x, w, b: functional_call(layer, {"weight": w, "bias": b}, (x,)),
                                    (x, weight, bias))
    assert torch.autograd.gradcheck(lambda x, w: functional_call(unbiased, {"weight": w}, (x,)), (x, weight))
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    for m in range(3):  # each block is its member's own linear layer
        torch.testing.assert_close(layer(x).detach()[:, 2 * m:2 * m + 2],
                                   nn.functional.linear(x[:, 4 * m:4 * m + 4], weight[2 * m:2 * m + 2],
                                                        bias[2 * m:2 * m + 2]).detach())
