from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fitguard.data.archives import ZipTree, check_entry_name, open_tree


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png", "\\evil.png"])
def test_unsafe_entry_names_are_refused(name):
    with pytest.raises(ValueError) as error:
        check_entry_name(name, "x.zip")
    assert str(error.value) == (
        f"unsafe entry {name!r} in x.zip: zip entries must be relative paths without '..'; refusing to read it"
    )


def test_opening_a_zip_with_an_unsafe_entry_fails(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("cat/ok.png", b"x")
        handle.writestr("../escape.png", b"x")
    with pytest.raises(ValueError) as error:
        ZipTree(archive)
    assert str(error.value) == (
        f"unsafe entry '../escape.png' in {archive}: zip entries must be relative paths without '..'; "
        "refusing to read it"
    )


def test_zip_bomb_guard_counts_uncompressed_bytes(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("cat/big.png", b"\0" * 1_000_000)
    assert archive.stat().st_size < 10_000
    tree = ZipTree(archive)
    with pytest.raises(ValueError) as error:
        tree.check_size(["cat/big.png"], limit=100_000)
    assert str(error.value) == (
        f"{archive} would expand to 1000000 bytes, more than max_uncompressed_bytes=100000; "
        "refusing to read it (raise max_uncompressed_bytes if you trust this archive)"
    )
    tree.check_size(["cat/big.png"], limit=1_000_000)
    assert tree.read("cat/big.png") == b"\0" * 1_000_000


def test_not_a_zip_and_not_a_folder(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("hello")
    with pytest.raises(ValueError) as error:
        open_tree(fake)
    assert str(error.value) == f"{fake} is not a readable zip archive"
    other = tmp_path / "table.txt"
    other.write_text("x")
    with pytest.raises(ValueError) as error:
        open_tree(other)
    assert str(error.value) == f"{other} is neither a folder nor a .zip archive of one"


def test_folder_tree_lists_relative_posix_paths(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.png").write_bytes(b"1")
    tree = open_tree(tmp_path)
    assert tree.files() == ["a/1.png"]
    assert tree.read("a/1.png") == b"1"
