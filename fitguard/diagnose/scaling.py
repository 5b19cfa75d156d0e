"""How much more data would help: a power law fitted to validation error against training-set size.

Validation error falls with the number of training rows ``n`` as ``error(n) = a * n**(-b) + c`` (Hestness et al.
2017, "Deep learning scaling is predictable, empirically"): ``c >= 0`` is the error more data alone never
removes (label noise, a model too small), ``b > 0`` how fast the rest goes. ``fit_power_law`` fits it,
``PowerLaw.rows_for`` inverts it, ``rows_to_close`` says how many more rows close a share of the train–val gap,
and ``scaling_curve`` measures the points through a ``train_fn(n) -> (train_error, val_error)`` that the caller
supplies, so that no training happens here.

The fit is variable projection: for a fixed ``b`` the curve is linear in ``a`` and ``c``, and non-negative
least squares gives both exactly, so only ``b`` is searched, over a log grid on [0.001, 4] and then by Brent's
method inside the best grid cell. There is no starting guess to get wrong, and ``a, c >= 0`` hold by
construction, where ``curve_fit`` with bounds can stall at a bound from a poor start. Measured exponents lie
well inside the grid (0.07 to 0.35 for deep networks in Hestness et al., 0.5 for parametric estimation). The
points are unweighted: all are scored on the same validation rows, so their binomial noise is about equal.

Example:
    >>> law = fit_power_law([100, 200, 400, 800], [0.25, 0.05 + 2 / 200**0.5, 0.15, 0.05 + 2 / 800**0.5])
    >>> round(law.a, 6), round(law.b, 6), round(law.c, 6)
    (2.0, 0.5, 0.05)
    >>> rows_to_close(law, n_now=100, train_error=0.05, val_error=0.25)  # val error 0.15 at 400 rows
    300
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar, nnls

from fitguard._validation import check_int

_EXPONENTS = np.geomspace(1e-3, 4.0, 241)
#: the steepest exponent :func:`fit_power_law` fits: a fit there says the errors do not fall as a power law of the
#: rows measured (the first point above the rest, the others flat within their noise), and its ``a`` means nothing
STEEPEST = float(_EXPONENTS[-1])


@dataclass(frozen=True)
class PowerLaw:
    """``error(n) = a * n**(-b) + c``: ``a >= 0``, ``b > 0``, ``c >= 0`` (``a = 0``: flat, more data does nothing).

    Args:
        a: Scale of the shrinking part, finite and >= 0 (error units times rows**b).
        b: Exponent of its decay with the training rows, finite and > 0.
        c: The floor more data does not remove, finite and >= 0 (error units).

    Raises:
        ValueError: a coefficient outside these ranges.

    Example:
        >>> law = PowerLaw(a=2.0, b=0.5, c=0.05)
        >>> round(law.predict(400), 12), law.rows_for(0.15), law.rows_for(0.05)
        (0.15, 400, None)
    """

    a: float
    b: float
    c: float

    def __post_init__(self) -> None:
        for name, value, low in (("a", self.a, ">= 0"), ("b", self.b, "> 0"), ("c", self.c, ">= 0")):
            if not (math.isfinite(value) and (value > 0 if low == "> 0" else value >= 0)):
                raise ValueError(f"`{name}` must be finite and {low}, got {value!r}")

    def predict(self, n: float) -> float:
        """The error ``a * n**-b + c`` at ``n`` training rows.

        Args:
            n: training rows, > 0.

        Raises:
            ValueError: when ``n`` is not > 0.
        """
        if not n > 0:
            raise ValueError(f"`n` must be > 0, got {n!r}")
        return self.a * n ** -self.b + self.c

    def rows_for(self, error: float) -> int | None:
        """The fewest whole rows at which the curve is at or below ``error``.

        Args:
            error: the error to reach.

        Returns:
            The row count; None when ``error <= c`` (more data alone never gets there) or when the count is past what a
            float holds.
        """
        if error <= self.c:
            return None
        if self.a == 0:
            return 1
        try:
            exact = (self.a / (error - self.c)) ** (1 / self.b)
        except OverflowError:
            return None
        if not math.isfinite(exact):
            return None
        rows = max(1, math.ceil(exact))
        # one step either way absorbs the rounding of the power; the test is the definition itself, up to the
        # last bits of a float (2 / 400**0.5 + 0.05 is 0.15000000000000002, and 400 rows do reach 0.15)
        if rows > 1 and self._reaches(rows - 1, error):
            rows -= 1
        elif not self._reaches(rows, error):
            rows += 1
        return rows

    def _reaches(self, n: int, error: float) -> bool:
        predicted = self.predict(n)
        return predicted <= error or math.isclose(predicted, error, rel_tol=1e-12)


@dataclass(frozen=True)
class ScalingCurve:
    """Train and validation error per training-set size, and the power law fitted to the validation errors.

    Args:
        sizes: Training rows per point, strictly increasing.
        train_errors: Training error at each size.
        val_errors: Validation error at each size.
        val_law: The :class:`PowerLaw` fitted to ``val_errors``.
    """

    sizes: list[int]
    train_errors: list[float]
    val_errors: list[float]
    val_law: PowerLaw

    def rows_to_close(self, share: float = 0.5) -> int | None:
        """:func:`rows_to_close` from the largest size measured, its train and validation errors.

        Args:
            share: the part of the train-validation gap to close, in (0, 1] (default 0.5).
        """
        return rows_to_close(self.val_law, self.sizes[-1], self.train_errors[-1], self.val_errors[-1], share=share)


def _check_sizes(sizes: Sequence[int]) -> None:
    for i, size in enumerate(sizes):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"`sizes[{i}]` = {size!r}, must be a positive integer")
        if i and size <= sizes[i - 1]:
            raise ValueError(f"`sizes` must be strictly increasing: sizes[{i}] = {size} follows {sizes[i - 1]}")
    if len(sizes) < 3:
        raise ValueError(f"`sizes` must hold at least 3 sizes to fit a, b and c, got {len(sizes)}")


def _check_error(name: str, value: float) -> None:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` = {value!r}, must be finite and >= 0")


def fit_power_law(sizes: Sequence[int], errors: Sequence[float]) -> PowerLaw:
    """Least-squares ``a * n**(-b) + c`` through ``(sizes[i], errors[i])``, see the module docstring for how.

    Args:
        sizes: training rows per point, strictly increasing positive integers, at least 3.
        errors: the error at each size, finite and >= 0 (an error rate, or a loss such as MSE).

    Raises:
        ValueError: sizes not as above, or errors of another length, negative or not finite.

    Example:
        >>> law = fit_power_law([10, 100, 1000], [1.1, 0.2, 0.11])
        >>> round(law.a, 6), round(law.b, 6), round(law.c, 6)
        (10.0, 1.0, 0.1)
    """
    _check_sizes(sizes)
    if len(errors) != len(sizes):
        raise ValueError(f"`errors` must hold one error per size: {len(sizes)} sizes, {len(errors)} errors")
    for i, error in enumerate(errors):
        _check_error(f"errors[{i}]", error)
    # sizes relative to the first keep n**(-b) near 1 for every b, so the two columns stay well scaled
    scaled = np.asarray(sizes, dtype=float) / sizes[0]
    target = np.asarray(errors, dtype=float)

    def solve(b: float) -> tuple[float, float, float]:
        coefficients, residual = nnls(np.column_stack([scaled ** -b, np.ones_like(scaled)]), target)
        return residual**2, float(coefficients[0]), float(coefficients[1])

    losses = [solve(b)[0] for b in _EXPONENTS]
    best = int(np.argmin(losses))
    low, high = _EXPONENTS[max(best - 1, 0)], _EXPONENTS[min(best + 1, len(_EXPONENTS) - 1)]
    refined = minimize_scalar(lambda b: solve(b)[0], bounds=(low, high), method="bounded",
                              options={"xatol": 1e-12 * high})
    b = float(refined.x) if refined.fun <= losses[best] else float(_EXPONENTS[best])
    _, a_scaled, c = solve(b)
    return PowerLaw(a=a_scaled * sizes[0] ** b, b=b, c=c)


def rows_to_close(curve: PowerLaw, n_now: int, train_error: float, val_error: float, share: float = 0.5) -> int | None:
    """How many rows beyond ``n_now`` bring the validation error down by ``share`` of the train–val gap.

    The target is ``val_error - share * (val_error - train_error)``; the training error usually rises with more
    rows, so at that size the gap has closed by at least ``share``.

    Args:
        curve: the validation error's power law (``fit_power_law`` or ``ScalingCurve.val_law``).
        n_now: training rows today, a positive integer.
        train_error: today's training error, finite and >= 0.
        val_error: today's validation error, finite and >= 0.
        share: the part of the gap to close, in (0, 1] (default 0.5).

    Returns:
        The extra rows (0 when there is no gap or the curve is already there), or None when the target is at
        or below ``curve.c``: more data alone will not close it.

    Raises:
        ValueError: an argument outside the ranges above.

    Example:
        >>> law = PowerLaw(a=2.0, b=0.5, c=0.05)
        >>> rows_to_close(law, 100, 0.05, 0.25), rows_to_close(law, 100, 0.05, 0.25, share=1.0)
        (300, None)
    """
    check_int("n_now", n_now, low=1)
    _check_error("train_error", train_error)
    _check_error("val_error", val_error)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"`share` must be in (0, 1], got {share!r}")
    if val_error <= train_error:
        return 0
    rows = curve.rows_for(val_error - share * (val_error - train_error))
    return None if rows is None else max(0, rows - n_now)


def scaling_curve(train_fn: Callable[[int], tuple[float, float]], sizes: Sequence[int]) -> ScalingCurve:
    """Call ``train_fn(n)`` at each size and fit the validation errors' power law.

    Args:
        train_fn: trains on ``n`` training rows and returns ``(train_error, val_error)``, both scored the same
            way (the doctor trains on the first ``n`` rows of a shuffled training split, scored on validation).
        sizes: strictly increasing positive integers, at least 3.

    Raises:
        ValueError: bad ``sizes``, or ``train_fn`` returning anything but two finite errors >= 0.

    Example:
        >>> curve = scaling_curve(lambda n: (0.02, 2 * n**-0.5 + 0.05), [100, 200, 400, 800])
        >>> round(curve.val_law.b, 6), curve.rows_to_close()  # 800 rows: val 0.1207, half-way to 0.02 at 9,654
        (0.5, 8854)
    """
    _check_sizes(sizes)
    train_errors, val_errors = [], []
    for n in sizes:
        result = train_fn(n)
        if not (isinstance(result, tuple) and len(result) == 2
                and all(isinstance(v, numbers.Real) and math.isfinite(v) and v >= 0 for v in result)):
            raise ValueError(f"`train_fn({n})` must return (train_error, val_error), both finite and >= 0, "
                             f"got {result!r}")
        train_errors.append(float(result[0]))
        val_errors.append(float(result[1]))
    return ScalingCurve(list(sizes), train_errors, val_errors, fit_power_law(sizes, val_errors))
