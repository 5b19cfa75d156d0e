"""A "background" class: images without any target, so the network learns to tell target from noise.

The source article suggests adding such images. Three kinds, all in the value range of the data:
``noise`` (uniform per pixel), ``blank`` (one flat value), ``crops`` (a grid of patches cut at random places from
random training images and shuffled together, so image statistics stay real but no object survives).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fitguard._validation import check_int
from fitguard.augment.checks import check_images

KINDS = ("noise", "blank", "crops")


def add_background_class(
    X: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    count: int,
    kinds: Sequence[str] = KINDS,
    generator: torch.Generator | None = None,
    patches: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append ``count`` background images labelled ``num_classes`` (a new last class), split evenly over ``kinds``.

    Args:
        X: Training images, a floating-point (N, C, H, W) tensor; the new images share its value range
            (its min and max), dtype and device.
        y: Their integer class indices, shape (N,), all below ``num_classes``.
        num_classes: The number of classes so far (>= 1); the background class gets this label.
        count: Background images to add, >= 1.
        kinds: Which kinds to make, distinct names from ``("noise", "blank", "crops")`` (uniform per-pixel
            noise, one flat value, shuffled patches of training images); all three by default.
        generator: Random generator for every draw; None (default): torch's global one.
        patches: Cells per side of the ``crops`` grid, from 1 to the image's shorter side. Default 4.

    Returns:
        ``(X, y)`` with the background images and labels appended at the end.

    Raises:
        ValueError: a value outside the ranges above.

    Example:
        >>> X, y = add_background_class(torch.rand(6, 1, 8, 8), torch.arange(6) % 2, 2, 3,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> tuple(X.shape), y[-3:].tolist()
        ((9, 1, 8, 8), [2, 2, 2])
    """
    check_images(X)
    if y.ndim != 1 or y.shape[0] != X.shape[0] or y.is_floating_point():
        raise ValueError(f"`y` must be integer class indices of shape ({X.shape[0]},), got shape {tuple(y.shape)}")
    check_int("num_classes", num_classes, low=1)
    if len(y) and int(y.max()) >= num_classes:
        raise ValueError(f"`y` holds label {int(y.max())}, but `num_classes` is {num_classes}; labels must be below it")
    check_int("count", count, low=1)
    if isinstance(kinds, str) or not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"`kinds` must be a non-empty list of distinct names from {KINDS}, got {kinds!r}")
    if isinstance(patches, bool) or not isinstance(patches, int) or not 1 <= patches <= min(X.shape[2], X.shape[3]):
        raise ValueError(f"`patches` must be an integer from 1 to the image side {min(X.shape[2:])}, got {patches!r}")
    low, high = float(X.min()), float(X.max())
    shape = (X.shape[1], X.shape[2], X.shape[3])
    share = [count // len(kinds) + (i < count % len(kinds)) for i in range(len(kinds))]
    made = []
    for kind, n in zip(kinds, share):
        if n == 0:
            continue
        if kind == "noise":
            made.append(uniform_noise(n, shape, low, high, generator))
        elif kind == "blank":
            made.append(blank(n, shape, low, high, generator))
        else:
            made.append(shuffled_patches(X, n, patches, generator))
    background = torch.cat(made).to(device=X.device, dtype=X.dtype)
    labels = torch.full((count,), num_classes, dtype=y.dtype, device=y.device)
    return torch.cat([X, background]), torch.cat([y, labels])


def uniform_noise(
    n: int, shape: tuple[int, int, int], low: float, high: float, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` images of independent uniform pixel noise in [low, high).

    Args:
        n: images to make.
        shape: one image's (C, H, W).
        low: the lowest pixel value.
        high: the highest pixel value.
        generator: the source of the draws; None: torch's global CPU generator.
    """
    return low + (high - low) * torch.rand((n, *shape), generator=generator)


def blank(
    n: int, shape: tuple[int, int, int], low: float, high: float, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` flat images, each one uniform level drawn in [low, high).

    Args:
        n: images to make.
        shape: one image's (C, H, W).
        low: the lowest level.
        high: the highest level.
        generator: the source of the draws; None: torch's global CPU generator.
    """
    level = low + (high - low) * torch.rand((n, 1, 1, 1), generator=generator)
    return level.expand(n, *shape).clone()


def shuffled_patches(X: torch.Tensor, n: int, patches: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` images, each a patches×patches grid of cells cut from random places of random images of ``X``.

    Args:
        X: the images to cut cells from, (N, C, H, W).
        n: images to make.
        patches: cells per side.
        generator: the source of the draws; None: torch's global CPU generator.
    """
    _, channels, height, width = X.shape
    rows = [round(k * height / patches) for k in range(patches + 1)]
    cols = [round(k * width / patches) for k in range(patches + 1)]
    out = torch.empty((n, channels, height, width), dtype=X.dtype)
    source = X.cpu()
    for i in range(patches):
        for j in range(patches):
            ph, pw = rows[i + 1] - rows[i], cols[j + 1] - cols[j]
            index = torch.randint(0, X.shape[0], (n,), generator=generator)
            top = torch.randint(0, height - ph + 1, (n,), generator=generator)
            left = torch.randint(0, width - pw + 1, (n,), generator=generator)
            r = top[:, None, None] + torch.arange(ph)[None, :, None]
            c = left[:, None, None] + torch.arange(pw)[None, None, :]
            # (n, ph, pw, C) from advanced indexing on dims 0, 2, 3
            cell = source[index[:, None, None], :, r, c]
            out[:, :, rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = cell.permute(0, 3, 1, 2)
    return out
