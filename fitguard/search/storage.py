"""Where a study lives: a SQLite file in the run folder by default, any SQLAlchemy URL (PostgreSQL), or Optuna's
gRPC storage proxy in front of one (``grpc://HOST:PORT``).

Storage is Optuna's RDB storage with heartbeats: a worker records a heartbeat every ``heartbeat_interval``
seconds while it runs a trial; a trial whose heartbeat is older than ``grace_period`` belonged to a dead
worker, is marked FAIL and re-queued by ``RetryHeartbeatStaleTrialCallback`` with the same parameters.
:func:`optuna_storage` is the one function that opens a storage from its URL.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fitguard._validation import check_int
from fitguard.errors import FitguardError

STUDY_FILE = "study.db"
_SCHEMES = ("sqlite", "postgresql", "mysql")
#: the scheme of a gRPC storage proxy's address (``optuna.storages.run_grpc_proxy_server``)
GRPC_SCHEME = "grpc://"
#: seconds a process waits for a gRPC storage proxy to answer before it says it cannot reach it
GRPC_CONNECT_SECONDS = 5.0
_GRPC_ADDRESS = re.compile(r"grpc://(?P<host>\[[^\]]*\]|[^:/\[\]]*):(?P<port>[0-9]{1,5})/?")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")


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


def grpc_address(url: str, name: str = "storage") -> tuple[str, int] | None:
    """The host and port of a gRPC storage proxy's address ``grpc://HOST:PORT``; None for any other URL.

    Args:
        url: a storage URL.
        name: the argument ``url`` came from, for the message (default ``"storage"``).

    Raises:
        ValueError: a ``grpc://`` URL without a port, with a port outside 1-65535, a host that is no host name or IP
            address, or more than a host and port (a path, a user).

    Example:
        >>> grpc_address("grpc://db-proxy.example:13000")
        ('db-proxy.example', 13000)
        >>> grpc_address("grpc://[::1]:13000")
        ('[::1]', 13000)
        >>> grpc_address("postgresql+psycopg://fit@db/runs") is None
        True
        >>> grpc_address("grpc://proxy")
        Traceback (most recent call last):
        ...
        ValueError: `storage` must be grpc://HOST:PORT (a host name or IP address, a port 1-65535), got 'grpc://proxy'
    """
    if not isinstance(url, str) or not url.startswith(GRPC_SCHEME):
        return None
    found = _GRPC_ADDRESS.fullmatch(url)
    host = found["host"] if found else ""
    if host.startswith("["):
        try:
            valid = isinstance(ipaddress.ip_address(host[1:-1]), ipaddress.IPv6Address)
        except ValueError:
            valid = False
    else:
        valid = 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in host.split("."))
    if not valid or not found or not 1 <= int(found["port"]) <= 65535:
        raise ValueError(f"`{name}` must be grpc://HOST:PORT (a host name or IP address, a port 1-65535), got {url!r}")
    return host, int(found["port"])


def canonical_url(url: str) -> str:
    """The URL a storage is opened and recorded with: a gRPC proxy's ``grpc://HOST:PORT`` as given, a database URL
    as :func:`engine_url` gives it.

    Args:
        url: a database URL or a gRPC storage proxy's address.

    Raises:
        ValueError: anything else, or a malformed ``grpc://`` address (see :func:`grpc_address`).

    Example:
        >>> canonical_url("postgresql://fit@db/runs")
        'postgresql+psycopg://fit@db/runs'
        >>> canonical_url("grpc://db-proxy.example:13000")
        'grpc://db-proxy.example:13000'
    """
    address = grpc_address(url)
    return engine_url(url) if address is None else f"{GRPC_SCHEME}{address[0]}:{address[1]}"


def optuna_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                   max_retry: int = 3) -> Any:
    """The Optuna storage behind ``url``: the one function that opens one. A database URL gives Optuna's RDB storage
    (SQLite waits up to 60 s for another process's write), ``grpc://HOST:PORT`` a ``GrpcStorageProxy`` client of
    ``optuna.storages.run_grpc_proxy_server`` once the proxy answers (within :data:`GRPC_CONNECT_SECONDS`).

    A database's own errors (one that cannot be reached) are raised as SQLAlchemy raises them: :func:`open_storage`
    says them in one line.

    Args:
        url: ``sqlite:///path``, ``postgresql://...`` (psycopg 3 is used), ``mysql://...`` or ``grpc://HOST:PORT``.
        heartbeat_interval: Seconds between a running trial's heartbeats, >= 1; None (default): no heartbeats. The
            proxy has none of Optuna's (no ``record_heartbeat``): through it, it is ignored, and trials beat in a
            system attribute (:class:`fitguard.search.workers.AttributeHeartbeat`).
        grace_period: Seconds without a heartbeat before a running trial counts as stale (its worker dead);
            None (default): 3 heartbeat intervals.
        max_retry: How many times a stale trial is re-queued as a new trial. Default 3.

    Raises:
        ValueError: a URL of another scheme, a malformed ``grpc://`` address, or ``heartbeat_interval`` < 1.
        FitguardError: a gRPC proxy that does not answer, or an Optuna without one (one line each).
    """
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    if heartbeat_interval is not None:
        check_int("heartbeat_interval", heartbeat_interval, low=1)
    # heartbeats and the gRPC proxy are stable in use; their "experimental" warnings would reach the user's terminal
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    address = grpc_address(url)
    if address is not None:
        return _grpc_proxy(url, *address)
    url = engine_url(url)
    # SQLite serializes writers; a generous busy timeout keeps local workers from failing on a locked file
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if heartbeat_interval is None:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period if grace_period is not None else 3 * heartbeat_interval,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
    )


def _grpc_proxy(url: str, host: str, port: int) -> Any:
    """A ``GrpcStorageProxy`` client of the proxy at ``host:port``, once it answers; else one line."""
    import importlib.util

    import optuna

    if not hasattr(optuna.storages, "GrpcStorageProxy") or importlib.util.find_spec("grpc") is None:
        raise FitguardError(f"the storage {url} needs Optuna >= 4.2 with grpcio and protobuf (pip install "
                            f"'fitguard[grpc]'); this Optuna is {optuna.__version__}"
                            f"{'' if importlib.util.find_spec('grpc') else ', without grpcio'}")
    proxy = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        proxy.wait_server_ready(timeout=GRPC_CONNECT_SECONDS)
    except ConnectionError:
        proxy.close()
        raise FitguardError(f"cannot reach the gRPC storage proxy {url}: nothing answered at {host}:{port} within "
                            f"{GRPC_CONNECT_SECONDS:g} s; check that optuna.storages.run_grpc_proxy_server is serving "
                            "there and that this machine reaches that host and port") from None
    return proxy


def close_storage(storage: Any) -> None:
    """Release what a storage holds: an RDB storage's database connections, a proxy client's channel.

    Args:
        storage: what :func:`optuna_storage` returned.
    """
    if hasattr(storage, "close"):  # GrpcStorageProxy
        storage.close()
    engine = getattr(storage, "engine", None)  # RDBStorage
    if engine is not None:
        engine.dispose()


def open_storage(url: str, heartbeat_interval: int | None = 10, grace_period: int | None = None,
                 max_retry: int = 3) -> Any:
    """Optuna storage with heartbeats and retry of dead workers' trials (:func:`optuna_storage`), its database's
    errors said in one line.

    Args:
        url: Database URL: ``sqlite:///path``, ``postgresql://...`` (psycopg 3 is used) or ``mysql://...``; or a gRPC
            storage proxy's ``grpc://HOST:PORT`` (without Optuna's heartbeats: see :func:`optuna_storage`).
        heartbeat_interval: Seconds between a running trial's heartbeats, >= 1; None: no heartbeats. Default 10.
        grace_period: Seconds without a heartbeat before a running trial counts as stale (its worker dead);
            None (default): 3 heartbeat intervals.
        max_retry: How many times a stale trial is re-queued as a new trial. Default 3.

    Raises:
        ValueError: a URL of another scheme, or ``heartbeat_interval`` < 1.
        FitguardError: a database or gRPC proxy that cannot be reached, in one line.
    """
    with storage_errors(url, lost=False):
        return optuna_storage(url, heartbeat_interval, grace_period, max_retry)


@contextmanager
def storage_errors(url: str, lost: bool = True) -> Iterator[None]:
    """Turn a database that cannot be reached (``lost=False``) or went away mid-study into one clear line.

    Args:
        url: the storage's URL (shown without its password).
        lost: whether the database was reachable before (default True: it went away mid-study).

    Raises:
        FitguardError: in place of SQLAlchemy's, Optuna's and gRPC's storage errors raised inside.
    """
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except Exception as error:
        if not isinstance(error, (SQLAlchemyError, StorageInternalError, *_grpc_errors())):  # grpc's: once imported
            raise
        if isinstance(error, StorageInternalError) and isinstance(error.__cause__, SQLAlchemyError):
            error = error.__cause__  # Optuna wraps the database's own error, which says what happened
        reason = failure_reason(error)
        where = _shown(url)
        if lost:
            raise FitguardError(
                f"lost the study storage {where} ({reason}); finished trials are kept there: once the database "
                "is back, continue with `fitguard search CONFIG --storage URL --resume`"
            ) from None
        raise FitguardError(f"cannot open the study storage {where} ({reason}); check that the database "
                            "server is running and the URL is right") from None


def failure_reason(error: BaseException) -> str:
    """The first line of what a storage's error says: the database driver's message, or a gRPC call's status and
    details.

    Args:
        error: an error of SQLAlchemy, Optuna or gRPC.
    """
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    if isinstance(error, _grpc_errors()) and callable(code) and callable(details):  # a finished call's error
        said = (details() or "").strip().splitlines()  # the proxy's own, or its database's error
        return f"gRPC {code().name}{': ' + said[0] if said else ''}"
    cause = getattr(error, "orig", None) or error
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


def _grpc_errors() -> tuple[type[BaseException], ...]:
    """gRPC's call error once a ``grpc://`` storage imported grpcio (without it none can be raised)."""
    grpc = sys.modules.get("grpc")
    return (grpc.RpcError,) if grpc is not None else ()


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
