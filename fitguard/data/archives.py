"""Read image trees from a folder or straight from a ``.zip`` (never extracted to disk), safely.

A zip is untrusted input: an entry named ``../x`` or ``/etc/x`` is refused outright (even though nothing is
written, such names mean a tampered archive), and the total uncompressed size of what will be read is bounded
(a zip bomb expands a few kilobytes into gigabytes). Each entry is read with a bounded ``read`` so a header that
lies about its size cannot expand further either.
"""

from __future__ import annotations

import re
import threading
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from fitguard.errors import FitguardError

DEFAULT_MAX_UNCOMPRESSED_BYTES = 4 * 1024**3
_DRIVE = re.compile(r"^[A-Za-z]:")


class FolderTree:
    """Files under a folder, named by their POSIX path relative to it.

    Args:
        root: the folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.display = str(root)

    def files(self) -> list[str]:
        """Every file under the folder, as sorted relative POSIX paths."""
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def where(self, name: str) -> str:
        """Names file ``name`` in messages: its full path.

        Args:
            name: a relative path from :meth:`files`.
        """
        return str(self.root / name)

    def check_size(self, names: Sequence[str], limit: int) -> None:
        """Files on disk are already expanded; nothing to guard.

        Args:
            names: the files to be read.
            limit: the most bytes they may expand to.
        """

    def read(self, name: str) -> bytes:
        """The bytes of file ``name``.

        Args:
            name: a relative path from :meth:`files`.
        """
        return (self.root / name).read_bytes()

    def close(self) -> None:
        """Nothing to release (the same interface as :class:`ZipTree`)."""


class ZipTree:
    """Files inside a zip archive; unsafe entry names are refused when it is opened.

    Args:
        path: the zip archive.

    Raises:
        FitguardError: not a readable zip archive, or an unsafe entry name.
    """

    def __init__(self, path: Path) -> None:
        self.display = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
            self._lock = threading.Lock()
        except zipfile.BadZipFile:
            raise FitguardError(f"{path} is not a readable zip archive") from None
        self._infos = {info.filename: info for info in self._zip.infolist() if not info.is_dir()}
        for name in self._infos:
            check_entry_name(name, self.display)

    def files(self) -> list[str]:
        """Every file entry of the archive, as sorted POSIX paths (folders left out)."""
        return sorted(self._infos)

    def where(self, name: str) -> str:
        """Names entry ``name`` in messages: ``ARCHIVE:NAME``.

        Args:
            name: an entry from :meth:`files`.
        """
        return f"{self.display}:{name}"

    def check_size(self, names: Sequence[str], limit: int) -> None:
        """Refuse to expand ``names`` past ``limit`` bytes (a zip bomb), by their headers' sizes.

        Args:
            names: the entries to be read.
            limit: the most bytes they may expand to.

        Raises:
            FitguardError: their declared sizes add up to more than ``limit``.
        """
        total = sum(self._infos[name].file_size for name in names)
        if total > limit:
            raise FitguardError(
                f"{self.display} would expand to {total} bytes, more than max_uncompressed_bytes={limit}; "
                "refusing to read it (raise max_uncompressed_bytes if you trust this archive)"
            )

    def read(self, name: str) -> bytes:
        """The bytes of entry ``name``, one reader at a time.

        Args:
            name: an entry from :meth:`files`.

        Raises:
            FitguardError: a damaged entry, or one holding more data than its header declares.
        """
        info = self._infos[name]
        # one reader at a time: concurrent opens on a shared ZipFile race on its file position (Python 3.12
        # then reports "Overlapped entries"); decoding, the slow part, still runs in parallel
        try:
            with self._lock, self._zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # a damaged entry: bad CRC, broken stream
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise FitguardError(f"{self.where(name)} is damaged ({reason}); repair or re-create the archive") from None
        if len(data) > info.file_size:
            raise FitguardError(f"{self.where(name)} holds more data than its header declares; refusing to read it")
        return data

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()


def check_entry_name(name: str, archive: str) -> None:
    """Refuse absolute paths, drive letters and ``..`` components in a zip entry name.

    Args:
        name: the entry's name.
        archive: names the archive in the message.

    Raises:
        FitguardError: an unsafe name.
    """
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise FitguardError(
            f"unsafe entry {name!r} in {archive}: zip entries must be relative paths without '..'; refusing to read it"
        )


def open_tree(path: Path) -> FolderTree | ZipTree:
    """The files of a folder or a zip archive, behind one interface.

    Args:
        path: a folder or a ``.zip`` archive.

    Raises:
        FitguardError: neither.
    """
    if path.is_dir():
        return FolderTree(path)
    if path.suffix.lower() == ".zip":
        return ZipTree(path)
    raise FitguardError(f"{path} is neither a folder nor a .zip archive of one")
