"""The one exception type the CLI turns into a one-line message (exit code 2), and what else counts as expected.

Which exception to raise (every message is one line that says what is wrong and what would be right):

- ``ValueError``: an **argument is wrong on its own**, whatever the data and whoever called: a wrong type, a
  number out of range, a string that is not one of the choices. Checked eagerly, when the call is made, with
  the helpers of :mod:`fitguard._validation` (`` `name` must be ..., got ... ``). Wrong types are
  ``ValueError`` too (fitguard raises no ``TypeError``), so ``except ValueError`` catches every bad argument.
- :class:`FitguardError` (a ``ValueError``): what the arguments **point at** cannot be used, though each
  argument may be fine: a file, a config or search-space spec, a command-line option, a checkpoint, a user's
  ``--model``, data whose contents do not fit the request (a split that leaves no training rows, text in a
  numeric column), or an object used out of order (``perturb()`` twice). These are failures of input from
  outside the Python call, found while working on it.
- ``FileNotFoundError`` (``OSError``): a path that is not there.

Something that still works but that the user should know about is ``warnings.warn`` (the CLI prints it as one
``warning: ...`` line), never ``print``. :func:`expected_failure` says which other exceptions are the input's or
the machine's fault rather than fitguard's.
"""

from __future__ import annotations

import sys
import sysconfig
import traceback
from collections.abc import Sequence
from pathlib import Path

# fitguard's own source, and the installed libraries and the standard library: a failure raised there is not in
# code the user wrote (torch is skipped over, below, because a user's module fails inside torch's layers)
_FITGUARD = Path(__file__).resolve().parent
_LIBRARIES = tuple(
    {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}
)


class FitguardError(ValueError):
    """Bad input or an unusable state, explained in one line."""


class DivergenceError(FitguardError):
    """Training produced NaN/inf loss or exploding gradients."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none.

    Args:
        error: the exception.
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def single_line(error: BaseException) -> str:
    """An exception's whole message on one line, its line breaks written as ``\\n``: a library's message may quote a
    name from a hostile file (a safetensors tensor named by a line break), and the CLI's answer is one line.

    Args:
        error: the exception.

    Example:
        >>> single_line(ValueError("invalid offset for tensor `\\n`"))
        'invalid offset for tensor `\\\\n`'
    """
    return str(error).strip().replace("\r", "\\r").replace("\n", "\\n")


def _is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def raised_in_user_code(frames: Sequence[traceback.FrameSummary]) -> traceback.FrameSummary | None:
    """The frame where the user's own code raised, or None when fitguard or a library did.

    Walks out from the innermost frame past torch's (a user's network fails inside torch's layers); the first
    other frame decides: in a file outside fitguard, the standard library and installed packages, it is the
    user's (a ``--model`` module, a script on ``PYTHONPATH``).

    Args:
        frames: the traceback's frames, outermost first (as ``traceback.extract_tb`` gives them).

    Example:
        >>> import torch
        >>> torch_frame = traceback.FrameSummary(torch.nn.modules.linear.__file__, 134, "forward")
        >>> user_frame = traceback.FrameSummary("/home/me/nets.py", 12, "forward")
        >>> raised_in_user_code([user_frame, torch_frame]).filename
        '/home/me/nets.py'
        >>> raised_in_user_code([traceback.FrameSummary(__file__, 1, "f"), torch_frame]) is None
        True
    """
    torch_module = sys.modules.get("torch")
    torch_folder = Path(torch_module.__file__).resolve().parent if torch_module and torch_module.__file__ else None
    for frame in reversed(frames):
        if frame.filename.startswith("<"):  # <frozen importlib...>, <string>: not a file anyone wrote
            return None
        path = Path(frame.filename).resolve()
        if torch_folder is not None and _is_under(path, torch_folder):
            continue
        if _is_under(path, _FITGUARD) or any(_is_under(path, library) for library in _LIBRARIES):
            return None
        return frame
    return None


def expected_failure(error: Exception) -> str | None:
    """The one line to print for a failure that is not a fitguard bug, or None for a bug (show the traceback).

    Expected: bad input (``ValueError``, which includes :class:`FitguardError`), a missing or unusable path
    (``OSError``), running out of memory, and an exception raised in the user's own code (their ``--model``).

    Args:
        error: the exception that ended the command.

    Example:
        >>> expected_failure(FitguardError("`lr` must be > 0, got -1"))
        '`lr` must be > 0, got -1'
        >>> expected_failure(KeyError("epoch")) is None
        True
    """
    if isinstance(error, (ValueError, OSError)):  # OSError: missing, unreadable or unwritable paths
        return first_line(error)
    torch_module = sys.modules.get("torch")
    out_of_memory = torch_module is not None and isinstance(error, torch_module.OutOfMemoryError)
    if isinstance(error, MemoryError) or out_of_memory:
        return f"out of memory ({first_line(error)}); use a smaller --batch-size or a smaller model"
    frame = raised_in_user_code(traceback.extract_tb(error.__traceback__))
    if frame is not None:
        return (
            f"your code raised {type(error).__name__} at {frame.filename}:{frame.lineno} (in {frame.name}): "
            f"{first_line(error)}"
        )
    return None
