"""Bytes of the bad files the corpus creates: images, zips with unsafe or damaged entries, and a few CSVs.

Zips are built with the zipfile module and then patched at the byte level where a tampered archive is wanted
(declared sizes, a damaged deflate stream), so each file is exactly the attack it names.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile

from PIL import Image

_CENTRAL = b"PK\x01\x02"  # central directory entry: uncompressed size at +24, name length at +28, name at +46
_LOCAL = b"PK\x03\x04"  # local header: name length at +26, extra length at +28, name at +30


def png(height: int = 8, width: int = 8, value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def two_classes(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    return {**{f"a/{i}.png": png() for i in range(3)}, **{f"b/{i}.png": png() for i in range(3)}, **(extra or {})}


def zip_declaring_huge_sizes() -> bytes:
    """Every entry's central-directory size says ~4 GiB: together far over the default 4 GiB bound."""
    data = bytearray(zip_of(two_classes()))
    for match in re.finditer(re.escape(_CENTRAL), bytes(data)):
        struct.pack_into("<I", data, match.start() + 24, 0xFFFFFFF0)
    return bytes(data)


def zip_with_damaged_entry() -> bytes:
    """The deflate stream of ``b/zz.png`` is flipped in the middle: reading it fails inside zlib."""
    data = bytearray(zip_of(two_classes({"b/zz.png": png(32, 32, 7) * 4})))
    for match in re.finditer(re.escape(_LOCAL), bytes(data)):
        start = match.start()
        name_length, extra_length = struct.unpack_from("<HH", data, start + 26)
        if bytes(data[start + 30 : start + 30 + name_length]) == b"b/zz.png":
            body = start + 30 + name_length + extra_length
            for k in range(body + 5, body + 40):
                data[k] ^= 0xFF
    return bytes(data)


def zip_bomb() -> bytes:
    """16 MiB of zeros in one entry: a few kilobytes on disk."""
    return zip_of(two_classes({"b/bomb.png": bytes(16 << 20)}))
