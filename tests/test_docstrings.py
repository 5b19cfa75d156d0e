"""Every public function and class documents its parameters in a Google-style ``Args:`` section.

"Public" is what ``fitguard.__all__`` and each subpackage's ``__all__`` export. A class documents its
constructor's parameters in the class docstring. The names under ``Args:`` must be exactly the signature's (same
names, same order), so a parameter added, renamed or removed without its line fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import fitguard

# Every subpackage of fitguard that declares `__all__` (fitguard.commands holds the CLI and exports nothing),
# found rather than listed, so a new subpackage is checked from its first commit.
PACKAGES = ("fitguard", *sorted(
    f"fitguard.{info.name}" for info in pkgutil.iter_modules(fitguard.__path__)
    if info.ispkg and hasattr(importlib.import_module(f"fitguard.{info.name}"), "__all__")
))

_SECTION = re.compile(r"^(?P<indent>[ \t]*)Args:[ \t]*$", re.MULTILINE)
_ENTRY = re.compile(r"(?P<stars>\*{0,2})(?P<name>\w+)(?:\s*\([^)]*\))?\s*:")


def documented_parameters(doc: str | None) -> list[str] | None:
    """The names listed under ``Args:`` (``*args``/``**kwargs`` with their stars), or None without the section.

    An entry is a line indented one level below ``Args:`` that starts with ``name:`` or ``name (type):``; deeper
    lines continue the entry before them; the section ends at the first non-blank line indented no deeper than
    ``Args:``.

    Example:
        >>> documented_parameters("Args:\\n    x: a number,\\n        continued.\\n    y (int): b.\\nReturns:\\n    z.")
        ['x', 'y']
        >>> documented_parameters("No section.") is None
        True
    """
    match = _SECTION.search(doc or "")
    if match is None:
        return None
    outer = len(match.group("indent").expandtabs())
    names: list[str] = []
    entry_indent: int | None = None
    for line in (doc or "")[match.end():].splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= outer:
            break
        entry_indent = indent if entry_indent is None else entry_indent
        if indent == entry_indent:
            entry = _ENTRY.match(line.strip())
            if entry is None:
                raise AssertionError(f"`Args:` entry is not `name: description`: {line.strip()!r}")
            names.append(entry.group("stars") + entry.group("name"))
    return names


def signature_parameters(obj: object) -> list[str]:
    """The parameters a caller passes: no ``self``; ``*args``/``**kwargs`` only as the starred names."""
    names = []
    for parameter in inspect.signature(obj).parameters.values():  # a class: its constructor's, without self
        if parameter.kind is parameter.VAR_POSITIONAL:
            names.append(f"*{parameter.name}")
        elif parameter.kind is parameter.VAR_KEYWORD:
            names.append(f"**{parameter.name}")
        else:
            names.append(parameter.name)
    return names


def _public_callables() -> list[tuple[str, object]]:
    found = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue  # submodules and constants (BUILTIN, DEFAULT_PRUNER...) have no parameters
            found.append((f"{package}.{name}", obj))
    return found


@pytest.mark.parametrize(("qualified", "obj"), [pytest.param(q, obj, id=q) for q, obj in _public_callables()])
def test_args_section_names_exactly_the_parameters(qualified: str, obj: object) -> None:
    expected = signature_parameters(obj)
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)  # a class's own, not its base's
    assert doc and doc.strip(), f"{qualified} has no docstring"
    documented = documented_parameters(inspect.cleandoc(doc))
    # *args/**kwargs need a line only when the section names them (they often just pass options through)
    expected = [name for name in expected if not name.startswith("*") or name in (documented or [])]
    if not expected:
        assert documented in (None, []), f"{qualified} takes no parameters but documents {documented}"
        return
    assert documented is not None, f"{qualified} has no `Args:` section for {expected}"
    assert documented == expected, f"{qualified}: `Args:` lists {documented}, the signature has {expected}"


def test_the_checked_packages_are_not_empty() -> None:
    """The parametrized test cannot pass vacuously: every subpackage is found, and they export callables."""
    assert set(PACKAGES) >= {
        "fitguard", "fitguard.augment", "fitguard.data", "fitguard.diagnose", "fitguard.doctor", "fitguard.linear",
        "fitguard.models", "fitguard.regularize", "fitguard.report", "fitguard.search", "fitguard.train",
        "fitguard.transfer",
    }
    names = [qualified for qualified, _ in _public_callables()]
    assert "fitguard.Trainer" in names
    assert "fitguard.doctor.DoctorOptions" in names
    assert len(names) >= 150


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ("Args:\n    a: one.\n    b (int): two,\n        over two lines.\n\nReturns:\n    c.", ["a", "b"]),
        ("Summary.\n\n    Args:\n        x: first.\n\n        y: after a blank line.\n    Raises:\n", ["x", "y"]),
        ("Args:\n    *args: extra.\n    **kwargs: options.\n", ["*args", "**kwargs"]),
        ("No section here.\n\n    x: not an argument.", None),
    ],
)
def test_documented_parameters_reads_google_style(doc: str, names: list[str] | None) -> None:
    assert documented_parameters(doc) == names
