"""fitguard.durations: the one parser behind `doctor --budget` and `search --timeout`."""

from __future__ import annotations

import pytest

from fitguard.durations import parse_duration
from fitguard.errors import FitguardError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), (" 90 s ", 90.0), ("5m", 300.0), ("10m", 600.0), ("1h", 3600.0), ("1.5h", 5400.0),
    ("0.5s", 0.5),
])
def test_forms_and_units(text, seconds):
    assert parse_duration(text, name="--timeout") == seconds
    assert parse_duration(text, name="--budget", none_ok=True) == seconds


@pytest.mark.parametrize("text", ["none", "None", " NONE "])
def test_none_means_no_limit_only_where_allowed(text):
    assert parse_duration(text, name="--budget", none_ok=True) is None
    with pytest.raises(FitguardError) as error:
        parse_duration(text, name="--timeout")
    assert str(error.value) == f"`--timeout` must be a duration > 0 such as 90s, 10m or 1h, got {text!r}"


@pytest.mark.parametrize("text", ["", "soon", "-5m", "0", "0s", "5d", "1h30m", "1e3"])
def test_a_bad_duration_is_refused_in_one_line_naming_the_option(text):
    with pytest.raises(FitguardError) as error:
        parse_duration(text, name="--budget", none_ok=True)
    assert str(error.value) == f"`--budget` must be a duration > 0 such as 90s, 10m or 1h, or none, got {text!r}"
