"""fitguard._validation: each check accepts exactly its set, returns the value untouched, and refuses in one
wording."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from fitguard._validation import check_bool, check_in, check_int, check_number, check_type


@pytest.mark.parametrize(("call", "value"), [
    (lambda v: check_int("n", v, low=1), 3),
    (lambda v: check_int("n", v, low=1), np.int64(3)),  # numpy integers count
    (lambda v: check_int("n", v, low=0, high=5), 5),
    (lambda v: check_int("n", v, low=1, none_ok=True), None),
    (lambda v: check_number("x", v, low=0, high=1, closed="left"), 0),
    (lambda v: check_number("x", v, low=0, high=1, closed="right"), 1.0),
    (lambda v: check_number("x", v, low=0, closed="neither", finite=True), np.float32(0.5)),
    (lambda v: check_number("x", v, low=0), Fraction(1, 3)),
    (lambda v: check_number("x", v), -math.inf),  # no bound and not finite=True: inf is a number
    (lambda v: check_bool("flag", v), False),
    (lambda v: check_type("g", v, torch.Generator, none_ok=True), None),
    (lambda v: check_in("mode", v, ("min", "max")), "min"),
])
def test_accepted_values_come_back_unchanged(call, value):
    assert call(value) is value


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_int("n", 0, low=1), "`n` must be an integer >= 1, got 0"),
    (lambda: check_int("n", True, low=0), "`n` must be an integer >= 0, got True"),
    (lambda: check_int("n", 2.0, low=0), "`n` must be an integer >= 0, got 2.0"),
    (lambda: check_int("n", "3"), "`n` must be an integer, got '3'"),
    (lambda: check_int("n", 6, low=0, high=5), "`n` must be an integer in [0, 5], got 6"),
    (lambda: check_int("n", 0, low=1, none_ok=True), "`n` must be None or an integer >= 1, got 0"),
    (lambda: check_number("x", 1.0, low=0, high=1, closed="left"), "`x` must be a number in [0, 1), got 1.0"),
    (lambda: check_number("x", 0, low=0, high=1, closed="right"), "`x` must be a number in (0, 1], got 0"),
    (lambda: check_number("x", 0.0, low=0, high=1, closed="neither"), "`x` must be a number in (0, 1), got 0.0"),
    (lambda: check_number("x", math.nan, low=0, high=1), "`x` must be a number in [0, 1], got nan"),
    (lambda: check_number("x", math.nan), "`x` must be a number, got nan"),
    (lambda: check_number("x", math.inf, low=0, finite=True), "`x` must be a finite number >= 0, got inf"),
    (lambda: check_number("x", True, low=0), "`x` must be a number >= 0, got True"),
    (lambda: check_number("x", "0.1", low=0), "`x` must be a number >= 0, got '0.1'"),
    (lambda: check_number("x", torch.tensor(0.5), low=0), "`x` must be a number >= 0, got tensor(0.5000)"),
    (lambda: check_number("x", -1, low=0, none_ok=True), "`x` must be None or a number >= 0, got -1"),
    (lambda: check_bool("flag", 1), "`flag` must be True or False, got 1"),
    (lambda: check_bool("flag", "yes"), "`flag` must be True or False, got 'yes'"),
    (lambda: check_type("g", 3, torch.Generator, none_ok=True, what="a torch.Generator"),
     "`g` must be None or a torch.Generator, got int"),
    (lambda: check_type("s", {}, (list, tuple)), "`s` must be a list or a tuple, got dict"),
    (lambda: check_in("mode", "best", ("min", "max", "auto")), "`mode` must be 'min', 'max' or 'auto', got 'best'"),
    (lambda: check_in("kind", "x", ("swa",)), "`kind` must be 'swa', got 'x'"),
])
def test_refusals_are_one_line_in_one_wording(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert type(error.value) is ValueError and str(error.value) == message
