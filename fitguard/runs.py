"""Run folders: created without ever clobbering one by accident, and the saved model + its preprocessing.

A run folder holds ``run.json`` (what made it), ``model.safetensors`` + ``model.json`` (the trained weights, how to
rebuild the architecture, and the fitted preprocessing), ``history.json``, ``metrics.jsonl``, ``checkpoints/`` and
``tensorboard/``. :func:`fitguard.load` turns it back into a predictor for raw data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from fitguard.architecture import ArchitectureSpec
from fitguard.data import Dataset, Preprocessor
from fitguard.errors import FitguardError, single_line
from fitguard.models.ensemble import MeanEnsemble
from fitguard.train.state_io import atomic_write_bytes

MARKER = "run.json"
#: the file a process holds locked while it writes a run folder (``claim_run_dir``)
LOCK = ".lock"


def prepare_run_dir(out: str | Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``out`` for a new run; an existing non-empty folder needs ``overwrite`` (or ``resume``).

    ``overwrite`` only ever deletes a folder that a fitguard run made (it holds ``run.json``).

    Args:
        out: the run folder.
        overwrite: replace an existing fitguard run folder (default False).
        resume: continue in an existing non-empty folder, which must exist (default False).

    Raises:
        FitguardError: ``out`` is a file, exists without ``overwrite``/``resume``, is not a fitguard run folder,
            is missing when resuming, or cannot be written.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise FitguardError(f"--out {str(path)!r} is a file, not a folder; choose a folder path")
    if path.is_dir() and any(path.iterdir()):
        if resume:
            return path
        if not overwrite:
            raise FitguardError(
                f"run folder {str(path)!r} already exists; pass --overwrite to replace it or --resume to continue it"
            )
        if not (path / MARKER).is_file():
            raise FitguardError(
                f"refusing to overwrite {str(path)!r}: it is not a fitguard run folder (no {MARKER}); "
                "choose another --out"
            )
        shutil.rmtree(path)
    elif resume:
        raise FitguardError(f"cannot resume: run folder {str(path)!r} does not exist or is empty")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FitguardError(f"cannot write to run folder {str(path)!r}: {error.strerror}; "
                            "choose a writable --out") from None
    return path


def _lock(path: Path) -> Any:
    """``path`` opened and locked for this process (its owner written in), or a FitguardError naming the process
    that holds it. Without ``fcntl`` (Windows) nothing is locked: the handle is returned as is."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover -- POSIX only; a Windows user runs without the guard
        return path.open("a+")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise FitguardError(f"run folder {str(path.parent)!r} is in use by {owner}: wait until it ends (or stop it), "
                            "or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"fitguard process {os.getpid()} on {socket.gethostname()}")
    handle.flush()
    return handle


@contextlib.contextmanager
def claim_run_dir(out: str | Path, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """:func:`prepare_run_dir`, held for this process until the ``with`` block ends: a second process that would
    overwrite, resume or write the same folder meanwhile is refused in one line, naming the first.

    The hold is an advisory lock (``fcntl.flock``) on ``LOCK`` in the folder: the kernel drops it when the process
    ends, even by SIGKILL, so a killed run never leaves its folder blocked (``--resume`` continues it). Locks are
    per machine: two machines sharing a network folder are not kept apart by it.

    Args:
        out: the run folder.
        overwrite: as :func:`prepare_run_dir`'s (default False).
        resume: as :func:`prepare_run_dir`'s (default False).

    Raises:
        FitguardError: what :func:`prepare_run_dir` raises, or the folder is held by another process.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "run"
        >>> with claim_run_dir(out) as path:
        ...     with claim_run_dir(out, resume=True):
        ...         pass
        Traceback (most recent call last):
        ...
        fitguard.errors.FitguardError: run folder '...' is in use by fitguard process ...: wait until it ends ...
    """
    path = Path(out)
    held = _lock(path / LOCK) if (path / LOCK).is_file() else None  # before anything of the folder is replaced
    try:
        path = prepare_run_dir(out, overwrite=overwrite, resume=resume)
        if held is None or not (path / LOCK).is_file():  # a fresh folder, or --overwrite removed the old lock
            if held is not None:
                held.close()
            held = _lock(path / LOCK)
        yield path
    finally:
        if held is not None:
            with contextlib.suppress(OSError):
                (path / LOCK).unlink()
            held.close()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON atomically (NaN allowed; what JSON cannot hold is written as its ``str``).

    Args:
        path: the file to write (replaced if it exists).
        data: the JSON-ready value.
    """
    atomic_write_bytes(path, json.dumps(data, indent=1, allow_nan=True, default=str).encode())


def save_model(
    directory: str | Path,
    model: nn.Module,
    name: str,
    options: dict[str, Any],
    data: Dataset,
    stem: str = "model",
    architecture: ArchitectureSpec | None = None,
    member_models: Sequence[tuple[str, dict[str, Any]]] | None = None,
) -> Path:
    """Write ``<stem>.safetensors`` (weights) and ``<stem>.json`` (architecture + preprocessing) atomically.

    Args:
        directory: the folder to write into (it must exist).
        model: the trained network (or a :class:`~fitguard.models.ensemble.MeanEnsemble` of such networks).
        name: the builder that makes the network.
        options: the builder's options.
        data: the dataset it was trained on (shapes, task, class names and the fitted preprocessing).
        stem: the files' name without suffix (default "model").
        architecture: how the model was made when it is not the network ``name`` and ``options`` build (a
            transferred model, see :class:`~fitguard.architecture.ArchitectureSpec`); None (default): it is.
        member_models: for an ensemble of different networks, each member's ``(name, options)`` in the ensemble's
            order (:attr:`fitguard.recipe.Run.member_models`; not with ``architecture``); None (default): every
            member is the network ``name`` and ``options`` build.

    Returns:
        The path of the ``.safetensors`` file.

    Raises:
        ValueError: ``member_models`` that are not one per member of an ensemble, or given with ``architecture``.
    """
    directory = Path(directory)
    ensemble: dict[str, Any] | None = None
    if isinstance(model, MeanEnsemble):
        ensemble = {"members": len(model.members), "mirror": model.mirror}
    if member_models is not None:
        if architecture is not None or ensemble is None or len(member_models) != ensemble["members"]:
            given = ("a transferred model" if architecture is not None else "a model that is no ensemble"
                     if ensemble is None else f"an ensemble of {ensemble['members']}")
            raise ValueError(f"`member_models` needs one (name, options) per member of an ensemble of built networks, "
                             f"got {len(member_models)} for {given}")
        ensemble["models"] = [{"name": name, "options": dict(options)} for name, options in member_models]
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(directory / f"{stem}.safetensors", save_safetensors(weights))
    spec = {
        "format": "fitguard-model/1",
        "model": {"name": name, "options": options},
        "input_shape": list(data.input_shape),
        "out_features": data.out_features,
        "task": data.task,
        "kind": data.kind,
        "class_names": list(data.class_names),
        "feature_names": list(data.feature_names) if data.feature_names is not None else None,
        "preprocessor": data.preprocessor.to_dict(),
        "architecture": architecture.to_saved() if architecture else None,  # a model from a pretrained backbone
        # a MeanEnsemble of networks that each are what "model" / "architecture" describe, or with "models" what
        # each of those describes (with "mirror", their predictions for the mirrored image averaged in too)
        "ensemble": ensemble,
    }
    write_json(directory / f"{stem}.json", spec)
    return directory / f"{stem}.safetensors"


@dataclass
class Predictor:
    """A trained model with the preprocessing it was trained with; takes raw data in the user's units.

    Args:
        model: The trained network (set to eval mode at each prediction); it reads preprocessed tensors.
        preprocessor: The fitted :class:`~fitguard.data.Preprocessor` that turns raw rows or images into the
            model's inputs and decodes regression outputs back to the target's units.
        task: ``"classification"`` (``predict`` returns class names, ``predict_proba`` softmax rows) or
            ``"regression"``.
        class_names: Names of the classes in output order (empty for regression).
        spec: The saved model description (the ``<stem>.json`` dict :func:`load` rebuilt the model from).

    Example:
        >>> predictor = fitguard.load("runs/demo")          # doctest: +SKIP
        >>> predictor.predict(raw_rows)                      # doctest: +SKIP
    """

    model: nn.Module
    preprocessor: Preprocessor
    task: str
    class_names: tuple[str, ...]
    spec: dict[str, Any]

    @torch.no_grad()
    def _outputs(self, raw: Any) -> torch.Tensor:
        X = self.preprocessor.transform(raw)
        self.model.eval()
        if not len(X):  # no rows: (0, outputs), so predict and predict_proba give empty answers, not IndexError
            return torch.empty(0, int(self.spec["out_features"]))
        return torch.cat([self.model(X[i : i + 4096]) for i in range(0, len(X), 4096)])

    def predict_proba(self, raw: Any) -> np.ndarray:
        """Class probabilities (N, classes), in ``class_names`` order, for raw inputs.

        Args:
            raw: raw input rows, in any form the run's preprocessor's ``transform`` takes.

        Raises:
            FitguardError: when the model does regression.
        """
        if self.task != "classification":
            raise FitguardError("predict_proba applies to classification models; this one does regression")
        return torch.softmax(self._outputs(raw), dim=1).numpy()

    def predict(self, raw: Any) -> np.ndarray:
        """Class names (classification) or values (regression, in the target's own units: the network's standardized
        outputs are mapped back with the training rows' target mean and std) for raw inputs.

        Args:
            raw: raw input rows, in any form the run's preprocessor's ``transform`` takes.
        """
        outputs = self._outputs(raw)
        if self.task == "classification":
            return np.asarray(self.class_names, dtype=object)[outputs.argmax(dim=1).numpy()]
        return self.preprocessor.decode_target(outputs[:, 0] if outputs.shape[1] == 1 else outputs)


def rebuild(spec: dict[str, Any]) -> nn.Module:
    """The architecture a saved model description names (weights not loaded).

    Args:
        spec: a ``<stem>.json`` description as :func:`save_model` wrote it.
    """
    ensemble = spec.get("ensemble")
    if ensemble:
        models = ensemble.get("models") or [spec["model"]] * int(ensemble["members"])
        return MeanEnsemble([rebuild({**spec, "model": model, "ensemble": None}) for model in models], spec["task"],
                            mirror=bool(ensemble.get("mirror", False)))
    # a table's embedded columns get their lookup layer back from the preprocessing saved beside the model
    embeddings = Preprocessor.from_dict(spec["preprocessor"]).embeddings if spec.get("preprocessor") else ()
    return ArchitectureSpec.saved(spec).rebuild(spec["input_shape"], spec["out_features"], embeddings)


#: The saved models a run folder can hold, in the order :func:`saved_model` looks for them: ``fitguard train``
#: saves ``model``; ``fitguard doctor`` saves ``best`` (the model it ships) beside ``baseline``.
SAVED_MODELS = ("model", "best")


def saved_model(run_dir: str | Path) -> str:
    """The stem of the model a run folder holds: ``"model"`` (a ``fitguard train`` run) or ``"best"`` (a
    ``fitguard doctor`` run); ``"model"`` when it holds both. A stem counts when its ``<stem>.json`` is there
    (the description :func:`load` rebuilds from; a missing weights file is :func:`load`'s to report).

    Args:
        run_dir: The run folder.

    Raises:
        FileNotFoundError: The folder holds neither ``model.json`` nor ``best.json``.

    Example:
        >>> saved_model("runs/doctor-demo")  # doctest: +SKIP
        'best'
    """
    directory = Path(run_dir)
    for stem in SAVED_MODELS:
        if (directory / f"{stem}.json").is_file():
            return stem
    raise FileNotFoundError(f"{str(directory)!r} holds no saved model: neither model.json nor best.json is there")


def load(run_dir: str | Path, stem: str | None = None) -> Predictor:
    """Load the model a run saved as a :class:`Predictor`.

    Args:
        run_dir: The run folder.
        stem: Which saved model: ``"model"``, ``"best"``, ``"baseline"``; None (default): the one
            :func:`saved_model` finds (``model`` for ``fitguard train`` runs, ``best`` for ``fitguard doctor`` runs).

    Raises:
        FileNotFoundError: The folder holds no such saved model.
        FitguardError: The saved model is damaged or does not fit its description.
    """
    directory = Path(run_dir)
    stem = saved_model(directory) if stem is None else stem
    spec_path = directory / f"{stem}.json"
    if not spec_path.is_file():
        raise FileNotFoundError(f"{str(directory)!r} holds no saved model {stem!r} ({spec_path.name} is missing)")
    try:
        spec = json.loads(spec_path.read_text())
        weights = load_safetensors((directory / f"{stem}.safetensors").read_bytes())
    except (OSError, json.JSONDecodeError) as error:
        raise FitguardError(f"cannot read the model in {str(directory)!r}: {error}") from None
    except Exception as error:  # safetensors' own error types for a damaged file
        raise FitguardError(f"{stem}.safetensors in {str(directory)!r} is damaged: {single_line(error)}") from None
    if not isinstance(spec, dict) or spec.get("format") != "fitguard-model/1":
        raise FitguardError(f"{spec_path} is not a fitguard model description")
    try:
        model = rebuild(spec)
        model.load_state_dict(weights)
        preprocessor = Preprocessor.from_dict(spec["preprocessor"])
        task, class_names = spec["task"], tuple(spec["class_names"])
    except (KeyError, TypeError, AttributeError, IndexError) as error:  # a hand-edited or truncated description
        raise FitguardError(f"{spec_path} is incomplete or damaged ({type(error).__name__}: {error})") from None
    except ValidationError as error:  # an architecture entry of an unknown kind, or one that lacks what it needs
        problem = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise FitguardError(f"{spec_path} has an unusable architecture: {where + ': ' if where else ''}"
                            f"{problem['msg']}") from None
    except RuntimeError as error:  # load_state_dict lists every mismatch; the first says enough
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise FitguardError(f"{stem}.safetensors in {str(directory)!r} does not fit the architecture in "
                            f"{spec_path.name}: {lines[1] if len(lines) > 1 else lines[0]}") from None
    model.eval()
    return Predictor(model, preprocessor, task, class_names, spec)


def backbone_module(source: str | Path | nn.Module) -> str | Path | nn.Module:
    """``source`` as :func:`~fitguard.transfer.load_backbone` takes it: a saved fitguard model becomes its module.

    A run folder, or a saved model's ``.safetensors`` beside its ``.json``, is loaded with :func:`load` (the
    ``.json`` says how to rebuild the architecture); a module, a backbone name or a bare weights file is
    returned as is. This is how ``--backbone runs/pretrained`` reuses one run's network in another.

    Args:
        source: a module, a backbone name, a weights file, a run folder or a saved model's ``.safetensors``.

    Example:
        >>> setup = apply_backbone(backbone_module("runs/pretrained"), data, freeze_all_but=1)  # doctest: +SKIP
    """
    if isinstance(source, nn.Module):
        return source
    path = Path(source).expanduser()
    if path.is_dir():
        return load(path).model
    if path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        return load(path.parent, stem=path.stem).model
    return source
