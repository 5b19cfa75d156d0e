"""Durations as a person types them on the command line: ``90``, ``90s``, ``10m``, ``1.5h`` (and ``none``).

One parser for every option that takes a time (``fitguard doctor --budget``, ``fitguard search --timeout``), so
that they accept the same forms and refuse them in the same words.
"""

from __future__ import annotations

import re
from typing import Literal, overload

from fitguard.errors import FitguardError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*")
_SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600}


def duration_error(name: str, got: object, *, none_ok: bool = False) -> FitguardError:
    """The one line that refuses ``got`` for the duration option ``name``.

    Args:
        name: the option as the user typed it (``--timeout``).
        got: the value refused.
        none_ok: whether ``none`` was allowed, which the line then offers (default False).

    Example:
        >>> str(duration_error("--timeout", "soon"))
        "`--timeout` must be a duration > 0 such as 90s, 10m or 1h, got 'soon'"
    """
    return FitguardError(f"`{name}` must be a duration > 0 such as 90s, 10m or 1h{', or none' if none_ok else ''}, "
                         f"got {got!r}")


@overload
def parse_duration(text: str, *, name: str, none_ok: Literal[False] = False) -> float: ...
@overload
def parse_duration(text: str, *, name: str, none_ok: bool) -> float | None: ...
def parse_duration(text: str, *, name: str, none_ok: bool = False) -> float | None:
    """Seconds in a duration such as ``90``, ``90s``, ``10m`` or ``1.5h``; ``none`` (when ``none_ok``): no limit.

    Command-line input, so a bad one raises :class:`~fitguard.errors.FitguardError` (the CLI prints its line).

    Args:
        text: The duration as typed.
        name: The option's name for the message, e.g. ``"--timeout"``.
        none_ok: Whether ``none`` (any case) is accepted; it parses to None.

    Raises:
        FitguardError: ``text`` is not a positive number with an optional unit s, m or h.

    Example:
        >>> parse_duration("10m", name="--timeout"), parse_duration("90", name="--timeout")
        (600.0, 90.0)
        >>> parse_duration("None", name="--budget", none_ok=True) is None
        True
        >>> parse_duration("0s", name="--budget", none_ok=True)
        Traceback (most recent call last):
        ...
        fitguard.errors.FitguardError: `--budget` must be a duration > 0 such as 90s, 10m or 1h, or none, got '0s'
    """
    if none_ok and str(text).strip().lower() == "none":
        return None
    match = _DURATION.fullmatch(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise duration_error(name, text, none_ok=none_ok)
    return float(match.group(1)) * _SECONDS_PER[match.group(2)]
