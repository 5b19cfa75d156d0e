"""The lookup layer in front of a table network: what it computes, and that a network behind it learns from codes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.data import TensorData
from fitguard.models import EmbeddedNet, TableEmbedding, build_network, count_parameters, with_embeddings
from fitguard.train import Trainer


def test_the_output_is_the_plain_features_then_each_codes_row_of_its_table():
    torch.manual_seed(0)
    layer = TableEmbedding(4, [(2, 5, 3), (0, 4, 2)])
    x = torch.tensor([[3.0, 0.5, 1.0, -2.0], [0.0, 1.5, 4.0, 7.0], [9.0, 0.0, -1.0, 1.0]])
    out = layer(x)
    first, second = layer.tables[0].weight, layer.tables[1].weight
    # codes outside a table are clipped into it: 9 -> 3 (the last of 4), -1 -> 0
    expected = torch.stack([torch.cat([x[i, [1, 3]], first[c2], second[c0]])
                            for i, (c2, c0) in enumerate([(1, 3), (4, 0), (0, 3)])])
    torch.testing.assert_close(out, expected)
    assert layer.out_features == 2 + 3 + 2 and out.shape == (3, 7)
    assert torch.equal(first[0], torch.zeros(3)) and torch.equal(second[0], torch.zeros(2))  # unknown starts at zero
    assert not torch.equal(first[1], torch.zeros(3))


@pytest.mark.parametrize(("specs", "message"), [
    ([(4, 5, 3)], "an embedding is (feature index < 4, codes >= 1, width >= 1), got (4, 5, 3)"),
    ([(0, 0, 3)], "an embedding is (feature index < 4, codes >= 1, width >= 1), got (0, 0, 3)"),
    ([(1, 5, 3), (1, 2, 2)], "two embeddings read the same feature: [1, 1]"),
])
def test_bad_specs_are_refused_in_one_line(specs, message):
    with pytest.raises(ValueError) as error:
        TableEmbedding(4, specs)
    assert str(error.value) == message


def test_build_network_widens_the_builders_input_and_without_embeddings_is_the_plain_network():
    plain = build_network("mlp", (5,), 3, {"hidden": [8]})
    assert isinstance(plain, nn.Sequential) and plain.linear1.in_features == 5
    embedded = build_network("mlp", (5,), 3, {"hidden": [8]}, embeddings=[(0, 30, 12)])
    assert isinstance(embedded, EmbeddedNet) and embedded.net.linear1.in_features == 4 + 12
    assert count_parameters(embedded) == 30 * 12 + count_parameters(embedded.net)
    seen = []
    with_embeddings(lambda shape: seen.append(shape) or nn.Identity(), (5,), [(1, 3, 2)])
    assert seen == [(6,)]


def test_a_network_learns_a_label_that_only_the_category_decides():
    # 40 towns, each with its own label: from the code as a number an MLP cannot tell them apart; through the
    # embedding it learns every town (a plain linear layer on the code gets about half of them)
    torch.manual_seed(0)
    towns = torch.randint(1, 41, (800,))
    label_of = torch.randint(0, 2, (41,))
    X = torch.stack([towns.float(), torch.randn(800)], 1)
    y = label_of[towns]
    accuracy = {}
    for name, embeddings in (("embedded", [(0, 41, 8)]), ("plain", [])):
        torch.manual_seed(0)
        model = build_network("mlp", (2,), 2, {"hidden": [32]}, embeddings=embeddings)
        Trainer(model, max_epochs=40, lr=1e-2, batch_size=64, seed=0).fit(TensorData(X[:600], y[:600]))
        with torch.no_grad():
            accuracy[name] = float((model(X[600:]).argmax(1) == y[600:]).float().mean())
    assert accuracy["embedded"] > 0.97 and accuracy["plain"] < 0.8
