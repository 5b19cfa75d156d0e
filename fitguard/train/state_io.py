"""Atomic, checksummed files for training state: tensors in safetensors, everything else in JSON.

A checkpoint is two files written in order — ``NAME.safetensors`` (every tensor: weights, optimizer moments,
RNG states, tensors held by callbacks) then ``NAME.json`` (the rest, plus the SHA-256 of the tensor file).
Each is written to a temporary file, flushed to disk and renamed over the target, so a kill leaves either the
old pair or the new pair; a tensor file whose hash does not match its JSON is refused. Nothing is ever
unpickled: safetensors holds raw tensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from fitguard.errors import FitguardError

_TENSOR = "__tensor__"


def split_tensors(tree: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list by a ``{"__tensor__": key}`` reference collected in ``tensors``."""
    if isinstance(tree, torch.Tensor):
        key = prefix
        tensors[key] = tree.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(tree, dict):
        return {str(k): split_tensors(v, f"{prefix}.{k}", tensors) for k, v in tree.items()} | (
            {"__int_keys__": True} if tree and all(isinstance(k, int) for k in tree) else {}
        )
    if isinstance(tree, (list, tuple)):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(tree)]
    return tree


def clone_tensors(tree: Any) -> Any:
    """A copy of a nested state in which every tensor is a private CPU copy (safe to write from another thread)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: clone_tensors(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(clone_tensors(v) for v in tree)
    return tree


def join_tensors(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(tree, dict):
        if set(tree) == {_TENSOR}:
            return tensors[tree[_TENSOR]]
        int_keys = tree.get("__int_keys__", False)
        return {
            (int(k) if int_keys else k): join_tensors(v, tensors) for k, v in tree.items() if k != "__int_keys__"
        }
    if isinstance(tree, list):
        return [join_tensors(v, tensors) for v in tree]
    return tree


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_state(path_stem: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (nested dicts/lists of tensors and JSON values) as a checksummed pair; return the JSON path."""
    stem = Path(path_stem)
    tensors: dict[str, torch.Tensor] = {}
    tree = split_tensors(state, "state", tensors)
    blob = save_safetensors(tensors) if tensors else save_safetensors({"_empty": torch.zeros(0)})
    tensor_path = stem.with_suffix(".safetensors")
    atomic_write_bytes(tensor_path, blob)
    meta = {"format": "fitguard-state/1", "sha256": hashlib.sha256(blob).hexdigest(), "state": tree}
    json_path = stem.with_suffix(".json")
    atomic_write_bytes(json_path, json.dumps(meta, allow_nan=True).encode())
    return json_path


def load_state(json_path: str | Path) -> dict[str, Any]:
    """Read a pair written by :func:`save_state`, verifying the checksum; raise ``FitguardError`` if corrupt."""
    json_path = Path(json_path)
    tensor_path = json_path.with_suffix(".safetensors")
    try:
        meta = json.loads(json_path.read_text())
        blob = tensor_path.read_bytes()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FitguardError(f"checkpoint {str(json_path)!r} cannot be read: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != "fitguard-state/1":
        raise FitguardError(f"checkpoint {str(json_path)!r} is not a fitguard checkpoint")
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise FitguardError(f"checkpoint {str(tensor_path)!r} is corrupt: its SHA-256 does not match {json_path.name}")
    try:
        tensors = load_safetensors(blob)
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise FitguardError(f"checkpoint {str(tensor_path)!r} is not a valid safetensors file: {error}") from None
    try:
        return join_tensors(meta["state"], tensors)
    except (KeyError, TypeError, ValueError) as error:  # a JSON that names tensors the file does not hold
        raise FitguardError(
            f"checkpoint {str(json_path)!r} does not match its tensor file ({type(error).__name__}: {error})"
        ) from None
