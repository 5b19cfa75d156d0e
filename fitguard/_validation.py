"""Argument checks that say once what an argument accepts and raise one line in one wording.

Every check raises ``ValueError`` (see :mod:`fitguard.errors` for when ``FitguardError`` applies instead) with
the message ``` `name` must be <what it accepts>, got <what it received> ```, and returns the value unchanged
(never rewritten: a caller stores what it was given). The idea is scikit-learn's ``_parameter_constraints``
(``Interval``, ``StrOptions``): the accepted set is declared, and the message is derived from it rather than
restated by hand at each call site.

``bool`` is not a number here: ``True`` passed as a count or a rate is a mistake, not 1. Integers include numpy's
(shapes and counts often come from arrays).

Example:
    >>> check_int("patience", 3, low=0)
    3
    >>> check_int("patience", -1, low=0)
    Traceback (most recent call last):
    ...
    ValueError: `patience` must be an integer >= 0, got -1
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, Literal, TypeVar

Closed = Literal["both", "left", "right", "neither"]
T = TypeVar("T")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def describe_range(low: float | None, high: float | None, closed: Closed = "both") -> str:
    """The accepted range in words: ``>= 1``, ``> 0``, ``in [0, 1)``; empty when unbounded.

    Example:
        >>> describe_range(0, 1, "left"), describe_range(0, None, "neither"), describe_range(None, 5)
        ('in [0, 1)', '> 0', '<= 5')
    """
    left_closed, right_closed = closed in ("both", "left"), closed in ("both", "right")
    if low is not None and high is not None:
        return f"in {'[' if left_closed else '('}{low}, {high}{']' if right_closed else ')'}"
    if low is not None:
        return f"{'>=' if left_closed else '>'} {low}"
    if high is not None:
        return f"{'<=' if right_closed else '<'} {high}"
    return ""


def _in_range(value: Any, low: float | None, high: float | None, closed: Closed) -> bool:
    left_closed, right_closed = closed in ("both", "left"), closed in ("both", "right")
    if low is not None and not (value >= low if left_closed else value > low):
        return False
    return high is None or (value <= high if right_closed else value < high)


def _fail(name: str, accepted: str, value: object, none_ok: bool) -> ValueError:
    return ValueError(f"`{name}` must be {'None or ' if none_ok else ''}{accepted}, got {value!r}")


def check_int(name: str, value: T, *, low: int | None = None, high: int | None = None,
              none_ok: bool = False) -> T:
    """``value`` if it is an integer within ``[low, high]`` (None too, when ``none_ok``), else ``ValueError``.

    Args:
        name: The argument's name, as the caller spells it.
        value: What was passed.
        low: The smallest accepted value; None: no lower bound.
        high: The largest accepted value; None: no upper bound.
        none_ok: Whether None is accepted (it usually means "off" or "all").

    Raises:
        ValueError: ``value`` is not an integer (``bool`` is not one) or lies outside the bounds.

    Example:
        >>> check_int("keep", None, low=1, none_ok=True) is None
        True
        >>> check_int("keep", True, low=1, none_ok=True)
        Traceback (most recent call last):
        ...
        ValueError: `keep` must be None or an integer >= 1, got True
        >>> check_int("successes", 7, low=0, high=5)
        Traceback (most recent call last):
        ...
        ValueError: `successes` must be an integer in [0, 5], got 7
    """
    if (value is None and none_ok) or (_is_int(value) and _in_range(value, low, high, "both")):
        return value
    raise _fail(name, f"an integer {describe_range(low, high)}".rstrip(), value, none_ok)


def check_number(name: str, value: T, *, low: float | None = None, high: float | None = None,
                 closed: Closed = "both", finite: bool = False, none_ok: bool = False) -> T:
    """``value`` if it is a real number in the range (None too, when ``none_ok``), else ``ValueError``.

    Args:
        name: The argument's name, as the caller spells it.
        value: What was passed.
        low: The lower bound; None: none.
        high: The upper bound; None: none.
        closed: Which bounds are included: ``"both"`` (default), ``"left"``, ``"right"`` or ``"neither"``.
        finite: Refuse inf and NaN too (a two-sided range refuses them anyway, NaN always fails a bound).
        none_ok: Whether None is accepted.

    Raises:
        ValueError: ``value`` is not a real number (``bool`` is not one), or lies outside the range.

    Example:
        >>> check_number("lr", 0.1, low=0, closed="neither", finite=True)
        0.1
        >>> check_number("lr", float("inf"), low=0, closed="neither", finite=True)
        Traceback (most recent call last):
        ...
        ValueError: `lr` must be a finite number > 0, got inf
        >>> check_number("smoothing", 1, low=0, high=1, closed="left")
        Traceback (most recent call last):
        ...
        ValueError: `smoothing` must be a number in [0, 1), got 1
    """
    if value is None and none_ok:
        return value
    if _is_number(value) and not math.isnan(value) and (not finite or math.isfinite(value)) \
            and _in_range(value, low, high, closed):
        return value
    what = "a finite number" if finite and (low is None or high is None) else "a number"
    raise _fail(name, f"{what} {describe_range(low, high, closed)}".rstrip(), value, none_ok)


def check_bool(name: str, value: T) -> T:
    """``value`` if it is ``True`` or ``False``, else ``ValueError`` (``1`` and ``"yes"`` are not booleans).

    Example:
        >>> check_bool("residual", 1)
        Traceback (most recent call last):
        ...
        ValueError: `residual` must be True or False, got 1
    """
    if isinstance(value, bool):
        return value
    raise _fail(name, "True or False", value, False)


def check_type(name: str, value: T, types: type | tuple[type, ...], *, none_ok: bool = False,
               what: str | None = None) -> T:
    """``value`` if it is an instance of ``types`` (or None, when ``none_ok``), else ``ValueError`` naming its type.

    Args:
        name: The argument's name, as the caller spells it.
        value: What was passed.
        types: The accepted class or classes.
        none_ok: Whether None is accepted.
        what: How to name the accepted kind (``"a torch.Generator"``); default: ``a`` and the class names.

    Raises:
        ValueError: ``value`` is of another type; the message names that type (a repr can be pages long).

    Example:
        >>> check_type("space", {}, (list, tuple))
        Traceback (most recent call last):
        ...
        ValueError: `space` must be a list or a tuple, got dict
    """
    if (value is None and none_ok) or isinstance(value, types):
        return value
    if what is None:
        what = " or ".join(f"a {kind.__name__}" for kind in (types if isinstance(types, tuple) else (types,)))
    message = f"`{name}` must be {'None or ' if none_ok else ''}{what}, got {type(value).__name__}"
    raise ValueError(message)


def check_in(name: str, value: T, choices: Collection[Any]) -> T:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them.

    Example:
        >>> check_in("mode", "max", ("min", "max"))
        'max'
        >>> check_in("mode", "best", ("min", "max", "auto"))
        Traceback (most recent call last):
        ...
        ValueError: `mode` must be 'min', 'max' or 'auto', got 'best'
    """
    if value in choices:
        return value
    raise _fail(name, describe_choices(choices), value, False)


def describe_choices(choices: Collection[Any]) -> str:
    """``'a', 'b' or 'c'``: the choices as a reader would list them.

    Example:
        >>> describe_choices(["min"]), describe_choices(["min", "max"])
        ("'min'", "'min' or 'max'")
    """
    shown = [repr(choice) for choice in choices]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
