"""The ``fitguard`` command: a thin typer app over the library.

An expected failure never shows a traceback: bad input, a missing file, running out of memory or an error raised
in the user's own ``--model`` code (:func:`fitguard.errors.expected_failure`) prints one line (``error: ...``) on
stderr and exits with code 2. Anything else is a fitguard bug: its traceback, then a line asking for a report,
exit code 1.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from importlib import import_module

import typer
from typer.exceptions import Abort, Exit, TyperException

from fitguard import __version__
from fitguard.errors import expected_failure

app = typer.Typer(
    name="fitguard",
    help="Find out whether a PyTorch model overfits, why, and which remedy fixes it - measured, not guessed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# the order here is the order in `fitguard --help`: the main job first
for _module in ("doctor", "train", "search", "linear", "augment"):
    import_module(f"fitguard.commands.{_module}").register(app)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  line: str | None = None) -> str:
    """A warning as the CLI shows it: ``warning: <message>``, without the file and source line of Python's form."""
    return f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}\n"


#: the exit code of a run stopped by Ctrl-C (SIGINT), as shells report it (128 + 2)
INTERRUPTED = 130
INTERRUPTED_LINE = "interrupted; what was written is kept (fitguard doctor and fitguard train continue with --resume)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Args:
        argv: the arguments after the program's name; None (default): ``sys.argv[1:]``.
    """
    warnings.formatwarning = _warning_line
    try:
        # outside standalone mode typer turns Ctrl-C (KeyboardInterrupt) into a returned 130, not an exception
        if app(args=argv, standalone_mode=False) == INTERRUPTED:
            print(f"error: {INTERRUPTED_LINE}", file=sys.stderr)
            return INTERRUPTED
    except Exit as done:
        return done.exit_code
    except Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except TyperException as error:  # usage errors: unknown option, bad value for a typed option, ...
        if not error.format_message():  # `fitguard` alone: the help was printed
            return 0
        context = getattr(error, "ctx", None)
        command = getattr(context, "info_name", None)
        hint = f"fitguard {command} --help" if command and command != "fitguard" else "fitguard --help"
        print(f"error: {error.format_message()} (see `{hint}`)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: {INTERRUPTED_LINE}", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        message = expected_failure(error)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"error: this is a bug in fitguard {__version__}, not a problem with your input; please report it with "
              "the traceback above and the command you ran", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())
