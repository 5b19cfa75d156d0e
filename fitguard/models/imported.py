"""A user's own network named by import path, ``--model package.module:function``.

The function is called as ``function(input_shape=(C, H, W) | (C, L) | (F,), out_features=K, **options)`` and must
return an ``nn.Module`` mapping a batch ``(N, *input_shape)`` to ``(N, K)`` logits (or values for regression).
The import path is what a saved model records, so ``fitguard.load`` rebuilds the same network later; the module
must then be importable again (installed, or on ``PYTHONPATH``).

Example (``my_nets.py`` on ``PYTHONPATH``)::

    def small_cnn(input_shape, out_features, width=16):
        channels = input_shape[0]
        return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(width, out_features))

    $ fitguard doctor --data digits --model my_nets:small_cnn
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from fitguard.errors import FitguardError

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def is_import_path(name: str) -> bool:
    """True for ``module:function`` names (a built-in model name never holds a colon).

    Args:
        name: the ``--model`` value.
    """
    return ":" in name


def check_import_path(name: str) -> str:
    """``name``, when it looks like ``package.module:function``.

    Args:
        name: the ``--model`` value.

    Raises:
        FitguardError: it does not look like ``package.module:function``.
    """
    if not _IMPORT_PATH.fullmatch(name):
        raise FitguardError(f"`--model` {name!r} must look like package.module:function")
    return name


def import_builder(name: str) -> Callable[..., Any]:
    """The callable ``module:function`` names, with one clear line when it cannot be imported.

    Args:
        name: ``package.module:function``.

    Raises:
        FitguardError: a malformed name, a module that cannot be imported, a missing attribute or one that is not
            callable.
    """
    module_name, _, attribute = check_import_path(name).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise FitguardError(
            f"`--model` {name!r}: cannot import module {module_name!r} ({error}); install it or add its folder "
            "to PYTHONPATH"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise FitguardError(f"`--model` {name!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise FitguardError(f"`--model` {name!r} is not callable, got {type(target).__name__}")
    return target


def build_imported(name: str, input_shape: Sequence[int], out_features: int, **options: Any) -> nn.Module:
    """Call the user's builder with ``input_shape`` and ``out_features`` (and ``options``); check it gave a Module.

    Args:
        name: ``package.module:function``.
        input_shape: one row's shape, passed as ``input_shape``.
        out_features: the outputs, passed as ``out_features``.
        **options: further keyword options for the builder.
    """
    builder = import_builder(name)
    shape = tuple(int(s) for s in input_shape)
    try:
        model = builder(input_shape=shape, out_features=int(out_features), **options)
    except TypeError as error:
        call = f"{getattr(builder, '__name__', name)}(input_shape={shape}, out_features={out_features})"
        raise FitguardError(f"`--model` {name!r} could not be called as {call}: {error}") from None
    if not isinstance(model, nn.Module):
        raise FitguardError(f"`--model` {name!r} must return a torch.nn.Module, got {type(model).__name__}")
    check_fits(model, name, shape, int(out_features))
    return model


def check_fits(model: nn.Module, name: str, input_shape: tuple[int, ...], out_features: int) -> None:
    """Run the user's network once on a batch of two zero rows (eval mode, no gradients) and check what comes out.

    A network written for another input or output size fails here with one line that says which shapes were
    expected, instead of a traceback from deep inside the first training step.

    Args:
        model: the user's network.
        name: its ``--model`` value, for the message.
        input_shape: one row's shape.
        out_features: the outputs it must give per row.

    Raises:
        FitguardError: the forward pass raises, or its output is not a ``(2, out_features)`` tensor.

    Example:
        >>> check_fits(nn.Linear(3, 2), "nets:net", (3,), 2)
        >>> try:
        ...     check_fits(nn.Linear(3, 5), "nets:net", (3,), 2)
        ... except ValueError as error:
        ...     print(error)
        `--model` 'nets:net' does not fit the data: a batch of shape (2, 3) gives (2, 5); it must map (N, 3) to (N, 2)
    """
    expected = f"it must map (N, {', '.join(map(str, input_shape))}) to (N, {out_features})"
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    batch = torch.zeros((2, *input_shape), dtype=dtype)
    was_training = model.training
    model.eval()  # eval: batch-norm statistics and dropout draws stay as they were
    try:
        with torch.no_grad():
            output = model(batch)
    except Exception as error:  # the user's code: whatever it raises is theirs to fix
        message = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
        raise FitguardError(
            f"`--model` {name!r} does not fit the data: a batch of shape {tuple(batch.shape)} fails with "
            f"{type(error).__name__}: {message}; {expected}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, out_features):
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise FitguardError(
            f"`--model` {name!r} does not fit the data: a batch of shape {tuple(batch.shape)} gives {got}; {expected}"
        )
