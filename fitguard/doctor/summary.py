"""``summary.json``: what a doctor run found, in the documented schema ``summary.schema.json`` (beside this file).

Non-finite numbers (a skipped trial's score) are written as ``null`` so the file is strict JSON.
"""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from fitguard.doctor.schema import errors
from fitguard.errors import FitguardError
from fitguard.models import CountReport
from fitguard.train.state_io import atomic_write_bytes

SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")
_PACKAGES = ("fitguard", "torch", "numpy", "scikit-learn", "optuna", "matplotlib", "jinja2")


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def layer_table(name: str, options: dict[str, Any], counts: CountReport) -> dict[str, Any]:
    return {
        "name": name, "options": options, "parameters": counts.parameters, "connections": counts.connections,
        "layers": [{"name": layer.name, "kind": layer.kind, "output_shape": list(layer.output_shape),
                    "parameters": layer.parameters, "connections": layer.connections} for layer in counts.layers],
    }


def strict(value: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def validate(summary: dict[str, Any]) -> None:
    problems = errors(summary, schema())
    if problems:
        raise FitguardError(f"summary does not match summary.schema.json: {problems[0]}")


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    summary = strict(summary)
    validate(summary)
    path = run_dir / "summary.json"
    atomic_write_bytes(path, json.dumps(summary, indent=1, allow_nan=False).encode())
    return path


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a doctor run folder (summary.json is missing)")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FitguardError(f"{path} is not valid JSON: {error}") from None
    validate(summary)
    return summary
