"""Cache of decoded image archives as ``.npy`` files, so 50,000 JPEGs are decoded once, not on every run.

The key is the archive's absolute path, size and modification time (plus the resize option), so a changed or
replaced archive is decoded again. Entries are written to a temporary folder and renamed into place, so a
killed run never leaves a half-written cache behind. Arrays load with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from fitguard.data.source import RawData

CACHE_VERSION = 1


def cache_root() -> Path:
    """``$FITGUARD_CACHE`` if set, else ``~/.cache/fitguard``."""
    return Path(os.environ.get("FITGUARD_CACHE") or Path.home() / ".cache" / "fitguard")


def archive_key(path: Path, image_size: tuple[int, int] | None) -> str:
    """The cache key of ``path`` read at ``image_size``: it changes with the file, its size, time or the cache format.

    Args:
        path: the image archive or folder.
        image_size: the size images are resized to; None: not resized.
    """
    stat = path.stat()
    fields = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, image_size, CACHE_VERSION]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:24]


def load_cached(key: str) -> dict[str, RawData] | None:
    """The decoded splits cached under ``key``; None when nothing is cached.

    Args:
        key: what :func:`archive_key` returned.
    """
    folder = cache_root() / f"images-{key}"
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        return None
    splits = json.loads(meta_file.read_text())["splits"]
    return {
        split: RawData(
            np.load(folder / f"{split}-inputs.npy", allow_pickle=False),
            np.load(folder / f"{split}-labels.npy", allow_pickle=False),
        )
        for split in splits
    }


def save_cached(key: str, splits: dict[str, RawData]) -> None:
    """Cache decoded ``splits`` under ``key`` (a key already cached is left as it is).

    Args:
        key: what :func:`archive_key` returned.
        splits: split name -> its decoded images and labels.
    """
    root = cache_root()
    folder = root / f"images-{key}"
    if folder.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".images-{key}-", dir=root))
    try:
        for split, raw in splits.items():
            np.save(temporary / f"{split}-inputs.npy", raw.inputs, allow_pickle=False)
            np.save(temporary / f"{split}-labels.npy", raw.labels, allow_pickle=False)
        (temporary / "meta.json").write_text(json.dumps({"splits": sorted(splits), "version": CACHE_VERSION}))
        os.replace(temporary, folder)
    except OSError:
        # Another process may have written the same entry meanwhile; the cache is an optimisation only.
        shutil.rmtree(temporary, ignore_errors=True)
