"""The one exception type the CLI turns into a one-line message (exit code 2).

Library code raises ``ValueError`` (or ``FileNotFoundError``) with a message that names the argument, what is
allowed and what was received; ``FitguardError`` is a ``ValueError`` for the few cases that need their own type.
"""

from __future__ import annotations


class FitguardError(ValueError):
    """Bad input or an unusable state, explained in one line."""


class DivergenceError(FitguardError):
    """Training produced NaN/inf loss or exploding gradients."""
