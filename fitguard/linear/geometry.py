"""Why L1 gives zeros and L2 does not, computed: the constrained minima of a two-parameter squared loss.

The loss is ``L(w) = (w - c)ᵀ A (w - c)`` (elliptic level curves around the unconstrained minimum ``c``). Penalizing
with λ is the same as constraining the weights to a budget: ``‖w‖₁ ≤ t`` (a diamond) or ``‖w‖₂ ≤ t`` (a circle).
Both problems are solved exactly: the L1 minimum is the best point of the diamond's four edges (a 1-D quadratic on
each, clipped to the edge, so a corner is returned exactly and a zero weight is exactly 0.0); the L2 minimum is
``(A + μI)⁻¹ A c`` with μ ≥ 0 found by bisection so that it lies on the circle (the KKT conditions).

The documented example (the defaults): ``c = (2.0, 0.5)``, ``A = [[1.0, 0.3], [0.3, 0.6]]``, budget ``t = 1``.
The ellipse first touches the diamond at its corner (1, 0), so w₂ = 0 exactly; it touches the circle at
(0.94, 0.35), where neither weight is zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fitguard._validation import check_number

Pair = tuple[float, float]


@dataclass(frozen=True)
class Geometry:
    """The example's numbers: ``center`` is the unconstrained minimum, ``*_minimum`` the constrained ones.

    Args:
        center: The unconstrained minimum (w₁, w₂).
        curvature: The loss's 2x2 matrix A.
        budget: The radius t of both balls.
        l1_minimum: The minimum over ``‖w‖₁ <= t``.
        l2_minimum: The minimum over ``‖w‖₂ <= t``.
        l1_loss: The loss at ``l1_minimum``.
        l2_loss: The loss at ``l2_minimum``.
    """

    center: Pair
    curvature: tuple[Pair, Pair]
    budget: float
    l1_minimum: Pair
    l2_minimum: Pair
    l1_loss: float
    l2_loss: float


def constrained_minima(
    center: Pair = (2.0, 0.5), curvature: tuple[Pair, Pair] = ((1.0, 0.3), (0.3, 0.6)), budget: float = 1.0
) -> Geometry:
    """Minimize ``(w - center)ᵀ curvature (w - center)`` over the L1 and the L2 ball of radius ``budget``.

    Args:
        center: The unconstrained minimum (w₁, w₂), two finite numbers. Default (2.0, 0.5).
        curvature: The loss's symmetric positive-definite 2x2 matrix A (its level curves are ellipses). Default
            ((1.0, 0.3), (0.3, 0.6)).
        budget: Radius t of both balls, ``‖w‖₁ <= t`` and ``‖w‖₂ <= t``, finite and > 0. Default 1.0.

    Raises:
        ValueError: a center, curvature or budget outside the above.

    Example:
        >>> result = constrained_minima()
        >>> result.l1_minimum
        (1.0, 0.0)
    """
    c, A = _check_problem(center, curvature, budget)
    l1 = _l1_minimum(c, A, budget)
    l2 = _l2_minimum(c, A, budget)
    return Geometry(
        center=(float(c[0]), float(c[1])),
        curvature=((float(A[0, 0]), float(A[0, 1])), (float(A[1, 0]), float(A[1, 1]))),
        budget=float(budget),
        l1_minimum=(float(l1[0]), float(l1[1])),
        l2_minimum=(float(l2[0]), float(l2[1])),
        l1_loss=_loss(l1, c, A),
        l2_loss=_loss(l2, c, A),
    )


def geometry_figure(
    path: str | Path,
    center: Pair = (2.0, 0.5),
    curvature: tuple[Pair, Pair] = ((1.0, 0.3), (0.3, 0.6)),
    budget: float = 1.0,
) -> Geometry:
    """Solve ``constrained_minima`` and save the level-curve figure (diamond, circle, both minima) as a PNG.

    Args:
        path: The PNG file to write.
        center: The unconstrained minimum (w₁, w₂), two finite numbers. Default (2.0, 0.5).
        curvature: The loss's symmetric positive-definite 2x2 matrix A (its level curves are ellipses). Default
            ((1.0, 0.3), (0.3, 0.6)).
        budget: Radius t of both balls, ``‖w‖₁ <= t`` and ``‖w‖₂ <= t``, finite and > 0. Default 1.0.

    Raises:
        ValueError: a center, curvature or budget outside the above.

    Example:
        >>> import tempfile
        >>> geometry_figure(Path(tempfile.mkdtemp()) / "geometry.png").l1_minimum[1]
        0.0
    """
    result = constrained_minima(center, curvature, budget)
    c, A = np.asarray(result.center), np.asarray(result.curvature)
    reach = max(abs(c[0]), abs(c[1]), budget) * 1.35
    axis = np.linspace(-reach, reach, 400)
    grid_x, grid_y = np.meshgrid(axis, axis)
    offsets = np.stack([grid_x - c[0], grid_y - c[1]], axis=-1)
    loss = np.einsum("...i,ij,...j->...", offsets, A, offsets)

    figure = Figure(figsize=(6.4, 6.0), dpi=110)
    ax = figure.add_subplot()
    levels = np.quantile(loss, np.linspace(0.01, 0.6, 9))
    ax.contour(grid_x, grid_y, loss, levels=np.unique(levels), colors="0.7", linewidths=0.8)
    # The level curve through each constrained minimum is the one that just touches its constraint set.
    ax.contour(grid_x, grid_y, loss, levels=[result.l1_loss], colors="tab:blue", linestyles="--", linewidths=1.2)
    ax.contour(grid_x, grid_y, loss, levels=[result.l2_loss], colors="black", linestyles="--", linewidths=1.2)
    t = budget
    ax.plot([t, 0, -t, 0, t], [0, t, 0, -t, 0], color="tab:blue", linewidth=2, label=f"L1 ball ‖w‖₁ ≤ {t:g}")
    angle = np.linspace(0, 2 * math.pi, 200)
    ax.plot(t * np.cos(angle), t * np.sin(angle), color="black", linewidth=2, label=f"L2 ball ‖w‖₂ ≤ {t:g}")
    ax.plot(*c, marker="x", color="tab:red", markersize=9, linestyle="none", label="unconstrained minimum")
    l1, l2 = result.l1_minimum, result.l2_minimum
    ax.plot(*l1, marker="o", color="tab:blue", markersize=8, linestyle="none",
            label=f"L1 minimum ({l1[0]:.2f}, {l1[1]:.2f})")
    ax.plot(*l2, marker="s", color="black", markersize=7, linestyle="none",
            label=f"L2 minimum ({l2[0]:.2f}, {l2[1]:.2f})")
    ax.axhline(0, color="0.4", linewidth=0.6)
    ax.axvline(0, color="0.4", linewidth=0.6)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xlabel("weight w₁")
    ax.set_ylabel("weight w₂")
    ax.set_title("Squared-loss level curves and the L1 / L2 constraints")
    ax.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return result


def _check_problem(center: Pair, curvature: tuple[Pair, Pair], budget: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(center, dtype=np.float64)
    A = np.asarray(curvature, dtype=np.float64)
    if c.shape != (2,) or not np.isfinite(c).all():
        raise ValueError(f"`center` must be two finite numbers, got {center!r}")
    if A.shape != (2, 2) or not np.isfinite(A).all() or not np.allclose(A, A.T):
        raise ValueError(f"`curvature` must be a symmetric 2x2 matrix, got {curvature!r}")
    if np.linalg.eigvalsh(A).min() <= 0:
        raise ValueError(f"`curvature` must be positive definite (level curves are ellipses), got {curvature!r}")
    check_number("budget", budget, low=0, closed="neither", finite=True)
    return c, A


def _loss(w: np.ndarray, c: np.ndarray, A: np.ndarray) -> float:
    offset = w - c
    return float(offset @ A @ offset)


def _l1_minimum(c: np.ndarray, A: np.ndarray, budget: float) -> np.ndarray:
    if np.abs(c).sum() <= budget:
        return c.copy()
    corners = [np.array(point, dtype=np.float64) for point in ((budget, 0), (0, budget), (-budget, 0), (0, -budget))]
    best, best_loss = corners[0], math.inf
    for start, stop in zip(corners, corners[1:] + corners[:1]):
        direction = stop - start
        # Minimize the 1-D quadratic L(start + τ·direction) over τ in [0, 1].
        tau = -float(direction @ A @ (start - c)) / float(direction @ A @ direction)
        point = start if tau <= 0 else stop if tau >= 1 else start + tau * direction
        value = _loss(point, c, A)
        if value < best_loss:
            best, best_loss = point, value
    return best


def _l2_minimum(c: np.ndarray, A: np.ndarray, budget: float) -> np.ndarray:
    if np.linalg.norm(c) <= budget:
        return c.copy()
    identity, target = np.eye(2), A @ c

    def solution(mu: float) -> np.ndarray:
        return np.linalg.solve(A + mu * identity, target)

    # ‖(A + μI)⁻¹ A c‖ falls monotonically in μ and is below the budget once μ ≥ ‖A c‖ / budget.
    low, high = 0.0, float(np.linalg.norm(target)) / budget
    for _ in range(200):
        middle = 0.5 * (low + high)
        if np.linalg.norm(solution(middle)) > budget:
            low = middle
        else:
            high = middle
    return solution(high)
