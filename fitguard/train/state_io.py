"""Atomic, checksummed files for training state: tensors in safetensors, everything else in JSON.

A checkpoint is two files written in order — ``NAME.safetensors`` (every tensor: weights, optimizer moments,
RNG states, tensors held by callbacks) then ``NAME.json`` (the rest, plus the CRC-32 of the tensor file).
Each is written to a temporary file and renamed over the target, so a kill leaves either the old pair or the new
pair; a tensor file whose checksum does not match its JSON is refused. Nothing is ever unpickled: safetensors holds
raw tensors only.

The checksum guards against accidental damage -- a write the OS never flushed before a power loss, a bad disk, a
file copied in part -- not against someone who edits the files on purpose (a checkpoint is trusted input; safetensors
runs no code whatever it holds). CRC-32, as in zip, gzip and PNG, catches every burst of up to 32 damaged bits and
any other damage but one time in 2**32, at a quarter of SHA-256's cost (0.2 ms a MB here against 0.74): hashing ran
in the writer thread every epoch and took CPU the training thread shares. Files written before (with ``sha256``)
still load, verified by their SHA-256.

Saving is split in two so a caller can run the second half in another thread: :func:`encode_state` (the checksum and
the file contents, straight from the tensors' memory: no copy into one big ``bytes``) and :func:`write_encoded`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from fitguard.errors import FitguardError, single_line

_TENSOR = "__tensor__"
# JSON values kept as they are without a call each: a checkpoint holds every epoch's logged floats
_LEAVES = frozenset({float, int, str, bool, type(None)})


def _detached_on_host(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().cpu().contiguous()


def split_tensors(
    tree: Any,
    prefix: str,
    tensors: dict[str, torch.Tensor],
    take: Callable[[torch.Tensor], torch.Tensor] = _detached_on_host,
) -> Any:
    """Replace every tensor in a nested dict/list by a ``{"__tensor__": key}`` reference; ``tensors[key]`` gets
    ``take(tensor)`` (by default the tensor detached, contiguous, on the CPU). The JSON values are new dicts and
    lists: later changes to ``tree`` do not reach the result.

    Args:
        tree: the nested dicts and lists holding tensors.
        prefix: the key of ``tree`` itself; nested keys are ``prefix.key`` (``prefix.index`` in lists).
        tensors: receives each tensor under its key.
        take: what is stored for a tensor (default: detached, contiguous, on the CPU).
    """
    if isinstance(tree, torch.Tensor):
        tensors[prefix] = take(tree)
        return {_TENSOR: prefix}
    if isinstance(tree, dict):
        split = {
            str(k): v if type(v) in _LEAVES else split_tensors(v, f"{prefix}.{k}", tensors, take)
            for k, v in tree.items()
        }
        # the first key rejects most dicts at once: a history holds one str-keyed dict per epoch
        if tree and isinstance(next(iter(tree)), int) and all(isinstance(k, int) for k in tree):
            split["__int_keys__"] = True
        return split
    if isinstance(tree, (list, tuple)):
        return [
            v if type(v) in _LEAVES else split_tensors(v, f"{prefix}.{i}", tensors, take) for i, v in enumerate(tree)
        ]
    return tree


def snapshot_state(
    state: dict[str, Any], device: torch.device | str | None = None, reuse: dict[str, torch.Tensor] | None = None
) -> tuple[Any, dict[str, Any]]:
    """What the training thread does at a checkpoint: ``state`` split into its JSON tree and private, contiguous
    copies of its tensors (on their own device, a GPU one without waiting for the host; or on ``device``).
    :func:`encode_split` does the rest, in any thread, while training goes on.

    Args:
        state: what ``Trainer.training_state()`` returned.
        device: where the copies go; None (default): each tensor's own device.
        reuse: tensors of an earlier snapshot, no longer read by anyone, by key: a tensor of the same key, shape,
            dtype and device is copied into (no allocation, memory already mapped); others are new copies.
            None (default): all new.

    Example:
        >>> w = torch.zeros(2)
        >>> tree, tensors = snapshot_state({"w": w, "epoch": 3})
        >>> _ = w.add_(1.0)
        >>> tree, tensors["state.w"].tolist()
        ({'w': {'__tensor__': 'state.w'}, 'epoch': 3}, [0.0, 0.0])
        >>> _, again = snapshot_state({"w": w, "epoch": 4}, reuse=tensors)
        >>> again["state.w"] is tensors["state.w"], again["state.w"].tolist()
        (True, [1.0, 1.0])
    """
    live: dict[str, torch.Tensor] = {}
    tree = split_tensors(state, "state", live, torch.Tensor.detach)
    tensors: dict[str, torch.Tensor] = {}
    for key, tensor in live.items():
        target = tensor.device if device is None else torch.device(device)
        spare = reuse.get(key) if reuse is not None else None
        if spare is not None and spare.shape == tensor.shape and spare.dtype == tensor.dtype and spare.device == target:
            tensors[key] = spare.copy_(tensor)
        elif device is not None:
            tensors[key] = tensor.to(device, copy=True, memory_format=torch.contiguous_format)
        else:
            tensors[key] = tensor.clone(memory_format=torch.contiguous_format)
    return tree, tensors


def clone_tensors(tree: Any, device: torch.device | str | None = None) -> Any:
    """A copy of a nested state in which every tensor is a private, contiguous copy (safe to write from another
    thread): on its own device by default (a GPU tensor is cloned on the GPU, without waiting for a copy to the
    host), or on ``device``.

    Args:
        tree: the nested dicts and lists holding tensors.
        device: where the copies go; None (default): each tensor's own device.
    """
    if isinstance(tree, torch.Tensor):
        if device is not None:
            return tree.detach().to(device, copy=True, memory_format=torch.contiguous_format)
        return tree.detach().clone(memory_format=torch.contiguous_format)
    if isinstance(tree, dict):
        return {k: v if type(v) in _LEAVES else clone_tensors(v, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(v if type(v) in _LEAVES else clone_tensors(v, device) for v in tree)
    return tree


def join_tensors(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`.

    Args:
        tree: the JSON tree :func:`split_tensors` returned.
        tensors: the tensors it filled in, by key.
    """
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


# what a checkpoint's JSON says it is: /2 names the tensor file's CRC-32 (an older fitguard, which reads /1 only, says
# "not a fitguard checkpoint" instead of "corrupt"); /1 files name its SHA-256 and still load
_FORMAT = "fitguard-state/2"
_FORMATS_READ = frozenset({"fitguard-state/1", _FORMAT})
# the most buffers one writev call takes (POSIX guarantees at least 16; Linux takes 1024)
_IOV_MAX = max(16, os.sysconf("SC_IOV_MAX")) if hasattr(os, "sysconf") and "SC_IOV_MAX" in os.sysconf_names else 16
# the most bytes one call is given (macOS refuses a writev of more than INT_MAX bytes)
_CALL_BYTES = 1 << 30


def _write_all(handle: int, data: Sequence[Any]) -> None:
    """Write the buffers ``data`` to the file descriptor ``handle``, in order: one gathered system call for all of
    them where the OS takes them at once (no copy into a buffer, the GIL released), ``os.write`` where there is no
    ``os.writev``; a short write goes on where it stopped."""
    parts = [view.cast("B") for view in map(memoryview, data) if view.nbytes]
    while parts:
        call, size = [parts[0][:_CALL_BYTES]], min(parts[0].nbytes, _CALL_BYTES)
        if hasattr(os, "writev"):
            for part in parts[1:_IOV_MAX]:
                if size + part.nbytes > _CALL_BYTES:
                    break
                call.append(part)
                size += part.nbytes
            written = os.writev(handle, call)
        else:
            written = os.write(handle, call[0])
        if written <= 0:
            raise OSError(f"the OS took no bytes of a {size}-byte write")
        while parts and written >= parts[0].nbytes:
            written -= parts.pop(0).nbytes
        if written:  # stopped inside a part
            parts[0] = parts[0][written:]


def atomic_write_bytes(path: Path, data: bytes | Sequence[Any], fsync: bool = True) -> None:
    """Write ``data`` (bytes, or a sequence of buffers written one after another) to ``path`` through a temporary
    file renamed over it: a reader sees the old content or the new, never a part.

    Args:
        path: the file to (re)place.
        data: the content; a sequence of bytes-like buffers (e.g. numpy views of tensors) avoids joining them.
        fsync: True (default) flushes the file to the disk before the rename, and the folder after it, so the
            new content survives a power loss; False leaves that to the OS (a killed process still loses nothing,
            a crashed machine may lose the last seconds of writes).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            _write_all(handle, [data] if isinstance(data, (bytes, bytearray, memoryview)) else data)
            if fsync:
                os.fsync(handle)
        finally:
            os.close(handle)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves no part file behind
        raise
    os.replace(tmp, path)
    if fsync and hasattr(os, "O_DIRECTORY"):  # the rename itself is durable only once the folder is flushed
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


# safetensors' names for torch dtypes (its format specification); others go through safetensors' own writer
_SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


# numpy has no bfloat16: those tensors are viewed as bytes; every other fast-path dtype is viewed as it is
_NUMPY_DTYPES = frozenset(_SAFETENSORS_DTYPES) - {torch.bfloat16}


def _buffer(tensor: torch.Tensor) -> memoryview:
    """A contiguous CPU tensor's memory as a buffer (no copy), for the checksum and writing. A memoryview, not the numpy
    array: ``bytes()`` of a 0-d integer array would read it as a length."""
    if tensor.dtype in _NUMPY_DTYPES:
        return memoryview(tensor.numpy())
    return memoryview(tensor.reshape(-1).view(torch.uint8).numpy())


@functools.lru_cache(maxsize=16)
def _safetensors_header(layout: tuple[tuple[str, str, tuple[int, ...], int], ...]) -> bytes:
    """The 8-byte size and the space-padded JSON header for tensors of this ``(name, dtype, shape, nbytes)``
    layout, back to back in the order given. Cached: a checkpoint's layout is the same every epoch, and building
    the header costs more than viewing the tensors."""
    header: dict[str, Any] = {}
    offset = 0
    for name, dtype, shape, nbytes in layout:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def safetensors_parts(tensors: dict[str, torch.Tensor]) -> list[Any]:
    """The bytes of a safetensors file holding ``tensors`` (contiguous CPU tensors), as a list of buffers: the
    header, then each tensor's memory as a view (no copy). Joined, they are a file ``safetensors.torch.load``
    reads back; the layout follows the format: 8-byte little-endian header size, JSON header padded with spaces
    to a multiple of 8, the tensors' bytes back to back.

    Args:
        tensors: the tensors by name, contiguous and on the CPU.
    """
    if any(t.dtype not in _SAFETENSORS_DTYPES for t in tensors.values()):
        return [save_safetensors(tensors)]
    names = sorted(tensors)
    views = [_buffer(tensors[name]) for name in names]
    layout = tuple(
        (name, _SAFETENSORS_DTYPES[tensors[name].dtype], tuple(tensors[name].shape), view.nbytes)
        for name, view in zip(names, views)
    )
    return [_safetensors_header(layout), *views]


@dataclass(frozen=True)
class EncodedState:
    """A state ready to be written: the tensor file's buffers, their CRC-32 and the JSON file's bytes. The buffers
    are views of the tensors' memory: write them before the tensors change (a snapshot's copies never do).

    Args:
        tensor_parts: the ``.safetensors`` file's buffers.
        crc32: their CRC-32, 8 hex digits.
        meta: the ``.json`` file's bytes.
    """

    tensor_parts: list[Any]
    crc32: str
    meta: bytes


def encode_state(state: dict[str, Any]) -> EncodedState:
    """Split ``state`` into tensors and JSON, and checksum the tensor file.

    Args:
        state: the nested state, tensors included.
    """
    tensors: dict[str, torch.Tensor] = {}
    tree = split_tensors(state, "state", tensors)
    return encode_split(tree, tensors)


def encode_split(tree: Any, tensors: dict[str, torch.Tensor]) -> EncodedState:
    """The files for a state split by :func:`split_tensors` or :func:`snapshot_state` (contiguous tensors, copied
    to the host here if they are not there). The checksum releases the GIL on large buffers, so a background thread
    computes it without stalling training.

    Args:
        tree: the JSON tree.
        tensors: its tensors by key.
    """
    tensors = {k: v if v.is_cpu else v.cpu() for k, v in tensors.items()}
    parts = safetensors_parts(tensors if tensors else {"_empty": torch.zeros(0)})
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    crc32 = f"{crc:08x}"
    meta = {"format": _FORMAT, "crc32": crc32, "state": tree}
    return EncodedState(parts, crc32, json.dumps(meta, allow_nan=True).encode())


def write_encoded(path_stem: str | Path, encoded: EncodedState, fsync: bool = True) -> Path:
    """Write an :func:`encode_state` result as ``STEM.safetensors`` then ``STEM.json``; return the JSON path.

    Args:
        path_stem: the files' path without suffix.
        encoded: what :func:`encode_state` or :func:`encode_split` returned.
        fsync: flush each file to the disk before renaming it into place (default True).
    """
    stem = Path(path_stem)
    atomic_write_bytes(stem.with_suffix(".safetensors"), encoded.tensor_parts, fsync=fsync)
    json_path = stem.with_suffix(".json")
    atomic_write_bytes(json_path, encoded.meta, fsync=fsync)
    return json_path


def save_state(path_stem: str | Path, state: dict[str, Any], fsync: bool = True) -> Path:
    """Write ``state`` (nested dicts/lists of tensors and JSON values) as a checksummed pair; return the JSON path.

    Args:
        path_stem: the pair's path without suffix (``runs/x/ckpt-000005``).
        state: nested dicts and lists of tensors and JSON values.
        fsync: flush both files to the disk before renaming them (see :func:`atomic_write_bytes`).

    Example:
        >>> import tempfile, torch
        >>> folder = tempfile.mkdtemp()
        >>> path = save_state(f"{folder}/ckpt", {"w": torch.arange(3.0), "epoch": 2}, fsync=False)
        >>> load_state(path)["w"].tolist()
        [0.0, 1.0, 2.0]
    """
    return write_encoded(path_stem, encode_state(state), fsync=fsync)


def load_state(json_path: str | Path) -> dict[str, Any]:
    """Read a pair written by :func:`save_state`, verifying the checksum; raise ``FitguardError`` if corrupt.

    Args:
        json_path: the pair's ``.json`` file (its ``.safetensors`` sits beside it).
    """
    json_path = Path(json_path)
    tensor_path = json_path.with_suffix(".safetensors")
    try:
        meta = json.loads(json_path.read_text())
        blob = tensor_path.read_bytes()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FitguardError(f"checkpoint {str(json_path)!r} cannot be read: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") not in _FORMATS_READ:
        raise FitguardError(f"checkpoint {str(json_path)!r} is not a fitguard checkpoint")
    if "crc32" in meta:
        found, expected, name = f"{zlib.crc32(blob):08x}", meta["crc32"], "CRC-32"
    elif "sha256" in meta:  # written before checkpoints moved to CRC-32
        found, expected, name = hashlib.sha256(blob).hexdigest(), meta["sha256"], "SHA-256"
    else:
        raise FitguardError(f"checkpoint {str(json_path)!r} names no checksum of its tensor file (crc32 or sha256)")
    if found != expected:
        raise FitguardError(f"checkpoint {str(tensor_path)!r} is corrupt: its {name} does not match {json_path.name}")
    try:
        tensors = load_safetensors(blob)
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise FitguardError(f"checkpoint {str(tensor_path)!r} is not a valid safetensors file: "
                            f"{single_line(error)}") from None
    try:
        return join_tensors(meta["state"], tensors)
    except (KeyError, TypeError, ValueError) as error:  # a JSON that names tensors the file does not hold
        raise FitguardError(
            f"checkpoint {str(json_path)!r} does not match its tensor file ({type(error).__name__}: {error})"
        ) from None
