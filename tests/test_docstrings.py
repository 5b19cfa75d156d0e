"""Every public function and class documents its parameters in a Google-style ``Args:`` section.

"Public" is what ``fitguard.__all__`` and each subpackage's ``__all__`` export, every function and class of a
public module (no leading underscore; ``fitguard.commands`` aside), and the public methods of all these classes.
A class documents its constructor's parameters in the class docstring. The names under ``Args:`` must be exactly
the signature's (same names, same order), so a parameter added, renamed or removed without its line fails here.
Parameters with a leading underscore are private plumbing and are not listed; an exception class (it takes its
message) and properties (they take no parameter) are not checked.

A method that overrides a documented fitguard base method (a callback's ``on_epoch_end``, ``state_dict`` or
``get_config``; a penalty's ``value``) implements that protocol: its base documents it once, and the override must
keep the base's parameter names.
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
    """The parameters a caller passes: no ``self``, no ``_private``; ``*args``/``**kwargs`` as the starred names."""
    names = []
    for parameter in inspect.signature(obj).parameters.values():  # a class: its constructor's, without self
        if parameter.name.startswith("_"):
            continue
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


# The methods a class inherits from Python or torch (forward aside) are documented there, not here.
_METHOD_KINDS = (staticmethod, classmethod)


def _own_function(member: object) -> object | None:
    """The plain function behind a class attribute (unwrapping static/class methods); None for anything else."""
    function = member.__func__ if isinstance(member, _METHOD_KINDS) else member
    return function if inspect.isfunction(function) else None


def _base_method(cls: type, name: str) -> tuple[type, object] | None:
    """The nearest fitguard base class (after ``cls``) that documents ``name``, and its function (else the nearest
    that defines it, so the failure names it); None when no fitguard base defines ``name``."""
    defining = [
        (base, _own_function(vars(base)[name])) for base in cls.__mro__[1:]
        if base.__module__.startswith("fitguard") and name in vars(base) and _own_function(vars(base)[name])
    ]
    documented = [(base, function) for base, function in defining if function.__doc__]
    return (documented or defining or [None])[0]


# Every public module: no leading underscore in its dotted path, and not fitguard.commands (the CLI's typer
# commands, whose options are documented as help texts). Found rather than listed, like PACKAGES.
MODULES = tuple(sorted(
    info.name for info in pkgutil.walk_packages(fitguard.__path__, "fitguard.")
    if not info.name.startswith("fitguard.commands") and not any(p.startswith("_") for p in info.name.split(".")[1:])
))


def _module_callables() -> list[tuple[str, object]]:
    """The public functions and classes each of :data:`MODULES` defines (not the ones it imports)."""
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attribute, obj in vars(module).items():
            if attribute.startswith("_") or not attribute.isidentifier() or getattr(obj, "__module__", None) != name:
                continue  # imported names, and pydantic's generic classes it files as "RootModel[...]"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # an exception takes its message, as every exception does
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.append((f"{name}.{attribute}", obj))
    return found


def _public_methods() -> list[tuple[str, object, tuple[str, object] | None]]:
    """``(qualified name, function, overridden)`` for every public method that an exported class or a class of
    :data:`MODULES` (or one of its fitguard bases) defines; ``overridden`` is ``(qualified name,
    function)`` of the documented base method it overrides."""
    found: dict[str, tuple[str, object, tuple[str, object] | None]] = {}
    for _, obj in [*_public_callables(), *_module_callables()]:
        if not inspect.isclass(obj):
            continue
        for cls in obj.__mro__:
            if not cls.__module__.startswith("fitguard"):
                continue
            for name, member in vars(cls).items():
                function = _own_function(member)
                qualified = f"{cls.__module__}.{cls.__qualname__}.{name}"
                if name.startswith("_") or function is None or qualified in found:
                    continue
                base = _base_method(cls, name)
                overridden = None if base is None else (f"{base[0].__module__}.{base[0].__qualname__}.{name}", base[1])
                found[qualified] = (qualified, function, overridden)
    return sorted(found.values(), key=lambda entry: entry[0])


def check_args_section(qualified: str, expected: list[str], doc: str | None) -> None:
    """Fail unless ``doc`` exists and its ``Args:`` names exactly the ``expected`` parameters (none: no entries)."""
    assert doc and doc.strip(), f"{qualified} has no docstring"
    documented = documented_parameters(inspect.cleandoc(doc))
    # *args/**kwargs need a line only when the section names them (they often just pass options through)
    expected = [name for name in expected if not name.startswith("*") or name in (documented or [])]
    if not expected:
        assert documented in (None, []), f"{qualified} takes no parameters but documents {documented}"
        return
    assert documented is not None, f"{qualified} has no `Args:` section for {expected}"
    assert documented == expected, f"{qualified}: `Args:` lists {documented}, the signature has {expected}"


@pytest.mark.parametrize(
    ("qualified", "obj"), [pytest.param(q, obj, id=q) for q, obj in [*_public_callables(), *_module_callables()]]
)
def test_args_section_names_exactly_the_parameters(qualified: str, obj: object) -> None:
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)  # a class's own, not its base's
    check_args_section(qualified, signature_parameters(obj), doc)


def _method_parameters(function: object) -> list[str]:
    names = signature_parameters(function)
    return names[1:] if names[:1] in (["self"], ["cls"]) else names  # a static method has neither


@pytest.mark.parametrize(
    ("qualified", "function", "overridden"),
    [pytest.param(q, f, o, id=q) for q, f, o in _public_methods()],
)
def test_public_methods_document_their_parameters(
    qualified: str, function: object, overridden: tuple[str, object] | None
) -> None:
    own = function.__doc__  # its own: inspect.getdoc would fall back to the base's
    if overridden is not None and not own:
        base_name, base = overridden
        assert base.__doc__, f"{qualified} overrides {base_name}, which has no docstring either"
        assert _method_parameters(function) == _method_parameters(base), (
            f"{qualified} takes {_method_parameters(function)}, unlike {base_name}'s {_method_parameters(base)}"
        )
        return
    check_args_section(qualified, _method_parameters(function), inspect.cleandoc(own or ""))


def test_the_checked_packages_are_not_empty() -> None:
    """The parametrized tests cannot pass vacuously: every subpackage is found, they export callables, their
    classes have methods (overrides recognized as such), and every complete module is found."""
    assert set(PACKAGES) >= {
        "fitguard", "fitguard.augment", "fitguard.data", "fitguard.diagnose", "fitguard.doctor", "fitguard.linear",
        "fitguard.models", "fitguard.regularize", "fitguard.report", "fitguard.search", "fitguard.train",
        "fitguard.transfer",
    }
    names = [qualified for qualified, _ in _public_callables()]
    assert "fitguard.Trainer" in names
    assert "fitguard.doctor.DoctorOptions" in names
    assert len(names) >= 150
    methods = {qualified: overridden for qualified, _, overridden in _public_methods()}
    assert methods["fitguard.train.trainer.Trainer.fit"] is None
    overridden = methods["fitguard.train.callbacks.early_stopping.EarlyStopping.on_epoch_end"]
    assert overridden is not None and overridden[0] == "fitguard.train.callbacks.base.Callback.on_epoch_end"
    assert len(methods) >= 170
    modules = {qualified.rsplit(".", 1)[0] for qualified, _ in _module_callables()}
    assert modules >= {
        "fitguard.architecture", "fitguard.config", "fitguard.durations", "fitguard.recipe", "fitguard.runs",
        "fitguard.summary", "fitguard.doctor.phases", "fitguard.train.state_io", "fitguard.data.encoding",
    }
    assert len(modules) >= 100


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
