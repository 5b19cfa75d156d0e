"""parse_lambdas / check_lambdas: the CLI's grid syntax and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from fitguard.linear import check_lambdas, parse_lambdas


def test_range_is_log_spaced_and_inclusive() -> None:
    grid = parse_lambdas("1e-4:1e4:50")
    assert len(grid) == 50 and grid[0] == 1e-4 and grid[-1] == 1e4
    np.testing.assert_allclose(grid, np.logspace(-4, 4, 50), rtol=1e-11)


def test_comma_list_keeps_the_order_given() -> None:
    assert parse_lambdas(" 10, 0.1,1 ") == [10.0, 0.1, 1.0]
    assert parse_lambdas("3") == [3.0]
    assert check_lambdas([10.0, 0.1]).tolist() == [10.0, 0.1]


USAGE = "'start:stop:count' (log-spaced, e.g. '1e-4:1e4:50') or a comma list (e.g. '0.1,1,10')"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("1:2", f"`lambdas` must be {USAGE}, got '1:2'"),
        ("a:1:3", f"`lambdas` must be {USAGE}, got 'a:1:3'"),
        ("1:10:2.5", f"`lambdas` must be {USAGE}, got '1:10:2.5'"),
        ("0:1:5", "`lambdas` start and stop must be finite and > 0, got '0:1:5'"),
        ("1:10:0", "`lambdas` count must be >= 1, got '1:10:0'"),
        ("0.1,x", f"`lambdas` must be {USAGE}, got '0.1,x'"),
        ("", f"`lambdas` must be {USAGE}, got ''"),
        ("1,-2", "`lambdas[1]` = -2.0, must be finite and > 0"),
        ("1,inf", "`lambdas[1]` = inf, must be finite and > 0"),
    ],
)
def test_bad_specs_are_one_clear_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_lambdas(spec)
    assert str(error.value) == message
