"""Where a study lives: a SQLite file in the run folder by default, or any SQLAlchemy URL (PostgreSQL).

Storage is Optuna's RDB storage with heartbeats: a worker records a heartbeat every ``heartbeat_interval``
seconds while it runs a trial; a trial whose heartbeat is older than ``grace_period`` belonged to a dead
worker, is marked FAIL and re-queued by ``RetryHeartbeatStaleTrialCallback`` with the same parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fitguard._validation import check_int
from fitguard.errors import FitguardError

STUDY_FILE = "study.db"
_SCHEMES = ("sqlite", "postgresql", "mysql")


def default_storage(out: str | Path) -> str:
    """The SQLite URL of the study file inside the run folder ``out``.

    Args:
        out: The run folder (made absolute; it is not created here).
    """
    return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"


def engine_url(url: str) -> str:
    """The URL SQLAlchemy is given: ``postgresql://`` uses psycopg (v3), the driver fitguard installs.

    Args:
        url: a ``sqlite://``, ``postgresql://`` or ``postgresql+psycopg://`` database URL.

    Raises:
        ValueError: anything else.
    """
    if not isinstance(url, str) or url.split(":", 1)[0].split("+", 1)[0] not in _SCHEMES or "://" not in url:
        raise ValueError(
            f"`storage` must be a database URL such as sqlite:///runs/x/study.db or "
            f"postgresql+psycopg://user@host/db, got {url!r}"
        )
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def open_storage(url: str, heartbeat_interval: int = 10, grace_period: int | None = None, max_retry: int = 3) -> Any:
    """Optuna RDB storage with heartbeats and retry of dead workers' trials.

    Args:
        url: Database URL: ``sqlite:///path``, ``postgresql://...`` (psycopg 3 is used) or ``mysql://...``.
        heartbeat_interval: Seconds between a running trial's heartbeats, >= 1. Default 10.
        grace_period: Seconds without a heartbeat before a running trial counts as stale (its worker dead);
            None (default): 3 heartbeat intervals.
        max_retry: How many times a stale trial is re-queued as a new trial. Default 3.

    Raises:
        ValueError: a URL of another scheme, or ``heartbeat_interval`` < 1.
        FitguardError: a database that cannot be reached, in one line.
    """
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    check_int("heartbeat_interval", heartbeat_interval, low=1)
    url = engine_url(url)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats are stable in use
    # SQLite serializes writers; a generous busy timeout keeps local workers from failing on a locked file
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with storage_errors(url, lost=False):
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period if grace_period is not None else 3 * heartbeat_interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
        )


@contextmanager
def storage_errors(url: str, lost: bool = True) -> Iterator[None]:
    """Turn a database that cannot be reached (``lost=False``) or went away mid-study into one clear line.

    Args:
        url: the storage's URL (shown without its password).
        lost: whether the database was reachable before (default True: it went away mid-study).

    Raises:
        FitguardError: in place of SQLAlchemy's and Optuna's storage errors raised inside.
    """
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, StorageInternalError) as error:
        if isinstance(error, StorageInternalError) and isinstance(error.__cause__, SQLAlchemyError):
            error = error.__cause__  # Optuna wraps the database's own error, which says what happened
        cause = getattr(error, "orig", None) or error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        where = _shown(url)
        if lost:
            raise FitguardError(
                f"lost the study storage {where} ({reason}); finished trials are kept there: once the database "
                "is back, continue with `fitguard search CONFIG --storage URL --resume`"
            ) from None
        raise FitguardError(f"cannot open the study storage {where} ({reason}); check that the database "
                            "server is running and the URL is right") from None


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return masked_url(url)


def masked_url(url: str) -> str:
    """``url`` with its password, if any, as ``***``: what messages print and run folders record.

    Args:
        url: a database URL.

    Example:
        >>> masked_url("postgresql+psycopg://fit:secret@db.example/runs")
        'postgresql+psycopg://fit:***@db.example/runs'
        >>> masked_url("sqlite:///runs/study.db")
        'sqlite:///runs/study.db'
    """
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given: it holds no recognisable password
        return url
