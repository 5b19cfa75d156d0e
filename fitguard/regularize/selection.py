"""Which parameters a penalty or weight noise acts on: fnmatch globs over ``named_parameters()`` names.

The default selects weight matrices and convolution kernels (names ending in ``weight`` with two or more
dimensions) and so never touches biases or normalization scales: shrinking those towards zero does not simplify
the function a network computes, it only shifts or silences units. A glob selects exactly what it matches,
biases included, because the user asked for it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from torch import nn

from fitguard._validation import check_number

NamedParameters = list[tuple[str, nn.Parameter]]

# How many parameter names an error message lists before it says "... (N in all)".
_NAMES_SHOWN = 8


def check_layers(layers: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Validate a ``layers`` argument and return its globs as a tuple (``None`` means the default).

    Args:
        layers: one glob over parameter names, a sequence of them, or None (the default selection).

    Raises:
        ValueError: an empty glob or list of globs, or anything but a string or a sequence of strings.
    """
    if layers is None:
        return None
    if isinstance(layers, str):
        if not layers:
            raise ValueError("`layers` must be a non-empty glob such as 'output.*', got ''")
        return (layers,)
    if not isinstance(layers, Sequence) or len(layers) == 0:
        raise ValueError(f"`layers` must be a glob or a non-empty list of globs, got {layers!r}")
    for index, glob in enumerate(layers):
        if not isinstance(glob, str) or not glob:
            raise ValueError(f"`layers[{index}]` must be a non-empty glob string, got {glob!r}")
    return tuple(layers)


def is_weight_matrix(name: str, parameter: nn.Parameter) -> bool:
    """The default selection: a ``*weight`` with ndim >= 2 (linear matrices, conv kernels, embeddings).

    Args:
        name: the parameter's dotted name.
        parameter: the parameter.
    """
    return name.endswith("weight") and parameter.ndim >= 2


def _describe_names(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f", ... ({len(names)} in all)"
    return shown or "none"


def select_parameters(model: nn.Module, globs: tuple[str, ...] | None) -> NamedParameters:
    """Parameters of ``model`` matched by any of ``globs`` (or the default), in the model's order.

    Args:
        model: The module whose ``named_parameters()`` are searched.
        globs: fnmatch globs (case-sensitive) over parameter names, e.g. ``("classifier.*",)``; None: every
            ``*weight`` with two or more dimensions.

    Returns:
        ``(name, parameter)`` pairs.

    Raises:
        ValueError: a glob that matches no parameter, or a default selection that finds no weight matrix.

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> [name for name, _ in select_parameters(model, None)]
        ['0.weight', '2.weight']
        >>> [name for name, _ in select_parameters(model, ("2.*",))]
        ['2.weight', '2.bias']
    """
    named = list(model.named_parameters())
    names = [name for name, _ in named]
    if globs is None:
        selected = [(name, p) for name, p in named if is_weight_matrix(name, p)]
        if not selected:
            raise ValueError(
                "the default `layers` selects weight matrices and kernels (a '*weight' with ndim >= 2), "
                f"but the model has none; pass `layers` globs; parameter names: {_describe_names(names)}"
            )
        return selected
    for glob in globs:
        if not any(fnmatch.fnmatchcase(name, glob) for name in names):
            raise ValueError(
                f"`layers` glob {glob!r} matches no parameter; parameter names: {_describe_names(names)}"
            )
    return [(name, p) for name, p in named if any(fnmatch.fnmatchcase(name, glob) for glob in globs)]


def check_nonnegative(name: str, value: float) -> None:
    """Raise unless ``value`` is a finite real number >= 0 (``bool`` is not a number here).

    Args:
        name: the argument's name, for the message.
        value: its value.

    Raises:
        ValueError: anything else.
    """
    check_number(name, value, low=0, finite=True)
