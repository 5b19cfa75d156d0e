"""Model builders (MLP, 1-D and 2-D CNNs), parameter/connection counting and a pitfall linter.

Example:
    >>> from fitguard.models import count, mlp
    >>> count(mlp(2, 1, hidden=[5, 5]), (2,)).connections
    40
"""

from __future__ import annotations

from fitguard.models.builders import ACTIVATIONS, BUILDERS, build, build_network, cnn, cnn1d, mlp
from fitguard.models.counting import CountReport, LayerCount, count, count_parameters, summary
from fitguard.models.embedding import EmbeddedNet, TableEmbedding, with_embeddings
from fitguard.models.lint import TINY_NETWORK_HIDDEN_UNITS, LintWarning, lint

__all__ = [
    "ACTIVATIONS",
    "BUILDERS",
    "TINY_NETWORK_HIDDEN_UNITS",
    "CountReport",
    "EmbeddedNet",
    "LayerCount",
    "LintWarning",
    "TableEmbedding",
    "build",
    "build_network",
    "cnn",
    "cnn1d",
    "count",
    "count_parameters",
    "lint",
    "mlp",
    "summary",
    "with_embeddings",
]
