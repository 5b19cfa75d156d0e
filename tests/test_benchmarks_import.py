"""Every benchmark script imports against the library as it is now: a name a refactor moved or removed from what a
script imports at its top fails here, not hours later in a timed run (``benchmarks/search.py`` imported a deleted
``add_callbacks`` for a session). Imports inside functions and changed call signatures are not checked. Importing
runs no benchmark: each does its work under ``if __name__ == "__main__"``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_the_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their siblings (doctor, heldout, peers)
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")}
    try:
        module = importlib.import_module(script)
        if '__name__ == "__main__"' in (BENCHMARKS / f"{script}.py").read_text():  # a script, not a helper module
            assert callable(getattr(module, "main", None)), f"benchmarks/{script}.py has no main()"
    finally:  # top-level names such as ``search`` and ``doctor`` must not outlive the test
        for name in scripts & set(sys.modules):
            del sys.modules[name]
