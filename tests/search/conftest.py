"""Fixtures for the search tests: a tiny recipe, and the PostgreSQL server started by .ci/postgres.sh."""

from __future__ import annotations

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
def study_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
