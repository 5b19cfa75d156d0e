"""The package root's public names: what type checkers see is what runs, and ``dir(fitguard)`` lists it all.

``fitguard/__init__.py`` loads its names lazily (``__getattr__``) and imports them again under ``if TYPE_CHECKING:``
for type checkers. The TYPE_CHECKING block, read with ``ast``, is the oracle here: a name exported but not imported
there is ``Any`` to a type checker, and one imported there from another module than the one that runs is a lie.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import fitguard


def _type_checking_imports() -> dict[str, object]:
    """Every name the ``if TYPE_CHECKING:`` block of ``fitguard/__init__.py`` imports, with its object."""
    tree = ast.parse(Path(fitguard.__file__).read_text(encoding="utf-8"))
    blocks = [node for node in tree.body
              if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1
    names: dict[str, object] = {}
    for statement in blocks[0].body:
        assert isinstance(statement, ast.ImportFrom)
        for alias in statement.names:
            assert alias.asname is None
            if statement.module == "fitguard":  # a submodule: imported directly, not through fitguard.__getattr__
                names[alias.name] = importlib.import_module(f"fitguard.{alias.name}")
            else:
                names[alias.name] = getattr(importlib.import_module(statement.module), alias.name)
    return names


def test_type_checkers_see_exactly_the_exported_names() -> None:
    assert sorted(_type_checking_imports()) == sorted(fitguard.__all__)
    assert len(set(fitguard.__all__)) == len(fitguard.__all__) == 27


def test_dir_lists_every_exported_name_and_the_version() -> None:
    listed = dir(fitguard)
    assert [name for name in fitguard.__all__ if name not in listed] == []
    assert "__version__" in listed and listed == sorted(listed)


@pytest.mark.parametrize("name", fitguard.__all__)
def test_each_exported_name_resolves_to_what_type_checkers_see(name: str) -> None:
    assert getattr(fitguard, name) is _type_checking_imports()[name]


def test_submodules_resolve_to_the_imported_modules() -> None:
    assert fitguard.transfer is sys.modules["fitguard.transfer"]
    assert fitguard.Trainer is importlib.import_module("fitguard.train.trainer").Trainer


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError) as error:
        fitguard.Trainers  # noqa: B018 -- the attribute access is the test
    assert str(error.value) == "module 'fitguard' has no attribute 'Trainers'"


def test_import_fitguard_loads_no_submodule_and_no_torch() -> None:
    code = ("import sys, fitguard; dir(fitguard); "
            "print(sorted(m for m in sys.modules if m.startswith('fitguard.') or m == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
