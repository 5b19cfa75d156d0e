"""The model a pretrained backbone becomes: an input adapter, a body of named blocks, and a head.

Example:
    >>> model = TransferModel(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), nn.Linear(3, 2), feature_dim=3)
    >>> model(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class ImageAdapter(nn.Module):
    """Repeat grey channels to the backbone's channels and resize to the size it was trained at (no parameters).

    Args:
        channels: Channels the backbone takes (3 for RGB); a 1-channel batch is repeated to this many, any other
            mismatch raises ``ValueError`` at call time.
        image_size: ``(height, width)`` images are bilinearly resized to; None (default): no resize.

    Example:
        >>> ImageAdapter(3, (64, 64))(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, channels: int, image_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.image_size = None if image_size is None else tuple(image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Repeat a single channel to ``channels`` and resize to ``image_size`` (bilinear) when they differ.

        Args:
            x: images (N, C, H, W).

        Raises:
            ValueError: when ``C`` is neither ``channels`` nor 1.
        """
        if x.shape[1] != self.channels:
            if x.shape[1] != 1:
                raise ValueError(f"the backbone takes {self.channels}-channel images, got {x.shape[1]} channels")
            x = x.expand(-1, self.channels, -1, -1)
        if self.image_size is not None and tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        return x

    def extra_repr(self) -> str:
        """``channels`` and ``image_size``, for the module's ``repr``."""
        return f"channels={self.channels}, image_size={self.image_size}"


class TransferModel(nn.Module):
    """``head(body(adapter(x)))``: the body is an ``nn.Sequential`` of named blocks ending in a flat feature vector.

    Each child of ``body`` is one layer block for :func:`freeze`, the head is the last block.

    Args:
        body: The feature extractor, a ``Sequential`` of named blocks whose output is ``(N, feature_dim)``.
        head: The classifier on the features (e.g. an ``nn.Linear(feature_dim, classes)``).
        feature_dim: Width of the body's feature vector (recorded for heads and probes; not checked).
        adapter: A module applied to the input before the body, e.g. an :class:`ImageAdapter`; None (default):
            the identity.
    """

    def __init__(self, body: nn.Sequential, head: nn.Module, feature_dim: int,
                 adapter: nn.Module | None = None) -> None:
        super().__init__()
        self.adapter = adapter if adapter is not None else nn.Identity()
        self.body = body
        self.head = head
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The body's feature vectors ``body(adapter(x))``, (N, ``feature_dim``).

        Args:
            x: a batch of inputs.
        """
        return self.body(self.adapter(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``head(features(x))``.

        Args:
            x: a batch of inputs.
        """
        return self.head(self.features(x))

    def transfer_blocks(self) -> Iterator[tuple[str, nn.Module]]:
        """Yield ``(name, module)`` per layer block in forward order: ``adapter``, each ``body.<name>``, ``head``."""
        yield "adapter", self.adapter
        for name, block in self.body.named_children():
            yield f"body.{name}", block
        yield "head", self.head
