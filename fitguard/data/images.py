"""Image trees: find the class (and split) layout from file paths, and decode images to uint8 arrays.

Two layouts are understood, inside a folder or a zip: ``<class>/<image>`` and ``<split>/<class>/<image>`` with
split in train/val/test. A single wrapping folder (``cifar/train/...``, common in zips) is looked through.
Hidden files and macOS ``__MACOSX`` metadata are skipped; any other non-image file is an error, not silently
dropped, since a stray file in a class folder usually means a mistake in the data.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from fitguard.errors import FitguardError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
POOL = "pool"
Layout = dict[str, dict[str, list[str]]]


def find_layout(files: Sequence[str], display: str) -> Layout:
    """Group relative POSIX paths into ``{split: {class: [paths]}}``; a tree without splits has split "pool".

    Args:
        files: relative POSIX paths of the files in the tree.
        display: names the tree in messages.

    Raises:
        FitguardError: no images, a file that is not an image, or a path that fits no layout.

    Example:
        >>> find_layout(["a/1.png", "b/2.png"], "root")
        {'pool': {'a': ['a/1.png'], 'b': ['b/2.png']}}
    """
    parts = [tuple(f.split("/")) for f in files if not _skipped(f)]
    prefix: tuple[str, ...] = ()
    while parts and all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1 and parts[0][0] not in SPLITS:
        prefix += (parts[0][0],)
        parts = [p[1:] for p in parts]
    if not parts:
        raise FitguardError(f"no images found in {display}; expected <class>/<image> (.png, .jpg, .jpeg)")
    for p in parts:
        if not p[-1].lower().endswith(IMAGE_EXTENSIONS):
            path = "/".join(prefix + p)
            raise FitguardError(f"{path} in {display} is not an image; only .png, .jpg and .jpeg files may be there")
    depths = {len(p) for p in parts}
    is_split = depths == {3} and {p[0] for p in parts} <= set(SPLITS)
    if not is_split and depths != {2}:
        odd = next(p for p in parts if len(p) != 2)
        raise FitguardError(
            f"unexpected path {'/'.join(prefix + odd)!r} in {display}; "
            "expected <class>/<image> or <split>/<class>/<image> with split in train/val/test"
        )
    layout: Layout = {}
    for p in sorted(parts):
        split, cls = (p[0], p[1]) if is_split else (POOL, p[0])
        layout.setdefault(split, {}).setdefault(cls, []).append("/".join(prefix + p))
    return layout


def _skipped(path: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.split("/"))


def decode_image(data: bytes, where: str, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 (H, W, C) with C = 1 for greyscale, 3 otherwise; resized when ``image_size``.

    Args:
        data: the file's bytes.
        where: names the file in the message.
        image_size: (height, width) to resize to; None (default): as it is.

    Raises:
        FitguardError: the bytes are not a readable PNG or JPEG image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = image.convert("L" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
            if image_size is not None and image.size != (image_size[1], image_size[0]):
                image = image.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except Exception:  # Pillow raises many types for bad files (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise FitguardError(f"{where} is not a readable PNG or JPEG image; remove or replace it") from None
    return array[:, :, None] if array.ndim == 2 else array


def decode_images(
    names: Sequence[str],
    read: Callable[[str], bytes],
    where: Callable[[str], str],
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode images into one uint8 array (N, C, H, W); sizes must agree unless ``image_size`` resizes them.

    Decoding runs on a thread pool (Pillow releases the GIL while decoding); reading stays sequential.

    Args:
        names: the images to decode, in order.
        read: returns a name's bytes.
        where: names a file in messages.
        image_size: (height, width) to resize every image to; None (default): sizes must agree.
    """
    def decode(name: str) -> np.ndarray:
        return decode_image(read(name), where(name), image_size)

    if not names:
        return np.zeros((0, 1, *(image_size or (0, 0))), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(decode, names, chunksize=64))
    first = arrays[0].shape[:2]
    for name, array in zip(names, arrays):
        if array.shape[:2] != first:
            raise FitguardError(
                f"images differ in size: {where(names[0])} is {first[0]}x{first[1]} but {where(name)} is "
                f"{array.shape[0]}x{array.shape[1]} (height x width); pass image_size=(height, width) to resize all"
            )
    channels = max(a.shape[2] for a in arrays)
    # A few greyscale images among colour ones are promoted to RGB rather than refused.
    return np.stack([np.repeat(a, channels // a.shape[2], axis=2) for a in arrays]).transpose(0, 3, 1, 2).copy()
