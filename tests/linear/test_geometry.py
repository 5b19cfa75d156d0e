"""The L1-vs-L2 figure's minima: L1 lands on an axis, L2 does not; checked against scipy's SLSQP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.optimize import minimize

from fitguard.linear import constrained_minima, geometry_figure


def _oracle(center: tuple, curvature: tuple, budget: float, norm: int) -> np.ndarray:
    c, A = np.asarray(center), np.asarray(curvature)

    def constraint(w: np.ndarray) -> float:
        return budget - (np.abs(w).sum() if norm == 1 else float(w @ w) ** 0.5)

    solution = minimize(lambda w: (w - c) @ A @ (w - c), x0=np.array([0.1, 0.1]), method="SLSQP",
                        constraints=[{"type": "ineq", "fun": constraint}], options={"ftol": 1e-14, "maxiter": 500})
    return solution.x


def test_documented_example_l1_has_an_exact_zero_and_l2_does_not(tmp_path: Path) -> None:
    result = geometry_figure(tmp_path / "geometry.png")
    assert result.l1_minimum == (1.0, 0.0)
    assert result.l1_minimum[1] == 0.0
    assert min(abs(result.l2_minimum[0]), abs(result.l2_minimum[1])) > 0.3
    assert np.hypot(*result.l2_minimum) == pytest.approx(1.0, abs=1e-12)  # on the circle
    np.testing.assert_allclose(result.l2_minimum, (0.93777, 0.34726), atol=1e-5)
    with Image.open(tmp_path / "geometry.png") as image:
        assert image.format == "PNG" and image.size[0] > 400


@pytest.mark.parametrize(
    "center, curvature, budget",
    [
        ((2.0, 0.5), ((1.0, 0.3), (0.3, 0.6)), 1.0),
        ((1.0, 1.2), ((1.0, 0.0), (0.0, 1.0)), 1.0),  # lands mid-edge: no zero, both problems agree with SLSQP
        ((-3.0, 0.4), ((2.0, -0.5), (-0.5, 1.0)), 0.5),
        ((0.2, -0.3), ((1.0, 0.0), (0.0, 2.0)), 1.0),  # unconstrained minimum already inside both balls
    ],
)
def test_minima_equal_a_generic_constrained_solver(center: tuple, curvature: tuple, budget: float) -> None:
    result = constrained_minima(center, curvature, budget)
    np.testing.assert_allclose(result.l1_minimum, _oracle(center, curvature, budget, 1), atol=1e-5)
    np.testing.assert_allclose(result.l2_minimum, _oracle(center, curvature, budget, 2), atol=1e-5)
    assert result.l2_loss <= result.l1_loss + 1e-12  # the diamond lies inside the circle


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"budget": 0.0}, "`budget` must be a finite number > 0, got 0.0"),
        ({"center": (1.0,)}, "`center` must be two finite numbers, got (1.0,)"),
        (
            {"curvature": ((1.0, 2.0), (0.0, 1.0))},
            "`curvature` must be a symmetric 2x2 matrix, got ((1.0, 2.0), (0.0, 1.0))",
        ),
        (
            {"curvature": ((1.0, 0.0), (0.0, -1.0))},
            "`curvature` must be positive definite (level curves are ellipses), got ((1.0, 0.0), (0.0, -1.0))",
        ),
    ],
)
def test_bad_input_is_one_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        constrained_minima(**kwargs)
    assert str(error.value) == message
