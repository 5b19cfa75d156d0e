"""The doctor's side of ``summary.json``: the pieces it fills in (versions, layer tables) and the dict form it has
always returned. The file's contract itself, :class:`fitguard.summary.Summary`, sits below the doctor and the
report, so that both use it and neither imports the other for it.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import fitguard
from fitguard.models import CountReport
from fitguard.summary import SCHEMA_PATH, Summary, load_summary, strict, write_summary

__all__ = ["SCHEMA_PATH", "layer_table", "read_summary", "strict", "validate", "versions", "write_summary"]

_PACKAGES = ("fitguard", "torch", "numpy", "scikit-learn", "optuna", "matplotlib", "jinja2")


def versions(device: str | torch.device = "cpu") -> dict[str, str]:
    """Versions of Python, the platform and fitguard's main packages, by name ("not installed" for a missing one;
    fitguard's own from the package when it runs from a source tree), and the device the run trained on.

    Args:
        device: the run's training device (default "cpu"): a GPU is named with its CUDA version, a CPU with its
            cores and torch's threads.

    Example:
        >>> found = versions("cpu")
        >>> found["fitguard"] == fitguard.__version__ or found["fitguard"], found["device"].startswith("CPU (")
        (True, True)
    """
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = fitguard.__version__ + " (source tree)" if package == "fitguard" else "not installed"
    device = torch.device(device)
    if device.type == "cuda":
        found["device"] = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        found["device"] = f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    return found


def layer_table(name: str, options: dict[str, Any], counts: CountReport) -> dict[str, Any]:
    """A network's layer table as the summary's ``model`` section holds it.

    Args:
        name: the builder's name.
        options: its options.
        counts: :func:`fitguard.models.count`'s report.
    """
    return {
        "name": name, "options": options, "parameters": counts.parameters, "connections": counts.connections,
        "layers": [{"name": layer.name, "kind": layer.kind, "output_shape": list(layer.output_shape),
                    "parameters": layer.parameters, "connections": layer.connections} for layer in counts.layers],
    }


def validate(summary: dict[str, Any]) -> Summary:
    """``summary`` typed as a :class:`~fitguard.summary.Summary`; a :class:`~fitguard.errors.FitguardError` naming
    the first field that does not match.

    Args:
        summary: A summary as JSON values, e.g. ``json.loads`` of a run folder's ``summary.json``.
    """
    return Summary.from_dict(summary)


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """A doctor run folder's summary as JSON values (checked against :class:`~fitguard.summary.Summary`); use
    :func:`fitguard.summary.load_summary` for the typed one.

    Args:
        run_dir: A folder written by :func:`~fitguard.doctor.run_doctor` (it reads its ``summary.json``).

    Raises:
        FileNotFoundError: the folder holds no ``summary.json``.
        FitguardError: the file is not JSON, or a field is missing or of the wrong type.
    """
    return load_summary(run_dir).to_dict()
