"""Shared test settings: deterministic CPU torch, headless matplotlib; the PostgreSQL server of the multi-worker
tests; benchmark scripts imported as modules."""

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fitguard.data.fashion_mnist import DEFAULT_FOLDER as FASHION_FOLDER

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
#: skips a test where Debian's Fashion-MNIST (``apt-get install dataset-fashion-mnist``) is not installed
needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_FOLDER / "train-labels-idx1-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")

os.environ.setdefault("MPLBACKEND", "Agg")


def close(stored: Any, rel: float = 1e-12) -> Any:
    """``stored`` (JSON read back: dicts, lists, numbers, strings) with every float as ``pytest.approx(rel=rel)``, to
    compare a recomputed record with ``==``: a p-value recomputed under another scipy may differ in its last digit."""
    if isinstance(stored, dict):
        return {key: close(value, rel) for key, value in stored.items()}
    if isinstance(stored, list):
        return [close(value, rel) for value in stored]
    return pytest.approx(stored, rel=rel) if isinstance(stored, float) else stored


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL (``FITGUARD_TEST_POSTGRES_URL``, started by ``.ci/postgres.sh``); the test is skipped
    without one."""
    url = os.environ.get("FITGUARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FITGUARD_TEST_POSTGRES_URL is unset; start a server with `export "
                    "FITGUARD_TEST_POSTGRES_URL=$(.ci/postgres.sh)` (CI does)")
    return url


@pytest.fixture
def benchmark_script(monkeypatch) -> Iterator[Callable[[str], ModuleType]]:
    """Imports a script of ``benchmarks/`` by name (the scripts import their siblings, so the folder goes on the path);
    every benchmark module imported meanwhile is dropped afterwards (top-level names such as ``doctor`` and
    ``search`` must not outlive the test); one imported before the test stays."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield importlib.import_module
    for name in ({p.stem for p in BENCHMARKS.glob("*.py")} & set(sys.modules)) - before:
        del sys.modules[name]
