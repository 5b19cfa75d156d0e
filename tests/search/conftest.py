"""Fixtures for the search tests: a tiny recipe, and the PostgreSQL server started by .ci/postgres.sh."""

from __future__ import annotations

import os
import uuid

import pytest

from fitguard.config import TrainConfig, parse_config


@pytest.fixture
def tiny_recipe() -> TrainConfig:
    return parse_config({
        "data": {"source": "wine", "seed": 0},
        "model": {"name": "mlp", "hidden": [8]},
        "train": {"max_epochs": 5, "batch_size": 32, "device": "cpu", "seed": 0},
        "early_stopping": False,
        "tensorboard": False,
    })


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("FITGUARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FITGUARD_TEST_POSTGRES_URL is unset; start a server with `export "
                    "FITGUARD_TEST_POSTGRES_URL=$(.ci/postgres.sh)` (CI does)")
    return url


@pytest.fixture
def study_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
