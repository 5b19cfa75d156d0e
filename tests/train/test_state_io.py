"""state_io writes safetensors files from the tensors' memory; safetensors' own reader is the oracle."""

from __future__ import annotations

import hashlib
import json
import zlib

import pytest
import torch
from safetensors.torch import load as load_safetensors

from fitguard.errors import FitguardError
from fitguard.train.state_io import (
    atomic_write_bytes,
    clone_tensors,
    encode_split,
    encode_state,
    load_state,
    safetensors_parts,
    save_state,
    snapshot_state,
)

TENSORS = {
    "weight": torch.randn(3, 4, generator=torch.Generator().manual_seed(0)),
    "step": torch.tensor(7.0),
    "count": torch.tensor(5, dtype=torch.int64),
    "empty": torch.zeros(0, 3),
    "mask": torch.tensor([True, False, True]),
    "half": torch.linspace(-2, 2, 5).to(torch.bfloat16),
    "double": torch.arange(4, dtype=torch.float64),
    "bytes": torch.arange(6, dtype=torch.uint8).reshape(2, 3),
    "complex": torch.tensor([1 + 2j], dtype=torch.complex64),  # not in the fast path: safetensors' own writer
}


@pytest.mark.parametrize("names", [list(TENSORS), [n for n in TENSORS if n != "complex"]])
def test_the_parts_joined_are_a_file_safetensors_reads_back_exactly(names):
    tensors = {n: TENSORS[n] for n in names}
    back = load_safetensors(b"".join(bytes(part) for part in safetensors_parts(tensors)))
    assert back.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and back[name].shape == tensor.shape, name
        assert torch.equal(back[name], tensor), name


def test_the_checksum_in_the_json_is_the_crc32_of_the_tensor_file_on_disk(tmp_path):
    state = {"model": {"w": TENSORS["weight"]}, "history": {"epochs": [{"loss": 1.5}]}, "rng": TENSORS["bytes"]}
    json_path = save_state(tmp_path / "ckpt", state, fsync=False)
    written = (tmp_path / "ckpt.safetensors").read_bytes()
    assert encode_state(state).crc32 == f"{zlib.crc32(written):08x}" == json.loads(json_path.read_text())["crc32"]
    loaded = load_state(json_path)
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and torch.equal(loaded["rng"], state["rng"])
    assert loaded["history"] == state["history"]


def test_int_keys_lists_and_leaves_round_trip(tmp_path):
    state = {"optimizer": {"state": {0: {"step": torch.tensor(3.0)}, 1: {}}, "param_groups": [{"lr": 0.1,
             "params": [0, 1], "nesterov": False, "name": None}]}, "stop_reason": "early stopping: …"}
    loaded = load_state(save_state(tmp_path / "ckpt", state, fsync=False))
    assert list(loaded["optimizer"]["state"]) == [0, 1]
    assert torch.equal(loaded["optimizer"]["state"][0]["step"], torch.tensor(3.0))
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert loaded["stop_reason"] == state["stop_reason"]


@pytest.mark.parametrize("device", [None, "cpu"])
def test_a_clone_does_not_change_when_the_original_is_trained_on(device):
    original = {"w": torch.zeros(3), "nested": [{"m": torch.ones(2)}], "t": torch.ones(2, 3).t(), "epoch": 4}
    snapshot = clone_tensors(original, device)
    original["w"].add_(1.0)
    original["nested"][0]["m"].mul_(5.0)
    assert snapshot["w"].tolist() == [0.0, 0.0, 0.0] and snapshot["nested"][0]["m"].tolist() == [1.0, 1.0]
    assert snapshot["t"].is_contiguous() and torch.equal(snapshot["t"], torch.ones(3, 2))
    assert snapshot["epoch"] == 4


def test_atomic_write_takes_buffers_and_replaces_the_file_whole(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old content that is longer")
    atomic_write_bytes(path, [b"new ", memoryview(b"content")], fsync=False)
    assert path.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_snapshot_encodes_to_the_same_files_as_the_state_it_was_taken_from_even_after_training_goes_on():
    state = {"model": {"w": torch.randn(4, 3, generator=torch.Generator().manual_seed(1))},
             "history": {"epochs": [{"loss": 0.5}]}, "step": 7}
    expected = encode_state(state)
    expected_bytes = b"".join(bytes(p) for p in expected.tensor_parts)  # its parts are views of the live tensors
    tree, tensors = snapshot_state(state)
    state["model"]["w"].mul_(2.0)
    state["history"]["epochs"].append({"loss": 0.25})
    encoded = encode_split(tree, tensors)
    assert encoded.meta == expected.meta and encoded.crc32 == expected.crc32
    assert b"".join(bytes(p) for p in encoded.tensor_parts) == expected_bytes


def test_every_fast_path_dtype_and_a_0d_tensor_round_trip_through_the_files_on_disk(tmp_path):
    # the tensor file is written from buffers over the tensors' memory: a 0-d tensor must give its 8 bytes, not be
    # read as a length; bfloat16, which numpy lacks, goes as raw bytes
    tensors = {name: tensor for name, tensor in TENSORS.items() if name != "complex"}
    for _ in range(2):  # the second save reuses the header built for the first (same layout)
        loaded = load_state(save_state(tmp_path / "ckpt", {"tensors": tensors}, fsync=False))["tensors"]
        for name, tensor in tensors.items():
            assert loaded[name].dtype == tensor.dtype and loaded[name].shape == tensor.shape, name
            assert torch.equal(loaded[name], tensor), name
    written = (tmp_path / "ckpt.safetensors").read_bytes()
    header_size = int.from_bytes(written[:8], "little")
    assert len(written) == 8 + header_size + sum(t.numel() * t.element_size() for t in tensors.values())


def test_a_pair_written_with_a_sha256_still_loads_and_is_refused_when_damaged_or_without_a_checksum(tmp_path):
    # checkpoints written before the move to CRC-32 name the SHA-256 of their tensor file
    json_path = save_state(tmp_path / "ckpt", {"w": TENSORS["weight"], "epoch": 2}, fsync=False)
    blob = (tmp_path / "ckpt.safetensors").read_bytes()
    meta = json.loads(json_path.read_text())
    del meta["crc32"]
    assert meta["format"] == "fitguard-state/2"
    json_path.write_text(json.dumps({**meta, "format": "fitguard-state/1", "sha256": hashlib.sha256(blob).hexdigest()}))
    loaded = load_state(json_path)
    assert torch.equal(loaded["w"], TENSORS["weight"]) and loaded["epoch"] == 2
    (tmp_path / "ckpt.safetensors").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(FitguardError) as caught:
        load_state(json_path)
    assert str(caught.value) == (f"checkpoint {str(tmp_path / 'ckpt.safetensors')!r} is corrupt: its SHA-256 does "
                                 "not match ckpt.json")
    json_path.write_text(json.dumps(meta))
    with pytest.raises(FitguardError) as caught:
        load_state(json_path)
    assert str(caught.value) == (f"checkpoint {str(json_path)!r} names no checksum of its tensor file (crc32 or "
                                 "sha256)")


@pytest.mark.parametrize("gathered", [True, False])
def test_an_atomic_write_goes_on_after_short_writes_and_skips_empty_buffers(tmp_path, monkeypatch, gathered):
    # the OS may take fewer bytes than offered: every buffer still lands whole and in order
    import os

    writev, write = os.writev, os.write
    if gathered:
        monkeypatch.setattr(os, "writev", lambda fd, buffers: writev(fd, [bytes(b)[:5] for b in buffers[:1]]))
    else:
        monkeypatch.delattr(os, "writev")
        monkeypatch.setattr(os, "write", lambda fd, buffer: write(fd, bytes(buffer)[:3]))
    parts = [b"header", torch.arange(7, dtype=torch.int16).numpy(), b"", torch.zeros(0).numpy(), bytearray(b"end")]
    atomic_write_bytes(tmp_path / "file", parts, fsync=False)
    assert (tmp_path / "file").read_bytes() == b"".join(bytes(memoryview(p)) for p in parts)


def test_an_atomic_write_gives_each_call_at_most_its_byte_cap_and_refuses_a_write_that_takes_nothing(tmp_path,
                                                                                                   monkeypatch):
    import os

    import fitguard.train.state_io as state_io

    writev, calls = os.writev, []

    def recording(fd, buffers):
        calls.append(sum(memoryview(b).nbytes for b in buffers))
        return writev(fd, buffers)

    monkeypatch.setattr(state_io, "_CALL_BYTES", 4)  # a gigabyte in real use
    monkeypatch.setattr(os, "writev", recording)
    parts = [b"ab", b"cdefghij", torch.arange(3, dtype=torch.int32).numpy(), b"k"]
    atomic_write_bytes(tmp_path / "file", parts, fsync=False)
    assert (tmp_path / "file").read_bytes() == b"".join(bytes(memoryview(p)) for p in parts)
    assert max(calls) <= 4 and sum(calls) == 23
    monkeypatch.setattr(os, "writev", lambda fd, buffers: 0)
    with pytest.raises(OSError, match=r"^the OS took no bytes of a 2-byte write$"):
        atomic_write_bytes(tmp_path / "other", parts, fsync=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no part file left
