"""Entity embeddings for a table's many-category columns: a lookup layer in front of any table network.

A table's preprocessing (``fitguard.data.encoding``) turns a column with more categories than a one-hot should
carry (a town, a zip code, a product) into one *code* feature; :class:`TableEmbedding` replaces each such feature by
a learned vector, and :func:`with_embeddings` puts it in front of a network built for the widened input. The
network itself is any table model (the built-in MLP, a user's builder): it sees ``(N, width)`` floats as before.

Why embeddings: a one-hot of 68 zip codes gives the first layer 68 × hidden weights, each learned from the few rows
of its zip code; an embedding of width 17 (fastai's rule) shares what zip codes have in common, and is how the
tabular networks of Guo & Berkhahn ("Entity Embeddings of Categorical Variables", 2016) and fastai treat such
columns. Code 0 (unknown: categories seen once in training, or first seen later) starts at zero: while the training
rows hold no such category it stays there, and a row with an unknown category is read as "no information" rather
than as a random vector.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = with_embeddings(lambda shape: nn.Linear(shape[0], 2), (3,), [(0, 5, 4)])
    >>> net(torch.tensor([[3.0, 0.5, -1.0]])).shape
    torch.Size([1, 2])
    >>> net.embed.out_features
    6
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

EmbeddingSpec = tuple[int, int, int]


def _check_specs(in_features: int, embeddings: Sequence[Sequence[int]]) -> tuple[EmbeddingSpec, ...]:
    specs = tuple(tuple(int(v) for v in spec) for spec in embeddings)
    for spec in specs:
        if len(spec) != 3 or not 0 <= spec[0] < in_features or spec[1] < 1 or spec[2] < 1:
            raise ValueError(f"an embedding is (feature index < {in_features}, codes >= 1, width >= 1), got {spec!r}")
    if len({spec[0] for spec in specs}) != len(specs):
        raise ValueError(f"two embeddings read the same feature: {[spec[0] for spec in specs]}")
    return specs  # type: ignore[return-value]


class TableEmbedding(nn.Module):
    """``(N, in_features)`` floats -> the features that are not codes, then one learned vector per code feature.

    A code is read as the nearest whole number and clipped into its table (input noise or mixup, if a user asks
    for them on a table, blur codes: they pick a neighbouring code, not a blend of vectors).

    Args:
        in_features: the encoded table's width.
        embeddings: ``(feature index, codes, width)`` per code feature (``Preprocessor.embeddings``).

    Example:
        >>> layer = TableEmbedding(2, [(1, 3, 2)])
        >>> layer(torch.tensor([[0.5, 0.0]])).tolist()   # code 0 starts at zero
        [[0.5, 0.0, 0.0]]
    """

    def __init__(self, in_features: int, embeddings: Sequence[Sequence[int]]) -> None:
        super().__init__()
        specs = _check_specs(int(in_features), embeddings)
        self.in_features = int(in_features)
        codes = {spec[0] for spec in specs}
        self.register_buffer("plain_index", torch.tensor([i for i in range(in_features) if i not in codes],
                                                         dtype=torch.long), persistent=False)
        self.register_buffer("code_index", torch.tensor([spec[0] for spec in specs], dtype=torch.long),
                             persistent=False)
        self.tables = nn.ModuleList(nn.Embedding(spec[1], spec[2]) for spec in specs)
        with torch.no_grad():
            for table in self.tables:
                table.weight[0].zero_()
        self.out_features = len(self.plain_index) + sum(spec[2] for spec in specs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The plain features followed by each code feature's embedding vector, (N, ``out_features``).

        Args:
            x: encoded table rows (N, ``in_features``); codes are rounded and clamped into their table.
        """
        x = x.reshape(len(x), -1)
        codes = x.index_select(1, self.code_index).round().long()
        vectors = [table(codes[:, k].clamp(0, table.num_embeddings - 1)) for k, table in enumerate(self.tables)]
        return torch.cat([x.index_select(1, self.plain_index), *vectors], dim=1)


class EmbeddedNet(nn.Module):
    """A :class:`TableEmbedding` (``embed``) followed by the network (``net``) that takes its output.

    Args:
        embed: The lookup layer applied to the encoded table rows.
        net: The network built for ``embed.out_features`` inputs.
    """

    def __init__(self, embed: TableEmbedding, net: nn.Module) -> None:
        super().__init__()
        self.embed = embed
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``net(embed(x))``.

        Args:
            x: encoded table rows, as :class:`TableEmbedding` takes them.
        """
        return self.net(self.embed(x))


def with_embeddings(make: Callable[[tuple[int, ...]], nn.Module], input_shape: Sequence[int],
                    embeddings: Sequence[Sequence[int]] = ()) -> nn.Module:
    """The network ``make(shape)`` builds, behind a lookup layer when ``embeddings`` name code features.

    Args:
        make: builds the network for inputs of one sample's ``shape`` (called once).
        input_shape: the data's shape; a table's encoded shape is ``(features,)``.
        embeddings: ``(feature index, codes, width)`` per code feature; empty: ``make(input_shape)`` as it is.
    """
    shape = tuple(int(s) for s in input_shape)
    if not embeddings:
        return make(shape)
    embed = TableEmbedding(int(torch.Size(shape).numel()), embeddings)
    return EmbeddedNet(embed, make((embed.out_features,)))
