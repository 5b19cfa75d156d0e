"""Hostile files: pickles that would run code are refused before any of it runs; safetensors headers that lie
are refused in one line; zips cannot name paths outside their root and cannot expand without bound.

The pickles here, if ever unpickled, create a marker file — so "refused" is checked by the marker's absence,
not only by the message.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
import torch

from fitguard.data.archives import ZipTree
from fitguard.data.image_folders import read_image_folder
from fitguard.errors import FitguardError
from fitguard.train.state_io import load_state
from fitguard.transfer.sources import read_weights

REFUSED = ("refusing to load {path}: it is a pickle holding Python objects besides tensors, which could run code on "
           "load; save a state dict (torch.save(model.state_dict(), path)) or a .safetensors file instead")


class _Payload:
    """Unpickling this calls ``os.system("touch MARKER")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_pickle(path, marker):
    torch.save({"weight": torch.zeros(2), "payload": _Payload(marker)}, path)


def _raw_pickle(path, marker):
    path.write_bytes(pickle.dumps({"weight": _Payload(marker)}, protocol=2))


def test_a_crafted_backbone_pickle_is_refused_by_the_cli_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    _torch_pickle(tmp_path / "evil.pt", marker)
    result = subprocess.run([sys.executable, "-m", "fitguard.cli", "train", "--data", "wine", "--backbone", "evil.pt",
                             "--epochs", "1", "--out", "run"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.stderr.splitlines() == ["error: " + REFUSED.format(path="evil.pt")]
    assert result.returncode == 2
    assert not marker.exists()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("write", [_torch_pickle, _raw_pickle], ids=["torch_save_zip", "raw_pickle"])
def test_read_weights_refuses_pickled_code_in_one_line(tmp_path, write):
    marker = tmp_path / "PWNED"
    write(tmp_path / "evil.pth", marker)
    with pytest.raises(FitguardError) as caught:
        read_weights(tmp_path / "evil.pth")
    assert str(caught.value) == REFUSED.format(path=tmp_path / "evil.pth")
    assert not marker.exists()


def test_a_pickle_posing_as_a_checkpoint_is_never_unpickled(tmp_path):
    """Checkpoints are JSON + safetensors: a pickle with a matching checksum is just a malformed tensor file."""
    marker = tmp_path / "PWNED"
    blob = pickle.dumps(_Payload(marker))
    (tmp_path / "ckpt.safetensors").write_bytes(blob)
    meta = {"format": "fitguard-state/2", "crc32": f"{zlib.crc32(blob):08x}", "state": {}}
    (tmp_path / "ckpt.json").write_text(json.dumps(meta))
    with pytest.raises(FitguardError, match=r"^checkpoint '.*ckpt\.safetensors' is not a valid safetensors file: "):
        load_state(tmp_path / "ckpt.json")
    assert not marker.exists()


def _safetensors(header: dict, payload: bytes, declared: int | None = None) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if declared is None else declared) + text + payload


HOSTILE = {
    "huge_declared_header": (struct.pack("<Q", 2**60) + b"{}", "header too large"),
    "overlapping_offsets": (_safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
                            "invalid offset for tensor `b`"),
    "shape_overflow": (_safetensors({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, bytes(8)),
                       "overflow computing buffer size from shape and/or element type"),
    "offsets_past_the_end": (_safetensors({"a": {"dtype": "F32", "shape": [2**20], "data_offsets": [0, 2**22]}},
                                          bytes(8)), "incomplete metadata, file not fully covered"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_safetensors_header_is_refused_as_backbone_and_as_checkpoint(tmp_path, name):
    blob, reason = HOSTILE[name]
    path = tmp_path / "backbone.safetensors"
    path.write_bytes(blob)
    with pytest.raises(FitguardError) as caught:
        read_weights(path)
    assert str(caught.value) == f"{path} is not a readable safetensors file: Error while deserializing header: {reason}"

    (tmp_path / "ckpt.safetensors").write_bytes(blob)
    meta = {"format": "fitguard-state/1", "sha256": hashlib.sha256(blob).hexdigest(), "state": {}}
    (tmp_path / "ckpt.json").write_text(json.dumps(meta))
    with pytest.raises(FitguardError) as caught:
        load_state(tmp_path / "ckpt.json")
    assert str(caught.value) == (f"checkpoint {str(tmp_path / 'ckpt.safetensors')!r} is not a valid safetensors "
                                 f"file: Error while deserializing: {reason}")


# ------------------------------------------------------------------------------------------- zips
def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("entry",
                         ["../evil.png", "a/../../evil.png", "/tmp/evil.png", "C:/evil.png", "a\\..\\evil.png"])
def test_zip_entries_that_name_paths_outside_the_root_are_refused(tmp_path, entry):
    archive = tmp_path / "inner" / "evil.zip"
    archive.parent.mkdir()
    _zip(archive, {"a/0.png": _png(), "b/0.png": _png(), entry: _png()})
    with pytest.raises(FitguardError) as caught:
        read_image_folder(archive, cache=False)
    assert str(caught.value) == (f"unsafe entry {entry!r} in {archive}: zip entries must be relative paths without "
                                 "'..'; refusing to read it")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip", "inner"]  # nothing was written anywhere


def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    _zip(archive, {"a/0.png": _png(), "b/0.png": _png(), "b/1.png": bytes(64 << 20)})  # 64 MiB of zeros
    assert archive.stat().st_size < 100_000
    inflated = []
    monkeypatch.setattr(ZipTree, "read", lambda self, name: inflated.append(name))
    with pytest.raises(FitguardError) as caught:
        read_image_folder(archive, cache=False, max_uncompressed_bytes=10 << 20)
    total = sum(info.file_size for info in zipfile.ZipFile(archive).infolist())
    assert str(caught.value) == (f"{archive} would expand to {total} bytes, more than max_uncompressed_bytes="
                                 f"{10 << 20}; refusing to read it (raise max_uncompressed_bytes if you trust this "
                                 "archive)")
    assert inflated == []


def test_a_zip_entry_whose_header_understates_its_size_is_read_no_further(tmp_path):
    """The header says 10 bytes; reading stops there and the damaged entry is refused in one line."""
    archive = tmp_path / "liar.zip"
    _zip(archive, {"a/0.png": _png(), "b/0.png": bytes(1 << 20)})
    data = bytearray(archive.read_bytes())
    for signature, size_at, name_length_at, name_at in ((b"PK\x01\x02", 24, 28, 46), (b"PK\x03\x04", 22, 26, 30)):
        start = data.find(signature)
        while start != -1:
            length = struct.unpack_from("<H", data, start + name_length_at)[0]
            if bytes(data[start + name_at : start + name_at + length]) == b"b/0.png":
                struct.pack_into("<I", data, start + size_at, 10)
            start = data.find(signature, start + 4)
    archive.write_bytes(bytes(data))
    tree = ZipTree(archive)
    with pytest.raises(FitguardError) as caught:
        tree.read("b/0.png")
    assert str(caught.value) == (f"{archive}:b/0.png is damaged (Bad CRC-32 for file 'b/0.png'); repair or re-create "
                                 "the archive")
