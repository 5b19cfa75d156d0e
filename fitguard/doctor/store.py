"""Every scored search trial of a doctor run, kept in the run's Optuna storage so that ``--resume`` reads it back.

Each time the search scores a recipe (:class:`fitguard.doctor.phases.Scorer`), the result -- the
:class:`~fitguard.doctor.trials.Trial` with its first fold's History -- becomes one finished Optuna trial of the study
:data:`STUDY` in the run folder's ``study.db`` (the file that already holds the ``study`` phase's own study). Its
user attribute ``key`` identifies what was trained: the phase, the candidate's name, the recipe and the training
options (:func:`trial_key`). A resumed run replays the same phases; when the search asks for a training whose key is
stored, the stored result comes back instead of a training, so no finished trial is ever trained twice, and with
the same trials the phases make the same choices as the run that was killed.

Why Optuna's storage rather than a file of our own: it is already the run's (the study phase writes there), a
SQLite write is one transaction (a SIGKILL leaves the last finished trial in or out, never half written), and the
same storage URL can later be a shared PostgreSQL database.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitguard.config import TrainConfig
from fitguard.data import Dataset
from fitguard.doctor.options import DoctorOptions
from fitguard.errors import FitguardError
from fitguard.runs import MARKER
from fitguard.search.scoring import Trial
from fitguard.train import History

#: the Optuna study, in the run's storage, that holds every scored search trial
STUDY = "doctor-trials"
#: the Optuna study, in the run's storage, of the ``study`` phase's own trials
PHASE_STUDY = "doctor"
#: the trials study's user attribute that describes the run (what ``--join URL`` needs: options, spec, data)
RUN_ATTR = "fitguard_doctor_run"
#: the storage file in the run folder (shared with the ``study`` phase's study "doctor")
STORAGE_FILE = "study.db"
#: seconds a process waits for another's SQLite write before it fails (as fitguard.search.storage's storage does)
SQLITE_BUSY_SECONDS = 60


def trial_key(phase: str, name: str, recipe: dict[str, Any], options: dict[str, Any]) -> str:
    """What identifies one scored trial: a hash of the phase, the name, the recipe and the training options.

    Args:
        phase: the search phase.
        name: the trial's name.
        recipe: the recipe it trains.
        options: the training options (epochs, folds...).

    Example:
        >>> a = trial_key("ablation", "dropout 0.25", {"model": {"name": "mlp", "dropout": 0.25}}, {"max_epochs": 8})
        >>> a == trial_key("ablation", "dropout 0.25", {"model": {"dropout": 0.25, "name": "mlp"}}, {"max_epochs": 8})
        True
        >>> a == trial_key("ablation", "dropout 0.25", {"model": {"name": "mlp", "dropout": 0.25}}, {"max_epochs": 9})
        False
    """
    text = json.dumps(plain({"phase": phase, "name": name, "recipe": recipe, "options": options}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def storage_url(run_dir: Path) -> str:
    """The SQLite URL of the run folder's storage.

    Args:
        run_dir: the doctor run folder.
    """
    return f"sqlite:///{Path(run_dir) / STORAGE_FILE}"


@dataclass(frozen=True)
class RunStorage:
    """Where one doctor run's Optuna studies live: its scored trials (:attr:`trials`), its fold queue
    (:attr:`queue`, :mod:`fitguard.doctor.queue`) and the ``study`` phase's own study (:attr:`study`).

    In the run folder's ``study.db`` (the default, ``run_id`` None) they have the plain names. In a storage given by
    ``--storage URL``, which many runs may share, each name ends with ``-RUN_ID``, and the trials study holds the run's
    description (:data:`RUN_ATTR`: options, spec, data fingerprint) so that ``--join URL`` needs no run folder.

    Args:
        url: the storage's URL, password included (never written to the run folder: :attr:`shown` is).
        run_id: the run's id in a shared storage; None (default): the run folder's own storage.

    Example:
        >>> RunStorage("postgresql+psycopg://fit:secret@db/runs", "3f9a2c1d").queue
        'doctor-queue-3f9a2c1d'
        >>> RunStorage("postgresql+psycopg://fit:secret@db/runs", "3f9a2c1d").shown
        'postgresql+psycopg://fit:***@db/runs#3f9a2c1d'
    """

    url: str
    run_id: str | None = None

    @property
    def trials(self) -> str:
        """The name of the study of scored trials."""
        return self._named(STUDY)

    @property
    def queue(self) -> str:
        """The name of the fold queue's study."""
        from fitguard.doctor.queue import QUEUE

        return self._named(QUEUE)

    @property
    def study(self) -> str:
        """The name of the ``study`` phase's study."""
        return self._named(PHASE_STUDY)

    @property
    def shared(self) -> bool:
        """Whether the run's studies live in a ``--storage`` database rather than its folder's ``study.db``."""
        return self.run_id is not None

    @property
    def shown(self) -> str:
        """The URL without its password, with ``#RUN_ID`` for a shared storage: what messages and files show."""
        from fitguard.search.storage import masked_url

        return masked_url(self.url) + (f"#{self.run_id}" if self.run_id is not None else "")

    def _named(self, name: str) -> str:
        return name if self.run_id is None else f"{name}-{self.run_id}"


def new_run_id() -> str:
    """A fresh run id for a shared storage: 8 hex digits."""
    return uuid.uuid4().hex[:8]


def run_storage(run_dir: Path, options: DoctorOptions, earlier: dict[str, Any] | None) -> RunStorage:
    """The storage of the run in ``run_dir``: the folder's ``study.db``, or ``--storage``'s database under a new run
    id; a resumed run (``earlier``: its ``run.json``) keeps the storage and run id it recorded, ``--storage`` being
    needed again only when the URL holds a password (``run.json`` records it masked).

    Args:
        run_dir: the run folder.
        options: the run's options.
        earlier: the ``run.json`` of the run being resumed; None: a new run.

    Raises:
        FitguardError: a resumed run given another ``--storage`` than it ran with, or none when its URL's password
            was not recorded (one line each).
    """
    from fitguard.search.storage import canonical_url, masked_url

    if earlier is None:
        if options.storage is None:
            return RunStorage(storage_url(run_dir))
        return RunStorage(canonical_url(options.storage), new_run_id())
    where = str(run_dir)
    recorded = earlier.get("storage")
    if recorded is None:
        if options.storage is not None:
            raise FitguardError(f"cannot resume {where!r}: it kept its trials in its folder's {STORAGE_FILE}, not in "
                                f"{masked_url(options.storage)}; resume without --storage")
        return RunStorage(storage_url(run_dir))
    if options.storage is None:
        if masked_url(recorded["url"]) != recorded["url"] or "***" in recorded["url"]:
            raise FitguardError(f"cannot resume {where!r}: its storage URL's password is not recorded; give "
                                f"--storage {recorded['url']} with the password again, or keep it in a PGPASSFILE")
        return RunStorage(recorded["url"], recorded["run_id"])
    if masked_url(canonical_url(options.storage)) != recorded["url"]:
        raise FitguardError(f"cannot resume {where!r}: it kept its trials in {recorded['url']}, not in "
                            f"{masked_url(options.storage)}; give that --storage or none")
    return RunStorage(canonical_url(options.storage), recorded["run_id"])


def engine_options(url: str) -> dict[str, Any]:
    """SQLAlchemy's engine options for the run's storage: with SQLite, wait up to :data:`SQLITE_BUSY_SECONDS` for
    another process's write (``--workers``) instead of failing with "database is locked".

    Args:
        url: the storage's URL.

    Example:
        >>> engine_options("sqlite:///runs/doctor/study.db")
        {'connect_args': {'timeout': 60}}
    """
    return {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}} if url.startswith("sqlite") else {}


def data_fingerprint(data: Dataset) -> str:
    """A hash of every split's rows and targets, in order: a resumed run must see the data its trials saw.

    Args:
        data: the dataset.

    Example:
        >>> from fitguard.data import load
        >>> data = load("digits", seed=0)
        >>> same, other = load("digits", seed=0), load("digits", seed=1)
        >>> data_fingerprint(data) == data_fingerprint(same) != data_fingerprint(other)
        True
    """
    digest = hashlib.sha256()
    for part in (data.train, data.val, data.test):
        for tensor in (part.X, part.y) if part is not None else ():
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def resumable(run_dir: Path, options: DoctorOptions) -> dict[str, Any]:
    """What the run in ``run_dir`` recorded in its ``run.json``, when ``options`` may continue it.

    Args:
        run_dir: the run folder to continue.
        options: the options of the run that would continue it.

    Raises:
        FitguardError: the folder is no doctor run, that run finished, or it ran with other options (each one line
            that says what differs).
    """
    where = str(run_dir)
    stored = doctor_marker(run_dir, "resume", "choose the --out of a doctor run")
    if (run_dir / "summary.json").is_file():
        if not (run_dir / "report.html").is_file():  # stopped while its report was drawn: the run itself is done
            raise FitguardError(f"cannot resume {where!r}: that run finished (it wrote summary.json) but its report is "
                                f"missing; `fitguard report {where}` draws it from the folder")
        raise FitguardError(f"cannot resume {where!r}: that run finished (it wrote summary.json); pass --overwrite to "
                            "run it again or choose another --out")
    changed = options.changed_from({**stored["options"], "out": options.out})
    if changed:
        raise FitguardError(f"cannot resume {where!r}: it ran with other options ({'; '.join(changed)}); rerun with "
                            "its options or choose another --out")
    return stored


def doctor_marker(run_dir: Path, verb: str, hint: str) -> dict[str, Any]:
    """The ``run.json`` of the doctor run in ``run_dir``, or one line ``cannot VERB 'RUN_DIR': why`` (``hint``: what
    to give instead when the folder holds no run at all). Only reads.

    Args:
        run_dir: the run folder.
        verb: what the caller would do with it (``resume``, ``join``).
        hint: said when the folder holds no ``run.json``.

    Raises:
        FitguardError: no ``run.json``, one that is not a JSON object, or another command's run folder.
    """
    marker = run_dir / MARKER
    where = str(run_dir)
    if not marker.is_file():
        raise FitguardError(f"cannot {verb} {where!r}: it holds no {MARKER}, so no fitguard run made it; {hint}")
    try:
        stored = json.loads(marker.read_text())
    except json.JSONDecodeError as error:
        raise FitguardError(f"cannot {verb} {where!r}: its {MARKER} is not valid JSON ({error})") from None
    if not isinstance(stored, dict):
        raise FitguardError(f"cannot {verb} {where!r}: its {MARKER} holds no run description (a JSON object)")
    if stored.get("command") != "doctor" or not isinstance(stored.get("options"), dict):
        raise FitguardError(f"cannot {verb} {where!r}: it is a `fitguard {stored.get('command', '?')}` run folder, "
                            "not a doctor's")
    return stored


def check_same_run(run_dir: Path, earlier: dict[str, Any], config: dict[str, Any], fingerprint: str) -> None:
    """Refuse, in one line, to resume the run ``earlier`` (its ``run.json``) with another spec or other data.

    Args:
        run_dir: the run folder.
        earlier: its ``run.json``.
        config: the base spec of the run that would continue it.
        fingerprint: :func:`data_fingerprint` of its data.

    Raises:
        FitguardError: the earlier attempt recorded no data, or another spec or other data.
    """
    where = str(run_dir)
    if "data_fingerprint" not in earlier:
        raise FitguardError(f"cannot resume {where!r}: the earlier attempt stopped before it had read its data (or "
                            "an older fitguard made it), so there is nothing to continue; pass --overwrite")
    before, now = with_defaults(earlier.get("config") or {}), with_defaults(config)
    if before != now:
        changed = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
        raise FitguardError(f"cannot resume {where!r}: its spec differs from the one it ran with (sections "
                            f"{', '.join(changed)}; an edited --config?); rerun with that spec or choose another --out")
    if earlier["data_fingerprint"] != fingerprint:
        raise FitguardError(f"cannot resume {where!r}: its data differ from the data it was run on (other rows, "
                            "targets or splits); rerun on the same data or choose another --out")


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A ``run.json`` spec with every key a later fitguard added at its default (a key an older one did not write,
    such as ``train.channels_last``, is then not "an edited --config"); one that no longer validates, as it is.

    Args:
        config: the spec as ``run.json`` holds it.

    Example:
        >>> older = TrainConfig(train={"lr": 0.1}).model_dump(mode="json")
        >>> del older["train"]["channels_last"]
        >>> with_defaults(older) == TrainConfig(train={"lr": 0.1}).model_dump(mode="json")
        True
    """
    try:
        return TrainConfig(**config).model_dump(mode="json")
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return config


class TrialStore:
    """The scored trials of one run (see the module docstring): ``get(key)`` a stored one, ``put(key, trial)`` a
    new one. ``replayed`` counts the trials read back instead of trained, ``stored`` those written.

    ``elapsed``: seconds the search has run so far, stored with each trial. ``rewind``: called with those seconds
    when a trial is read back, so that a resumed run's clock stands where the earlier attempt's stood when that
    trial finished (a trial read back costs no time; without this a resumed run would reach each phase's share of
    the budget at another point of the search). ``storage``: the Optuna storage (SQLite waits
    :data:`SQLITE_BUSY_SECONDS` for another process's write: ``--workers`` processes write to it too; through a
    gRPC storage proxy it is a ``GrpcStorageProxy``).

    Args:
        url: the storage's URL (see :func:`storage_url`), or a gRPC storage proxy's ``grpc://HOST:PORT``.
        elapsed: gives the seconds the search has run so far; None (default): 0.
        rewind: called with a trial's stored seconds when it is read back; None (default): nothing.
        name: the study's name (:attr:`RunStorage.trials`); default :data:`STUDY`.

    Raises:
        FitguardError: the storage cannot be opened (not an SQLite database, another Optuna schema, a database
            server or gRPC proxy that cannot be reached).
    """

    def __init__(self, url: str, elapsed: Callable[[], float] | None = None,
                 rewind: Callable[[float], None] | None = None, name: str = STUDY) -> None:
        import optuna

        from fitguard.search.storage import GRPC_SCHEME, failure_reason, masked_url, optuna_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        try:
            self.storage = optuna_storage(url)
            self.study = optuna.create_study(study_name=name, storage=self.storage, direction="maximize",
                                             load_if_exists=True)
        except FitguardError:  # a gRPC proxy that does not answer: said already
            raise
        except Exception as error:  # noqa: BLE001 -- SQLAlchemy's, Optuna's and gRPC's errors alike: it is unusable
            hint = ("remove the file or pass --overwrite" if url.startswith("sqlite")
                    else "check that the proxy is running and reaches its database" if url.startswith(GRPC_SCHEME)
                    else "check that the database server is running and the URL is right")
            raise FitguardError(f"cannot open the run's trial storage {masked_url(url)}: {failure_reason(error)}; "
                                f"{hint}") from None
        self._found = {t.user_attrs["key"]: t for t in self.study.get_trials(deepcopy=False) if "key" in t.user_attrs}
        self.replayed = 0
        self.stored = 0
        self._elapsed = elapsed
        self._rewind = rewind

    def __len__(self) -> int:
        return len(self._found)

    def describe(self, run: dict[str, Any]) -> None:
        """Record the run's description (:data:`RUN_ATTR`): what a ``--join`` of the storage reads.

        Args:
            run: plain data: the run's options (password masked), spec, data fingerprint, folder and host.
        """
        self.study.set_user_attr(RUN_ATTR, plain(run))

    def finish(self) -> None:
        """Mark the run finished in its description (it wrote its summary): nothing is left to join."""
        self.study.set_user_attr(RUN_ATTR, {**self.study.user_attrs.get(RUN_ATTR, {}), "finished": True})

    def __contains__(self, key: str) -> bool:
        return key in self._found

    def get(self, key: str) -> Trial | None:
        """The stored trial with this key (its history included), or None.

        Args:
            key: what :func:`trial_key` returned.
        """
        frozen = self._found.get(key)
        if frozen is None:
            return None
        record = copy.deepcopy(frozen.user_attrs["trial"])  # the phases add to a trial's details
        trial = Trial(**record)
        history = frozen.user_attrs.get("history")
        trial.history = History.from_dict(history) if history is not None else None
        self.replayed += 1
        if self._rewind is not None:
            self._rewind(float(frozen.user_attrs.get("search_seconds", 0.0)))
        return trial

    def put(self, key: str, trial: Trial) -> None:
        """Store ``trial`` under ``key`` (one transaction); a key already stored is left as it is.

        Args:
            key: what :func:`trial_key` returned.
            trial: the scored trial (a non-finite score is stored as a failed trial).
        """
        if key in self._found:
            return
        optuna = self._optuna
        finite = math.isfinite(trial.val_score)
        frozen = optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if finite else optuna.trial.TrialState.FAIL,
            value=trial.val_score if finite else None,
            user_attrs={"key": key, "phase": trial.phase, "name": trial.name, "trial": plain(trial.to_dict()),
                        "history": trial.history.to_dict() if trial.history is not None else None,
                        "search_seconds": self._elapsed() if self._elapsed is not None else 0.0},
        )
        self.study.add_trial(frozen)
        self._found[key] = frozen
        self.stored += 1


def plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists, numpy scalars numbers): what the storage gives back.

    Args:
        value: a JSON-like value.

    Example:
        >>> plain({"folds": (0.5, 0.75)})
        {'folds': [0.5, 0.75]}
    """
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else repr(v)))


def doctor_runs(url: str) -> dict[str, dict[str, Any]]:
    """The doctor runs a shared storage holds, by run id: each one's description (:data:`RUN_ATTR`) and the state of
    its fold queue under ``"queue"`` ("open", "finished" or None without one). Only reads (an empty database, or a
    SQLite file that does not exist, holds none). Read through Optuna's storage API, so that a gRPC storage proxy's
    ``grpc://HOST:PORT`` serves too.

    Args:
        url: the storage's URL.

    Raises:
        FitguardError: a database or gRPC proxy that cannot be reached (one line, password masked).
    """
    from fitguard.doctor.queue import QUEUE
    from fitguard.search.storage import canonical_url, close_storage, grpc_address, open_storage, storage_errors

    url = canonical_url(url)
    if grpc_address(url) is None and not _set_up(url):
        return {}
    storage = open_storage(url, heartbeat_interval=None)
    try:
        with storage_errors(url, lost=False):
            studies = storage.get_all_studies()
    finally:
        close_storage(storage)
    runs: dict[str, dict[str, Any]] = {}
    queues: dict[str, str] = {}
    for study in studies:
        name, attrs = study.study_name, study.user_attrs
        if name.startswith(f"{STUDY}-") and RUN_ATTR in attrs:
            runs[name.removeprefix(f"{STUDY}-")] = attrs[RUN_ATTR]
        elif name.startswith(f"{QUEUE}-") and "finished" in attrs:
            queues[name.removeprefix(f"{QUEUE}-")] = "finished" if attrs["finished"] else "open"
    return {run_id: {**run, "queue": queues.get(run_id)} for run_id, run in runs.items()}


def _set_up(url: str) -> bool:
    """Whether Optuna has finished setting up its tables in the database ``url`` (the last step stamps their
    version). Before that, opening it as an Optuna storage would create them or race the process that does, and
    looking for doctor runs must change nothing (a SQLite file that does not exist is not created either)."""
    import sqlalchemy
    from alembic.migration import MigrationContext

    from fitguard.search.storage import storage_errors

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return False
    with storage_errors(url, lost=False):
        engine = sqlalchemy.create_engine(url, **engine_options(url))
        try:
            with engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision() is not None
        finally:
            engine.dispose()
