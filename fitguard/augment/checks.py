"""Argument checks shared by the augmentations: one line naming the argument, what is allowed, what came in."""

from __future__ import annotations

import torch

from fitguard._validation import check_number


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def check_rotate(rotate: object) -> tuple[float, float]:
    """Degrees r >= 0 -> (-r, r); a (min, max) pair inside [-360, 360] is kept.

    Args:
        rotate: the ``rotate`` option as given.

    Raises:
        ValueError: anything else, naming what was given.

    Example:
        >>> check_rotate(15)
        (-15.0, 15.0)
    """
    pair = rotate if isinstance(rotate, (tuple, list)) else None
    if pair is None and _is_number(rotate) and 0 <= rotate <= 360:
        return -float(rotate), float(rotate)
    if pair is not None and len(pair) == 2 and all(_is_number(v) for v in pair) and -360 <= pair[0] <= pair[1] <= 360:
        return float(pair[0]), float(pair[1])
    raise ValueError(
        f"`rotate` must be degrees r in [0, 360] (for [-r, r]) or a (min, max) pair with "
        f"-360 <= min <= max <= 360, got {rotate!r}"
    )


def check_scale(scale: object) -> tuple[float, float]:
    """Zoom s in [0, 1) -> (1 - s, 1 + s); a (min, max) pair with 0 < min <= max is kept.

    Args:
        scale: the ``scale`` option as given.

    Raises:
        ValueError: anything else, naming what was given.

    Example:
        >>> check_scale(0.25)
        (0.75, 1.25)
    """
    pair = scale if isinstance(scale, (tuple, list)) else None
    if pair is None and _is_number(scale) and 0 <= scale < 1:
        return 1 - float(scale), 1 + float(scale)
    if pair is not None and len(pair) == 2 and all(_is_number(v) for v in pair) and 0 < pair[0] <= pair[1]:
        return float(pair[0]), float(pair[1])
    raise ValueError(
        f"`scale` must be None, s in [0, 1) (for [1 - s, 1 + s]) or a (min, max) pair with 0 < min <= max, "
        f"got {scale!r}"
    )


def check_shift(shift: object) -> tuple[float, float]:
    """A fraction of the size in [0, 1), or a (horizontal, vertical) pair of them.

    Args:
        shift: the ``shift`` option as given.

    Raises:
        ValueError: anything else, naming what was given.

    Example:
        >>> check_shift(0.1)
        (0.1, 0.1)
    """
    pair = shift if isinstance(shift, (tuple, list)) else (shift, shift)
    if len(pair) == 2 and all(_is_number(v) and 0 <= v < 1 for v in pair):
        return float(pair[0]), float(pair[1])
    raise ValueError(f"`shift` must be a fraction in [0, 1) or a (horizontal, vertical) pair of them, got {shift!r}")


def check_fraction(name: str, value: object, upper_open: bool) -> None:
    """``value`` in [0, 1] (or [0, 1) when ``upper_open``).

    Args:
        name: the option's name, for the message.
        value: its value.
        upper_open: whether 1 is excluded.

    Raises:
        ValueError: a value outside the interval.
    """
    check_number(name, value, low=0, high=1, closed="left" if upper_open else "both")


def check_positive_alpha(alpha: object) -> None:
    """``alpha`` > 0 (a Beta distribution's shape parameter).

    Args:
        alpha: mixup's or cutmix's Beta parameter.

    Raises:
        ValueError: ``alpha`` not a number > 0.
    """
    check_number("alpha", alpha, low=0, closed="neither")


def check_images(x: object) -> None:
    """A floating (B, C, H, W) tensor.

    Args:
        x: the value to check.

    Raises:
        ValueError: anything else, naming its shape and dtype (or type).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        got = f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"`x` must be a floating-point tensor of shape (B, C, H, W), got {got}")
