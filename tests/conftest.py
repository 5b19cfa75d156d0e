"""Shared test settings: deterministic CPU torch, headless matplotlib; the PostgreSQL server of the multi-worker
tests."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL (``FITGUARD_TEST_POSTGRES_URL``, started by ``.ci/postgres.sh``); the test is skipped
    without one."""
    url = os.environ.get("FITGUARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FITGUARD_TEST_POSTGRES_URL is unset; start a server with `export "
                    "FITGUARD_TEST_POSTGRES_URL=$(.ci/postgres.sh)` (CI does)")
    return url
