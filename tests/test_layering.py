"""The package's layers: no import cycle at import time, and no import that runs up the layers.

Each module of ``fitguard`` is parsed with ``ast``. An import under ``if TYPE_CHECKING:`` is for type checkers
only and does not count. An import inside a function does not run at import time, so it cannot close an import
cycle, but it is a real dependency all the same: it counts for the layers. Every module is also imported on its
own, as the first fitguard module of a fresh interpreter, which catches what the parse cannot see.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import fitguard

PACKAGE_ROOT = Path(fitguard.__file__).resolve().parent

#: Lowest first; a module may import from its own layer and the layers before it. The name is the first component
#: under ``fitguard`` (``fitguard.transfer.blocks`` is in ``transfer``); ``fitguard`` itself is the package root.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("fitguard", "errors", "_validation", "durations"),  # the root: version and lazy names; the others import
    # nothing above them
    ("data", "models", "linear"),  # linear: closed-form ridge and lasso on arrays, imports nothing of fitguard
    ("regularize", "augment"),
    ("train", "config"),  # config: the typed TrainConfig a run is built from (uses data and regularize)
    ("transfer",),
    ("runs", "recipe", "architecture"),  # a spec turned into a run (recipe), a run folder into a model (runs)
    ("diagnose", "search"),  # train and score recipes: search builds each candidate with recipe.build_run
    ("summary",),  # the typed summary.json: the doctor writes it, the report and any other reader read it
    ("doctor",),
    ("report",),  # reads a doctor run folder through summary alone; the doctor command draws it after the run
    ("commands", "cli"),
)


@dataclass(frozen=True)
class Import:
    """One ``fitguard`` import: who imports what, where, and whether it runs at import time."""

    importer: str
    imported: str
    where: str  # file:line
    at_import_time: bool


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules an import statement names (``from fitguard import augment`` names ``fitguard.augment``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return list(dict.fromkeys(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                              for alias in node.names))


def imports_of(module: str, path: Path, root: Path, known: set[str]) -> list[Import]:
    """The module's imports of the package's own modules, except those under ``if TYPE_CHECKING:``."""
    found: list[Import] = []
    package = root.name

    def visit(node: ast.AST, at_import_time: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _targets(node, module, path.name == "__init__.py", known):
                if target == package or target.startswith(package + "."):
                    where = f"{path.relative_to(root.parent)}:{node.lineno}"
                    found.append(Import(module, target, where, at_import_time))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = node.orelse  # the body is for type checkers only
        else:
            children = list(ast.iter_child_nodes(node))
        deferred = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in children:
            visit(child, at_import_time and not deferred)

    visit(ast.parse(path.read_text(), filename=str(path)), True)
    return found


def all_imports(root: Path) -> list[Import]:
    """Every import of the package's own modules by the modules of the package at ``root``."""
    modules = module_files(root)
    return [found for module, path in modules.items() for found in imports_of(module, path, root, set(modules))]


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_time_graph(imports: list[Import], known: set[str]) -> dict[str, dict[str, Import]]:
    """Who makes whom run at import time. ``import a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``, except the
    importer's own packages, which are already in ``sys.modules`` (unless it names one of them outright)."""
    graph: dict[str, dict[str, Import]] = {module: {} for module in known}
    for found in imports:
        if not found.at_import_time:
            continue
        own = set(_ancestors(found.importer))
        for target in [*_ancestors(found.imported), found.imported]:
            if target in known and target != found.importer and (target not in own or target == found.imported):
                graph[found.importer].setdefault(target, found)
    return graph


def find_cycle(graph: dict[str, dict[str, Import]]) -> list[tuple[str, Import]] | None:
    """One import cycle as (module run, the import that runs it) steps, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    stack: list[str] = []  # the current path of modules
    via: list[tuple[str, Import]] = []  # via[i] runs stack[i + 1] from stack[i]

    def walk(module: str) -> list[tuple[str, Import]] | None:
        state[module] = "open"
        stack.append(module)
        for target, found in sorted(graph[module].items()):
            if state.get(target) == "open":
                return [*via[stack.index(target):], (target, found)]
            if target not in state:
                via.append((target, found))
                cycle = walk(target)
                if cycle:
                    return cycle
                via.pop()
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = walk(module)
            if cycle:
                return cycle
    return None


def layer_of(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add {name!r} to LAYERS in {Path(__file__).name}")


def upward_imports(imports: list[Import]) -> list[Import]:
    return [found for found in imports if layer_of(found.importer) < layer_of(found.imported)]


def _describe(found: Import) -> str:
    low, high = LAYERS[layer_of(found.importer)], LAYERS[layer_of(found.imported)]
    return (f"{found.where}: {found.importer} imports {found.imported}"
            f"{'' if found.at_import_time else ' (inside a function)'}, but layer {', '.join(low)} is below "
            f"layer {', '.join(high)}")


def test_no_import_cycle_at_import_time():
    imports = all_imports(PACKAGE_ROOT)
    cycle = find_cycle(import_time_graph(imports, set(module_files(PACKAGE_ROOT))))
    assert cycle is None, "import cycle at import time:\n" + "\n".join(
        f"  {found.where}: {found.importer} -> {target}"
        + ("" if target == found.imported else f" (importing {found.imported} runs it)")
        for target, found in cycle
    ) + "\nimport one side inside `if TYPE_CHECKING:` if only types need it, or move the shared piece down a layer"


def test_no_module_imports_a_higher_layer():
    upward = upward_imports(all_imports(PACKAGE_ROOT))
    assert not upward, "imports up the layers (see LAYERS in tests/test_layering.py):\n" + "\n".join(
        f"  {_describe(found)}" for found in upward
    )


def test_every_module_imports_first_in_a_fresh_interpreter():
    # one interpreter for all: forgetting fitguard's modules between imports is enough to start each one first
    script = (
        "import importlib, sys, traceback\n"
        f"names = {sorted(module_files(PACKAGE_ROOT))!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'fitguard' or m.startswith('fitguard.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=PACKAGE_ROOT.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", "modules that fail to import on their own:\n" + result.stdout


def test_the_check_sees_type_only_and_function_level_imports(tmp_path: Path):
    package = tmp_path / "fitguard"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("from fitguard.data.table import Table\n")
    (package / "data" / "table.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from fitguard.train import Trainer\n"
        "def fit():\n"
        "    from fitguard import train\n"
        "class Table:\n"
        "    pass\n"
    )
    (package / "train.py").write_text("from fitguard.data import Table\n")
    imports = all_imports(package)
    assert sorted((f.importer, f.imported, f.at_import_time) for f in imports) == [
        ("fitguard.data", "fitguard.data.table", True),
        ("fitguard.data.table", "fitguard.train", False),
        ("fitguard.train", "fitguard.data", True),
    ]
    assert find_cycle(import_time_graph(imports, set(module_files(package)))) is None
    assert [_describe(found) for found in upward_imports(imports)] == [
        "fitguard/data/table.py:5: fitguard.data.table imports fitguard.train (inside a function), "
        "but layer data, models, linear is below layer train, config"
    ]

    (package / "data" / "table.py").write_text("from fitguard.train import fit\nclass Table:\n    pass\n")
    cycle = find_cycle(import_time_graph(all_imports(package), set(module_files(package))))
    assert cycle is not None
    assert [(found.importer, target) for target, found in cycle] == [
        ("fitguard.data", "fitguard.data.table"),
        ("fitguard.data.table", "fitguard.train"),
        ("fitguard.train", "fitguard.data"),
    ]
