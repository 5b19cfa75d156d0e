"""Read an image folder, or a ``.zip`` of one, into raw uint8 arrays per split (with a decode cache for zips).

``limit_per_class`` keeps the first N images (by file name) of every class of the training pool, for
small-data experiments; it is fast without a cache (only N images per class are decoded) and, once a full
decode is cached, is taken from the cache, giving the same images either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fitguard._validation import check_int
from fitguard.data.archives import DEFAULT_MAX_UNCOMPRESSED_BYTES, open_tree
from fitguard.data.image_cache import archive_key, load_cached, save_cached
from fitguard.data.images import POOL, decode_images, find_layout
from fitguard.data.source import RawData
from fitguard.errors import FitguardError


def read_image_folder(
    path: str | Path,
    *,
    limit_per_class: int | None = None,
    test_limit_per_class: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    cache: bool = True,
) -> dict[str, RawData]:
    """Raw splits ``{"pool": ..., "val": ..., "test": ...}`` (val/test only when the tree has them).

    The pool is ``train/`` in a split layout, or the whole tree (or its only split) otherwise; labels are the
    class folder names; inputs are uint8 (N, C, H, W).

    Args:
        path: An image folder or ``.zip``: ``<class>/*`` or ``<split>/<class>/*`` (split: train/val/test).
        limit_per_class: Keep the first N (>= 1) images of each class in the pool; None (default): all.
        test_limit_per_class: The same for the val/test splits; None (default): all.
        image_size: Resize every image to this side (or (height, width)); None (default): keep the size.
        max_uncompressed_bytes: Refuse a tree whose chosen images hold more bytes than this, >= 1. Default 4 GiB.
        cache: Keep a decoded zip (read without limits) in fitguard's image cache and read it back from there.
            Default True.

    Raises:
        ValueError: a limit or size out of range.
        FileNotFoundError: no such folder or zip.
        FitguardError: a tree without a usable layout, or too large.

    Example:
        >>> raw = read_image_folder("cifar10-test.zip", limit_per_class=2)  # doctest: +SKIP
        >>> raw["pool"].inputs.shape                                          # doctest: +SKIP
        (20, 3, 32, 32)
    """
    for name, value in (("limit_per_class", limit_per_class), ("test_limit_per_class", test_limit_per_class)):
        check_int(name, value, low=1, none_ok=True)
    if max_uncompressed_bytes < 1:
        raise ValueError(f"`max_uncompressed_bytes` must be >= 1, got {max_uncompressed_bytes!r}")
    size = normalize_image_size(image_size)
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"image folder or zip {path} does not exist")
    key = archive_key(path, size) if cache and path.suffix.lower() == ".zip" and path.is_file() else None
    # A cache hit skips even opening the archive: listing 50,000 zip entries alone takes seconds.
    splits = load_cached(key) if key else None
    if splits is None:
        tree = open_tree(path)
        try:
            layout = find_layout(tree.files(), tree.display)
            limits = _limits(list(layout), tree.display, limit_per_class, test_limit_per_class)
            full = key is not None and all(limit is None for limit in limits.values())
            chosen = {split: _choose(classes, None if full else limits[split]) for split, classes in layout.items()}
            tree.check_size([name for names, _ in chosen.values() for name in names], max_uncompressed_bytes)
            splits = {split: RawData(decode_images(names, tree.read, tree.where, size), labels)
                      for split, (names, labels) in chosen.items()}
        finally:
            tree.close()
        if full:
            save_cached(key, splits)
    limits = _limits(list(splits), str(path), limit_per_class, test_limit_per_class)
    pool = _pool_split(list(splits), str(path))
    splits = {split: _first_per_class(raw, limits[split]) for split, raw in splits.items()}
    return {("pool" if split == pool else split): raw for split, raw in splits.items()}


def normalize_image_size(image_size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """``image_size`` as a (height, width) pair; None stays None.

    Args:
        image_size: a side, a (height, width) pair, or None.

    Raises:
        ValueError: anything else, or a side below 1.
    """
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(f"`image_size` must be a positive int or (height, width), got {image_size!r}")
    return size  # type: ignore[return-value]


def _limits(splits: list[str], display: str, limit: int | None, test_limit: int | None) -> dict[str, int | None]:
    pool = _pool_split(splits, display)
    return {split: (limit if split == pool else test_limit) for split in splits}


def _pool_split(splits: list[str], display: str) -> str:
    if POOL in splits or "train" in splits:
        return POOL if POOL in splits else "train"
    if len(splits) == 1:
        return splits[0]
    found = ", ".join(repr(s) for s in sorted(splits))
    raise FitguardError(f"{display} has split folders {found} but no 'train' folder to train on")


def _choose(classes: dict[str, list[str]], limit: int | None) -> tuple[list[str], np.ndarray]:
    names = [name for cls in sorted(classes) for name in classes[cls][:limit]]
    labels = np.asarray([cls for cls in sorted(classes) for _ in classes[cls][:limit]])
    return names, labels


def _first_per_class(raw: RawData, limit: int | None) -> RawData:
    if limit is None:
        return raw
    index = np.concatenate([np.flatnonzero(raw.labels == cls)[:limit] for cls in np.unique(raw.labels)])
    return raw.take(np.sort(index))
